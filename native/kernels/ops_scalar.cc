// Scalar reference kernels for ops.h (baseline flags, no intrinsics).
//
// Layout: rows are contiguous fp32 rows of length D (or N). Plain loops with
// fp32 accumulation (two-level: partial sums of kBlock terms, then their sum),
// in the same pass structure as the SIMD kernels:
//  - layernorm: z = x + residual is written to y first (elementwise, so y may
//    alias x or residual), then mean = sum(z)/D, var = sum((z-mean)^2)/D (two
//    passes: no cancellation), y = (z-mean) * (1/sqrt(var+eps)) * gamma + beta.
//  - rmsnorm: z as layernorm's, then ss = sum(z^2), y = z * (1/sqrt(ss/D + eps))
//    * gamma.
//  - glu: y = activate_scalar(a) * b per element (activation.h).
//  - softmax: max, then e = exp(x-max) stored in y and summed, then y *= 1/sum.
//  - log_softmax: y = (x - max) - log(sum exp(x-max)).
// A two-level sum has a worst-case relative error of (kBlock + n/kBlock)*2^-24
// instead of n*2^-24 for a plain running sum. exp/log come from libm (< 1 ulp).
// Measured against a double-precision reference (rows 1..65, N/D 1..32000):
// layernorm <= 6 * 2^-24 * (max|z| * rstd * |gamma| + |y|) (the rounding of the
// fp32 mean); softmax <= 13 ulp against exp of the fp32-rounded x - max (that
// rounding, as in PyTorch, adds up to |x - max| * 2^-24 relative); log_softmax
// <= 7 ulp of max(1, |y|); argmax exact; embedding rounds e*scale and + p
// separately (<= 1 ulp of |e*scale| + |p|).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops_kernels.h"
#include "quant.h"

namespace aiayn {
namespace {

constexpr int64_t kBlock = 128;

// sum of term(i) for i in [0, n), each term evaluated once, in order.
template <typename F>
float blocked_sum(int64_t n, const F& term) {
  float total = 0.0f;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t end = std::min(n, b + kBlock);
    float partial = 0.0f;
    for (int64_t i = b; i < end; ++i) partial += term(i);
    total += partial;
  }
  return total;
}

}  // namespace

void f32_layernorm__scalar(const float* x, const float* residual, const float* gamma,
                           const float* beta, float eps, int64_t rows, int64_t D, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const float* z = xr;
    if (residual) {
      const float* rr = residual + r * D;
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] + rr[i];
      z = yr;
    }
    const float mean = blocked_sum(D, [&](int64_t i) { return z[i]; }) / static_cast<float>(D);
    const float ss = blocked_sum(D, [&](int64_t i) {
      const float d = z[i] - mean;
      return d * d;
    });
    const float rstd = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);
    for (int64_t i = 0; i < D; ++i) yr[i] = (z[i] - mean) * rstd * gamma[i] + beta[i];
  }
}

void f32_rmsnorm__scalar(const float* x, const float* residual, const float* gamma, float eps,
                         int64_t rows, int64_t D, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const float* z = xr;
    if (residual) {
      const float* rr = residual + r * D;
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] + rr[i];
      z = yr;
    }
    const float ss = blocked_sum(D, [&](int64_t i) { return z[i] * z[i]; });
    const float rstd = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);
    for (int64_t i = 0; i < D; ++i) yr[i] = z[i] * rstd * gamma[i];
  }
}

void f32_glu__scalar(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = x + r * 2 * F;
    const float* g = a + F;
    float* yr = y + r * F;
    for (int64_t i = 0; i < F; ++i) yr[i] = activate_scalar(a[i], act) * g[i];
  }
}

void f32_softmax__scalar(const float* x, int64_t rows, int64_t N, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    float* yr = y + r * N;
    float mx = -INFINITY;
    for (int64_t i = 0; i < N; ++i) mx = xr[i] > mx ? xr[i] : mx;
    if (mx == -INFINITY) {  // every entry masked: zeros, not (-inf) - (-inf) = NaN
      for (int64_t i = 0; i < N; ++i) yr[i] = 0.0f;
      continue;
    }
    const float sum = blocked_sum(N, [&](int64_t i) { return yr[i] = std::exp(xr[i] - mx); });
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < N; ++i) yr[i] *= inv;
  }
}

