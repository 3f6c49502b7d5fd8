// AVX2 kernels for ops.h (built with -mavx2 -mfma -mf16c; called only when
// active_isa() is avx2).
//
// Layout: contiguous fp32 rows of length D (or N), any length >= 1; the last
// partial vector of a row is handled with maskload/maskstore, never a scalar
// loop. Every pass is elementwise in place, so y may alias x (or residual).
// Accumulation is fp32 in 2-4 vector accumulators of 8 lanes (shorter
// chains than a running sum). Measured against a double-precision reference
// (rows 1..65, N/D 1..32000):
//  - layernorm: <= 2.2 * 2^-24 * (max|z| * rstd * |gamma| + |y|), i.e. the
//    rounding of the fp32 mean; the variance is two-pass, so no cancellation.
//  - rmsnorm: z (+ residual, stored first) in one pass with sum(z^2), then
//    y = z * rstd * gamma; error <= a few 2^-24 * |y| (the fp32 sum of squares).
//  - glu: y = activate_ps(a) * b (vecmath_avx2.h), vector by vector.
//  - softmax: <= 37 ulp at N=32000, <= 5.5 ulp at N <= 1000, against
//    exp of the fp32-rounded x - max (that rounding itself, as in PyTorch, adds
//    up to |x - max| * 2^-24 relative); error is dominated by the fp32 sum.
//  - log_softmax: <= 18 ulp of max(1, |y|); argmax exact; embedding rounds
//    e*scale + p once (fma).
#include <immintrin.h>

#include <cstdint>

#include "ops_kernels.h"
#include "vecmath_avx2.h"

namespace aiayn {
namespace {

constexpr int64_t kW = 8;  // floats per vector

// 8 ints read from kMaskTable + 8 - n: n (1..7) all-ones lanes, then zeros.
alignas(64) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tail_mask(int64_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
}

// Masked-off lanes read as -inf instead of 0.
inline __m256 load_tail_ninf(const float* p, __m256i m) {
  return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), _mm256_maskload_ps(p, m),
                          _mm256_castsi256_ps(m));
}

// y = a + b (elementwise); returns the sum of y.
float add_store_sum(const float* a, const float* b, float* y, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    const __m256 z0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 z1 = _mm256_add_ps(_mm256_loadu_ps(a + i + kW), _mm256_loadu_ps(b + i + kW));
    const __m256 z2 =
        _mm256_add_ps(_mm256_loadu_ps(a + i + 2 * kW), _mm256_loadu_ps(b + i + 2 * kW));
    const __m256 z3 =
        _mm256_add_ps(_mm256_loadu_ps(a + i + 3 * kW), _mm256_loadu_ps(b + i + 3 * kW));
    _mm256_storeu_ps(y + i, z0);
    _mm256_storeu_ps(y + i + kW, z1);
    _mm256_storeu_ps(y + i + 2 * kW, z2);
    _mm256_storeu_ps(y + i + 3 * kW, z3);
    s0 = _mm256_add_ps(s0, z0);
    s1 = _mm256_add_ps(s1, z1);
    s2 = _mm256_add_ps(s2, z2);
    s3 = _mm256_add_ps(s3, z3);
  }
  for (; i + kW <= n; i += kW) {
    const __m256 z = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(y + i, z);
    s0 = _mm256_add_ps(s0, z);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 z = _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(y + i, m, z);
    s1 = _mm256_add_ps(s1, z);
  }
  return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float sum(const float* p, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + kW));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 2 * kW));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 3 * kW));
  }
  for (; i + kW <= n; i += kW) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
  if (i < n) s1 = _mm256_add_ps(s1, _mm256_maskload_ps(p + i, tail_mask(n - i)));
  return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

// sum((p - mean)^2); masked-off tail lanes contribute 0, not mean^2.
float centered_sumsq(const float* p, float mean, int64_t n) {
  const __m256 mv = _mm256_set1_ps(mean);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), mv);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(p + i + kW), mv);
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 2 * kW), mv);
    const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 3 * kW), mv);
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
    s2 = _mm256_fmadd_ps(d2, d2, s2);
    s3 = _mm256_fmadd_ps(d3, d3, s3);
  }
  for (; i + kW <= n; i += kW) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(p + i), mv);
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(p + i, m), mv),
                                   _mm256_castsi256_ps(m));
    s1 = _mm256_fmadd_ps(d, d, s1);
  }
  return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

