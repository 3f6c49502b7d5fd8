// The topk pass of topk_impl.h for AVX-512 (built with -mavx512f/bw/dq/vl -mavx2 -mfma; called only
// when active_isa() allows avx512).
#include "vecmath_avx512.h"
#include "topk_impl.h"

namespace aiayn {

void f32_topk__avx512(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                    int32_t* indices) {
  Topk<VecAvx512>::rows(x, rows, N, k, log_softmax, values, indices, f32_log_softmax_stats__avx512);
}

}  // namespace aiayn