void f32_log_softmax_stats__scalar(const float* xr, int64_t N, float* max, float* lse) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < N; ++i) mx = xr[i] > mx ? xr[i] : mx;
  *max = mx;
  if (mx == -INFINITY) return;
  *lse = std::log(blocked_sum(N, [&](int64_t i) { return std::exp(xr[i] - mx); }));
}

void f32_log_softmax__scalar(const float* x, int64_t rows, int64_t N, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    float* yr = y + r * N;
    float mx, lse;
    f32_log_softmax_stats__scalar(xr, N, &mx, &lse);
    if (mx == -INFINITY) {
      for (int64_t i = 0; i < N; ++i) yr[i] = -INFINITY;
      continue;
    }
    for (int64_t i = 0; i < N; ++i) yr[i] = (xr[i] - mx) - lse;
  }
}

void f32_argmax__scalar(const float* x, int64_t rows, int64_t N, int32_t* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    int64_t best = 0;
    float best_v = xr[0];
    for (int64_t i = 0; i < N; ++i) {
      const float v = xr[i];
      if (std::isnan(v)) {  // the first NaN wins outright
        best = i;
        break;
      }
      if (v > best_v) {  // strict: the first of equal maxima stays
        best_v = v;
        best = i;
      }
    }
    out[r] = static_cast<int32_t>(best);
  }
}

void f32_embedding__scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T,
                           const float* table, int64_t D, float scale, const float* positions,
                           int64_t pos_offset, const int32_t* pos_offsets,
                           const int32_t* pos_ids, float* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* e = table + static_cast<int64_t>(ids[r]) * D;
    float* yr = y + r * D;
    const float* p = embedding_position_row(positions, pos_offset, pos_offsets, pos_ids, r, T, D);
    if (p) {
      for (int64_t i = 0; i < D; ++i) yr[i] = e[i] * scale + p[i];
    } else {
      for (int64_t i = 0; i < D; ++i) yr[i] = e[i] * scale;
    }
  }
}

namespace {

// Rows of a bf16 or int8 table (ops.h EmbeddingTable): value(v, i) rounded to
// fp32, then * scale, then + the position row, as the fp32 kernels round.
template <typename Value>
void table_rows(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, int64_t D, float scale,
                const float* positions, int64_t pos_offset, const int32_t* pos_offsets, const int32_t* pos_ids,
                float* y, const Value& value) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t v = ids[r];
    float* yr = y + r * D;
    const float* p = embedding_position_row(positions, pos_offset, pos_offsets, pos_ids, r, T, D);
    for (int64_t i = 0; i < D; ++i) {
      const float e = value(v, i) * scale;
      yr[i] = p ? e + p[i] : e;
    }
  }
}

}  // namespace

void bf16_embedding__scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const EmbeddingTable& table,
                            int64_t D, float scale, const float* positions, int64_t pos_offset,
                            const int32_t* pos_offsets, const int32_t* pos_ids, float* y) {
  const auto* bits = static_cast<const uint16_t*>(table.data);
  table_rows(ids, r0, r1, T, D, scale, positions, pos_offset, pos_offsets, pos_ids, y,
             [&](int64_t v, int64_t i) { return bf16_f32(bits[v * D + i]); });
}

void qc8_embedding__scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const EmbeddingTable& table,
                           int64_t D, float scale, const float* positions, int64_t pos_offset,
                           const int32_t* pos_offsets, const int32_t* pos_ids, float* y) {
  const auto* q = static_cast<const int8_t*>(table.data);
  table_rows(ids, r0, r1, T, D, scale, positions, pos_offset, pos_offsets, pos_ids, y,
             [&](int64_t v, int64_t i) { return static_cast<float>(q[v * D + i]) * table.row_scale[v]; });
}

}  // namespace aiayn