// sum(p^2); with b, p = a + b is first stored to y (elementwise, so y may
// alias a or b). Masked-off tail lanes contribute 0.
float sumsq(const float* a, const float* b, float* y, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  auto load = [&](int64_t i) {
    __m256 z = _mm256_loadu_ps(a + i);
    if (b) {
      z = _mm256_add_ps(z, _mm256_loadu_ps(b + i));
      _mm256_storeu_ps(y + i, z);
    }
    return z;
  };
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    const __m256 z0 = load(i), z1 = load(i + kW), z2 = load(i + 2 * kW), z3 = load(i + 3 * kW);
    s0 = _mm256_fmadd_ps(z0, z0, s0);
    s1 = _mm256_fmadd_ps(z1, z1, s1);
    s2 = _mm256_fmadd_ps(z2, z2, s2);
    s3 = _mm256_fmadd_ps(z3, z3, s3);
  }
  for (; i + kW <= n; i += kW) {
    const __m256 z = load(i);
    s0 = _mm256_fmadd_ps(z, z, s0);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    __m256 z = _mm256_maskload_ps(a + i, m);
    if (b) {
      z = _mm256_add_ps(z, _mm256_maskload_ps(b + i, m));
      _mm256_maskstore_ps(y + i, m, z);
    }
    s1 = _mm256_fmadd_ps(z, z, s1);
  }
  return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float row_max(const float* p, int64_t n) {
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(p + i + kW));
    m2 = _mm256_max_ps(m2, _mm256_loadu_ps(p + i + 2 * kW));
    m3 = _mm256_max_ps(m3, _mm256_loadu_ps(p + i + 3 * kW));
  }
  for (; i + kW <= n; i += kW) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + i));
  if (i < n) m1 = _mm256_max_ps(m1, load_tail_ninf(p + i, tail_mask(n - i)));
  return hmax_ps(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
}

void fill(float* p, float v, int64_t n) {
  const __m256 vv = _mm256_set1_ps(v);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) _mm256_storeu_ps(p + i, vv);
  if (i < n) _mm256_maskstore_ps(p + i, tail_mask(n - i), vv);
}

// The position row added to token row r of embedding_rows, or null for none.
const float* position_row(const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
                          const int32_t* pos_ids, int64_t r, int64_t T, int64_t D) {
  if (positions == nullptr) return nullptr;
  if (pos_ids != nullptr) {
    return pos_ids[r] < 0 ? nullptr : positions + static_cast<int64_t>(pos_ids[r]) * D;
  }
  const int64_t off = pos_offsets ? pos_offsets[r / T] : pos_offset;
  return positions + (off + r % T) * D;
}

}  // namespace

void layernorm_rows_avx2(const float* x, const float* residual, const float* gamma,
                         const float* beta, float eps, int64_t rows, int64_t D, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = x + r * D;
    float* yr = y + r * D;
    float s;
    if (residual) {  // z goes to y (elementwise, so y may alias x or residual)
      s = add_store_sum(z, residual + r * D, yr, D);
      z = yr;
    } else {
      s = sum(z, D);
    }
    const float mean = s / static_cast<float>(D);
    // Second pass over the (L1-resident) row: no E[z^2] - mean^2 cancellation.
    const float var = centered_sumsq(z, mean, D) / static_cast<float>(D);
    const __m256 mv = _mm256_set1_ps(mean);
    const __m256 rstd = _mm256_set1_ps(1.0f / __builtin_sqrtf(var + eps));
    int64_t i = 0;
    for (; i + kW <= D; i += kW) {
      const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(z + i), mv), rstd);
      _mm256_storeu_ps(yr + i,
                       _mm256_fmadd_ps(t, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
    }
    if (i < D) {
      const __m256i m = tail_mask(D - i);
      const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(z + i, m), mv), rstd);
      _mm256_maskstore_ps(
          yr + i, m,
          _mm256_fmadd_ps(t, _mm256_maskload_ps(gamma + i, m), _mm256_maskload_ps(beta + i, m)));
    }
  }
}

