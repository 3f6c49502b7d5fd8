// The topk pass of topk_impl.h for AArch64 Advanced SIMD (baseline on every
// aarch64 CPU; called only when active_isa() allows neon).
#include "vecmath_neon.h"
#include "topk_impl.h"

namespace aiayn {

void f32_topk__neon(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                    int32_t* indices) {
  Topk<VecNeon>::rows(x, rows, N, k, log_softmax, values, indices, f32_log_softmax_stats__neon);
}

}  // namespace aiayn
