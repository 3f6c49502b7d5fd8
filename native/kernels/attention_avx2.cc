// The attention kernels of attention_impl.h for AVX2 + FMA (built with -mavx2
// -mfma -mf16c; called only when active_isa() allows avx2). Tiles for 16
// registers: prefill blocks of 32 query rows, a 3-key x 32-query Q K^T tile
// (12 accumulators), a 4-query x 24-column P V tile (12 accumulators); decode
// leaves prefetching to the hardware.
#include "vecmath_avx2.h"
#include "attention_impl.h"

namespace aiayn {

using AttentionAvx2 = Attention<VecAvx2, static_cast<int>(kAttnQBlockAvx2), 3, 3, false>;

size_t f32_attention_prefill_scratch__avx2(const AttentionArgs& a) { return AttentionAvx2::prefill_scratch(a); }
size_t f32_attention_decode_scratch__avx2(int64_t Dh) { return AttentionAvx2::decode_scratch(Dh); }
void f32_attention_prefill__avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1,
                                 float* scratch) {
  AttentionAvx2::prefill(a, b, h, i0, i1, scratch);
}
void f32_attention_decode__avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t j1,
                                float* acc, float* ml, float* scratch) {
  AttentionAvx2::decode(a, b, h, i, j0, j1, acc, ml, scratch);
}

}  // namespace aiayn
