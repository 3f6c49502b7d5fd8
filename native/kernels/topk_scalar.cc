// Scalar topk kernel (topk_kernels.h), baseline flags: the readable form of
// the pass the SIMD kernels vectorise. Each candidate value (x, or
// (x - max) - lse with log_softmax, the statistics from log_softmax's own
// scalar routine) is keyed and offered to the heap only when its key beats
// the current threshold.
#include <cmath>
#include <cstdint>

#include "ops_kernels.h"
#include "topk_kernels.h"

namespace aiayn {

void f32_topk__scalar(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                      int32_t* indices) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    TopkRow row{values + r * k, indices + r * k, k};
    float mx = 0.0f, lse = 0.0f;
    if (log_softmax) {
      f32_log_softmax_stats__scalar(xr, N, &mx, &lse);
      if (mx == -INFINITY) {
        topk_all_neg_inf(row);
        continue;
      }
    }
    int32_t threshold = kTopkAcceptAll;
    for (int64_t i = 0; i < N; ++i) {
      const float v = log_softmax ? (xr[i] - mx) - lse : xr[i];
      if (topk_key(v) > threshold) threshold = topk_offer(row, v, static_cast<int32_t>(i));
    }
    topk_finish(row);
  }
}

}  // namespace aiayn
