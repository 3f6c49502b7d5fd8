// The topk pass of topk_impl.h for AVX2 (built with -mavx2 -mfma -mf16c; called only
// when active_isa() allows avx2).
#include "vecmath_avx2.h"
#include "topk_impl.h"

namespace aiayn {

void f32_topk__avx2(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                    int32_t* indices) {
  Topk<VecAvx2>::rows(x, rows, N, k, log_softmax, values, indices, f32_log_softmax_stats__avx2);
}

}  // namespace aiayn