void rmsnorm_rows_avx2(const float* x, const float* residual, const float* gamma, float eps,
                       int64_t rows, int64_t D, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * D;
    // With a residual, z = x + residual goes to y first (so y may alias either).
    const float ss = sumsq(x + r * D, residual ? residual + r * D : nullptr, yr, D);
    const float* z = residual ? yr : x + r * D;
    const __m256 rstd = _mm256_set1_ps(1.0f / __builtin_sqrtf(ss / static_cast<float>(D) + eps));
    int64_t i = 0;
    for (; i + kW <= D; i += kW) {
      const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(z + i), rstd);
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(t, _mm256_loadu_ps(gamma + i)));
    }
    if (i < D) {
      const __m256i m = tail_mask(D - i);
      const __m256 t = _mm256_mul_ps(_mm256_maskload_ps(z + i, m), rstd);
      _mm256_maskstore_ps(yr + i, m, _mm256_mul_ps(t, _mm256_maskload_ps(gamma + i, m)));
    }
  }
}

void glu_rows_avx2(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = x + r * 2 * F;
    const float* g = a + F;
    float* yr = y + r * F;
    int64_t i = 0;
    for (; i + kW <= F; i += kW) {
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(activate_ps(_mm256_loadu_ps(a + i), act), _mm256_loadu_ps(g + i)));
    }
    if (i < F) {
      const __m256i m = tail_mask(F - i);
      const __m256 v = _mm256_mul_ps(activate_ps(_mm256_maskload_ps(a + i, m), act), _mm256_maskload_ps(g + i, m));
      _mm256_maskstore_ps(yr + i, m, v);
    }
  }
}

void softmax_rows_avx2(const float* x, int64_t rows, int64_t N, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    float* yr = y + r * N;
    const float mx = row_max(xr, N);
    if (mx == -__builtin_inff()) {  // every entry masked: zeros, not (-inf) - (-inf) = NaN
      fill(yr, 0.0f, N);
      continue;
    }
    const __m256 mv = _mm256_set1_ps(mx);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 * kW <= N; i += 2 * kW) {
      const __m256 e0 = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv));
      const __m256 e1 = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i + kW), mv));
      _mm256_storeu_ps(yr + i, e0);
      _mm256_storeu_ps(yr + i + kW, e1);
      s0 = _mm256_add_ps(s0, e0);
      s1 = _mm256_add_ps(s1, e1);
    }
    for (; i + kW <= N; i += kW) {
      const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv));
      _mm256_storeu_ps(yr + i, e);
      s0 = _mm256_add_ps(s0, e);
    }
    if (i < N) {
      const __m256i m = tail_mask(N - i);
      const __m256 e = exp_ps(_mm256_sub_ps(load_tail_ninf(xr + i, m), mv));
      _mm256_maskstore_ps(yr + i, m, e);
      s1 = _mm256_add_ps(s1, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum_ps(_mm256_add_ps(s0, s1)));
    i = 0;
    for (; i + kW <= N; i += kW) {
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(yr + i), inv));
    }
    if (i < N) {
      const __m256i m = tail_mask(N - i);
      _mm256_maskstore_ps(yr + i, m, _mm256_mul_ps(_mm256_maskload_ps(yr + i, m), inv));
    }
  }
}

void log_softmax_stats_avx2(const float* xr, int64_t N, float* max, float* lse) {
  const float mx = row_max(xr, N);
  *max = mx;
  if (mx == -__builtin_inff()) return;
  const __m256 mv = _mm256_set1_ps(mx);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 * kW <= N; i += 2 * kW) {
    s0 = _mm256_add_ps(s0, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv)));
    s1 = _mm256_add_ps(s1, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i + kW), mv)));
  }
  for (; i + kW <= N; i += kW) {
    s0 = _mm256_add_ps(s0, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv)));
  }
  if (i < N) {
    const __m256i m = tail_mask(N - i);
    const __m256 e = exp_ps(_mm256_sub_ps(load_tail_ninf(xr + i, m), mv));
    s1 = _mm256_add_ps(s1, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
  }
  *lse = __builtin_logf(hsum_ps(_mm256_add_ps(s0, s1)));
}

