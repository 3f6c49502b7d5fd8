// The attention kernels of attention_impl.h for AVX-512 (built with
// -mavx512f/bw/dq/vl -mfma; called only when active_isa() allows avx512).
// Tiles for 32 registers: prefill blocks of 64 query rows, a 4-key x
// 64-query Q K^T tile (16 accumulators), a 4-query x 64-column P V tile (16
// accumulators); decode prefetches the next kv block.
#include "vecmath_avx512.h"
#include "attention_impl.h"

namespace aiayn {

using AttentionAvx512 = Attention<VecAvx512, static_cast<int>(kAttnQBlockAvx512), 4, 4, true>;

size_t f32_attention_prefill_scratch__avx512(const AttentionArgs& a) { return AttentionAvx512::prefill_scratch(a); }
size_t f32_attention_decode_scratch__avx512(int64_t Dh) { return AttentionAvx512::decode_scratch(Dh); }
void f32_attention_prefill__avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1,
                                   float* scratch) {
  AttentionAvx512::prefill(a, b, h, i0, i1, scratch);
}
void f32_attention_decode__avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t j1,
                                  float* acc, float* ml, float* scratch) {
  AttentionAvx512::decode(a, b, h, i, j0, j1, acc, ml, scratch);
}

}  // namespace aiayn
