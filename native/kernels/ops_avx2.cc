// The ops of ops_impl.h for AVX2 + FMA (built with -mavx2 -mfma -mf16c; called
// only when active_isa() allows avx2).
#include "vecmath_avx2.h"
#include "ops_impl.h"

namespace aiayn {

using OpsAvx2 = Ops<VecAvx2>;

void f32_layernorm__avx2(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                         int64_t rows, int64_t D, float* y) {
  OpsAvx2::layernorm(x, residual, gamma, beta, eps, rows, D, y);
}
void f32_rmsnorm__avx2(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
                       int64_t D, float* y) {
  OpsAvx2::rmsnorm(x, residual, gamma, eps, rows, D, y);
}
void f32_glu__avx2(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
  OpsAvx2::glu(x, rows, F, act, y);
}
void f32_softmax__avx2(const float* x, int64_t rows, int64_t N, float* y) { OpsAvx2::softmax(x, rows, N, y); }
void f32_log_softmax_stats__avx2(const float* x, int64_t N, float* max, float* lse) {
  OpsAvx2::log_softmax_stats(x, N, max, lse);
}
void f32_log_softmax__avx2(const float* x, int64_t rows, int64_t N, float* y) {
  OpsAvx2::log_softmax(x, rows, N, y, f32_log_softmax_stats__avx2);
}
void f32_argmax__avx2(const float* x, int64_t rows, int64_t N, int32_t* out) { OpsAvx2::argmax(x, rows, N, out); }
void f32_embedding__avx2(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const float* table, int64_t D,
                         float scale, const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
                         const int32_t* pos_ids, float* y) {
  OpsAvx2::embedding(ids, r0, r1, T, table, D, scale, positions, pos_offset, pos_offsets, pos_ids, y);
}

}  // namespace aiayn