void log_softmax_rows_avx2(const float* x, int64_t rows, int64_t N, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    float* yr = y + r * N;
    float mx, ls;
    log_softmax_stats_avx2(xr, N, &mx, &ls);
    if (mx == -__builtin_inff()) {
      fill(yr, -__builtin_inff(), N);
      continue;
    }
    const __m256 mv = _mm256_set1_ps(mx);
    const __m256 lse = _mm256_set1_ps(ls);
    int64_t i = 0;
    for (; i + kW <= N; i += kW) {
      _mm256_storeu_ps(yr + i, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv), lse));
    }
    if (i < N) {
      const __m256i m = tail_mask(N - i);
      _mm256_maskstore_ps(yr + i, m,
                          _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + i, m), mv), lse));
    }
  }
}

// Two passes: the max (and whether there is a NaN), then the first position
// equal to it (or the first NaN). Ties and NaN then resolve to the first index.
void argmax_rows_avx2(const float* x, int64_t rows, int64_t N, int32_t* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    __m256 m0 = _mm256_set1_ps(-__builtin_inff()), m1 = m0;
    __m256 nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 * kW <= N; i += 2 * kW) {
      const __m256 v0 = _mm256_loadu_ps(xr + i), v1 = _mm256_loadu_ps(xr + i + kW);
      m0 = _mm256_max_ps(m0, v0);
      m1 = _mm256_max_ps(m1, v1);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));  // either one NaN
    }
    for (; i < N; i += kW) {
      const __m256 v =
          i + kW <= N ? _mm256_loadu_ps(xr + i) : load_tail_ninf(xr + i, tail_mask(N - i));
      m0 = _mm256_max_ps(m0, v);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    const bool has_nan = _mm256_movemask_ps(nan) != 0;
    const __m256 target = _mm256_set1_ps(hmax_ps(_mm256_max_ps(m0, m1)));
    int64_t best = 0;
    for (i = 0; i < N; i += kW) {
      const int64_t n = i + kW <= N ? kW : N - i;
      const __m256 v = n == kW ? _mm256_loadu_ps(xr + i) : _mm256_maskload_ps(xr + i, tail_mask(n));
      const __m256 eq = has_nan ? _mm256_cmp_ps(v, v, _CMP_UNORD_Q)
                                : _mm256_cmp_ps(v, target, _CMP_EQ_OQ);
      const int hit = _mm256_movemask_ps(eq) & ((1 << n) - 1);
      if (hit) {
        best = i + __builtin_ctz(hit);
        break;
      }
    }
    out[r] = static_cast<int32_t>(best);
  }
}

void embedding_rows_avx2(const int32_t* ids, int64_t r0, int64_t r1, int64_t T,
                         const float* table, int64_t D, float scale, const float* positions,
                         int64_t pos_offset, const int32_t* pos_offsets,
                         const int32_t* pos_ids, float* y) {
  const __m256 sv = _mm256_set1_ps(scale);
  for (int64_t r = r0; r < r1; ++r) {
    const float* e = table + static_cast<int64_t>(ids[r]) * D;
    float* yr = y + r * D;
    const float* p = position_row(positions, pos_offset, pos_offsets, pos_ids, r, T, D);
    if (p) {
      int64_t i = 0;
      for (; i + kW <= D; i += kW) {
        const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(e + i), sv, _mm256_loadu_ps(p + i));
        _mm256_storeu_ps(yr + i, v);
      }
      if (i < D) {
        const __m256i m = tail_mask(D - i);
        const __m256 v =
            _mm256_fmadd_ps(_mm256_maskload_ps(e + i, m), sv, _mm256_maskload_ps(p + i, m));
        _mm256_maskstore_ps(yr + i, m, v);
      }
    } else {
      int64_t i = 0;
      for (; i + kW <= D; i += kW) {
        _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(e + i), sv));
      }
      if (i < D) {
        const __m256i m = tail_mask(D - i);
        _mm256_maskstore_ps(yr + i, m, _mm256_mul_ps(_mm256_maskload_ps(e + i, m), sv));
      }
    }
  }
}

}  // namespace aiayn
