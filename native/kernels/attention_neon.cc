// The attention kernels of attention_impl.h for AArch64 Advanced SIMD
// (baseline on every aarch64 CPU; called only when active_isa() allows neon).
// Tiles for 32 registers of 4 lanes: prefill blocks of 16 query rows, a 4-key
// x 16-query Q K^T tile (16 accumulators + 4 query vectors + a broadcast), a
// 4-query x 16-column P V tile (16 accumulators); decode prefetches the next
// kv block.
#include "vecmath_neon.h"
#include "attention_impl.h"

namespace aiayn {

using AttentionNeon = Attention<VecNeon, static_cast<int>(kAttnQBlockNeon), 4, 4, true>;

size_t f32_attention_prefill_scratch__neon(const AttentionArgs& a) { return AttentionNeon::prefill_scratch(a); }
size_t f32_attention_decode_scratch__neon(int64_t Dh) { return AttentionNeon::decode_scratch(Dh); }
void f32_attention_prefill__neon(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1,
                                 float* scratch) {
  AttentionNeon::prefill(a, b, h, i0, i1, scratch);
}
void f32_attention_decode__neon(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t j1,
                                float* acc, float* ml, float* scratch) {
  AttentionNeon::decode(a, b, h, i, j0, j1, acc, ml, scratch);
}

}  // namespace aiayn
