// The ops of ops_impl.h for AArch64 Advanced SIMD (baseline on every aarch64
// CPU; called only when active_isa() allows neon).
#include "vecmath_neon.h"
#include "ops_impl.h"

namespace aiayn {

using OpsNeon = Ops<VecNeon>;

void f32_layernorm__neon(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                         int64_t rows, int64_t D, float* y) {
  OpsNeon::layernorm(x, residual, gamma, beta, eps, rows, D, y);
}
void f32_rmsnorm__neon(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
                       int64_t D, float* y) {
  OpsNeon::rmsnorm(x, residual, gamma, eps, rows, D, y);
}
void f32_glu__neon(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
  OpsNeon::glu(x, rows, F, act, y);
}
void f32_softmax__neon(const float* x, int64_t rows, int64_t N, float* y) { OpsNeon::softmax(x, rows, N, y); }
void f32_log_softmax_stats__neon(const float* x, int64_t N, float* max, float* lse) {
  OpsNeon::log_softmax_stats(x, N, max, lse);
}
void f32_log_softmax__neon(const float* x, int64_t rows, int64_t N, float* y) {
  OpsNeon::log_softmax(x, rows, N, y, f32_log_softmax_stats__neon);
}
void f32_argmax__neon(const float* x, int64_t rows, int64_t N, int32_t* out) { OpsNeon::argmax(x, rows, N, out); }
void f32_embedding__neon(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const float* table, int64_t D,
                         float scale, const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
                         const int32_t* pos_ids, float* y) {
  OpsNeon::embedding(ids, r0, r1, T, table, D, scale, positions, pos_offset, pos_offsets, pos_ids, y);
}

}  // namespace aiayn
