// Scalar reference GEMM block (gemm_kernels.h), baseline flags.
//
// Layout: weights packed as [ceil(N/8)][K][8] (zero-padded in N). For each row
// of x and each panel, 8 fp32 accumulators run over the depth in order, so a
// result differs from a sequential dot product only when the depth is split
// into blocks (then by one rounding per block). The 8-wide inner loop has
// independent lanes, so the compiler may vectorise it without reassociating.
#include <cmath>

#include "gemm_kernels.h"

namespace aiayn {
void linear_block_scalar(const GemmBlock& blk) {
  constexpr int64_t nr = kNrScalar;
  for (int64_t i = 0; i < blk.m; ++i) {
    const float* x = blk.x + i * blk.ldx;
    float* y = blk.y + i * blk.ldy;
    for (int64_t n0 = 0; n0 < blk.n; n0 += nr) {
      const float* b = blk.b + (n0 / nr) * blk.panel_stride;
      const int64_t cols = blk.n - n0 < nr ? blk.n - n0 : nr;
      float acc[nr] = {};
      for (int64_t k = 0; k < blk.kc; ++k) {
        for (int64_t j = 0; j < nr; ++j) acc[j] += x[k] * b[k * nr + j];
      }
      for (int64_t j = 0; j < cols; ++j) {
        float v = acc[j];
        if (blk.accumulate) v += y[n0 + j];
        if (blk.finish) {
          if (blk.bias) v += blk.bias[n0 + j];
          v = activate_scalar(v, blk.act);
          if (blk.residual) v += blk.residual[(y - blk.y) + n0 + j];
        }
        y[n0 + j] = v;
      }
    }
  }
}

}  // namespace aiayn
