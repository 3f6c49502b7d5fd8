// The row-wise ops of ops.h written once over a vector-traits struct S
// (vecmath_avx2.h, vecmath_avx512.h), instantiated by ops_avx2.cc and
// ops_avx512.cc. Include only from an ISA translation unit, after its traits.
//
// Layout: contiguous fp32 rows of length D (or N), any length >= 1; the last
// partial vector of a row is a masked load/store, never a scalar loop. Every
// pass is elementwise in place, so y may alias x (or residual). Accumulation
// is fp32 in 2-4 vector accumulators (shorter chains than a running sum).
// Measured against a double-precision reference (rows 1..65, N/D 1..32000),
// AVX2 / AVX-512:
//  - layernorm: <= 2.2 / 2.4 * 2^-24 * (max|z| * rstd * |gamma| + |y|), i.e.
//    the rounding of the fp32 mean; the variance is two-pass, so no
//    cancellation.
//  - rmsnorm: z (+ residual, stored first) in one pass with sum(z^2), then
//    y = z * rstd * gamma; error <= a few 2^-24 * |y| (the fp32 sum of squares).
//  - glu: y = Math<S>::activate(a) * b, vector by vector.
//  - softmax: <= 37 / 21 ulp at N=32000, <= 5.5 / 4.8 ulp at N <= 1000,
//    against exp of the fp32-rounded x - max (that rounding itself, as in
//    PyTorch, adds up to |x - max| * 2^-24 relative); error is dominated by
//    the fp32 sum.
//  - log_softmax: <= 18 / 10 ulp of max(1, |y|); argmax exact; embedding
//    rounds e*scale + p once (fma).
#pragma once

#include <cstdint>

#include "ops_kernels.h"
#include "vecmath.h"

namespace aiayn {
namespace {

template <class S>
struct Ops {
  using V = typename S::V;
  using M = typename S::M;
  static constexpr int64_t W = S::W;

  // y = a + b (elementwise); returns the sum of y.
  static float add_store_sum(const float* a, const float* b, float* y, int64_t n) {
    V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const V z0 = S::add(S::loadu(a + i), S::loadu(b + i));
      const V z1 = S::add(S::loadu(a + i + W), S::loadu(b + i + W));
      const V z2 = S::add(S::loadu(a + i + 2 * W), S::loadu(b + i + 2 * W));
      const V z3 = S::add(S::loadu(a + i + 3 * W), S::loadu(b + i + 3 * W));
      S::storeu(y + i, z0);
      S::storeu(y + i + W, z1);
      S::storeu(y + i + 2 * W, z2);
      S::storeu(y + i + 3 * W, z3);
      s0 = S::add(s0, z0);
      s1 = S::add(s1, z1);
      s2 = S::add(s2, z2);
      s3 = S::add(s3, z3);
    }
    for (; i + W <= n; i += W) {
      const V z = S::add(S::loadu(a + i), S::loadu(b + i));
      S::storeu(y + i, z);
      s0 = S::add(s0, z);
    }
    if (i < n) {
      const M m = S::tail(n - i);
      const V z = S::add(S::maskz_loadu(m, a + i), S::maskz_loadu(m, b + i));
      S::mask_storeu(y + i, m, z);
      s1 = S::add(s1, z);
    }
    return S::reduce_add(S::add(S::add(s0, s1), S::add(s2, s3)));
  }

  static float sum(const float* p, int64_t n) {
    V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      s0 = S::add(s0, S::loadu(p + i));
      s1 = S::add(s1, S::loadu(p + i + W));
      s2 = S::add(s2, S::loadu(p + i + 2 * W));
      s3 = S::add(s3, S::loadu(p + i + 3 * W));
    }
    for (; i + W <= n; i += W) s0 = S::add(s0, S::loadu(p + i));
    if (i < n) s1 = S::add(s1, S::maskz_loadu(S::tail(n - i), p + i));
    return S::reduce_add(S::add(S::add(s0, s1), S::add(s2, s3)));
  }

  // sum((p - mean)^2); masked-off tail lanes contribute 0, not mean^2.
  static float centered_sumsq(const float* p, float mean, int64_t n) {
    const V mv = S::set1(mean);
    V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const V d0 = S::sub(S::loadu(p + i), mv);
      const V d1 = S::sub(S::loadu(p + i + W), mv);
      const V d2 = S::sub(S::loadu(p + i + 2 * W), mv);
      const V d3 = S::sub(S::loadu(p + i + 3 * W), mv);
      s0 = S::fmadd(d0, d0, s0);
      s1 = S::fmadd(d1, d1, s1);
      s2 = S::fmadd(d2, d2, s2);
      s3 = S::fmadd(d3, d3, s3);
    }
    for (; i + W <= n; i += W) {
      const V d = S::sub(S::loadu(p + i), mv);
      s0 = S::fmadd(d, d, s0);
    }
    if (i < n) {
      const M m = S::tail(n - i);
      const V d = S::maskz(m, S::sub(S::maskz_loadu(m, p + i), mv));
      s1 = S::fmadd(d, d, s1);
    }
    return S::reduce_add(S::add(S::add(s0, s1), S::add(s2, s3)));
  }

  // sum(p^2); with b, p = a + b is first stored to y (elementwise, so y may
  // alias a or b). Masked-off tail lanes contribute 0.
  static float sumsq(const float* a, const float* b, float* y, int64_t n) {
    V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
    auto load = [&](int64_t i) {
      V z = S::loadu(a + i);
      if (b) {
        z = S::add(z, S::loadu(b + i));
        S::storeu(y + i, z);
      }
      return z;
    };
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const V z0 = load(i), z1 = load(i + W), z2 = load(i + 2 * W), z3 = load(i + 3 * W);
      s0 = S::fmadd(z0, z0, s0);
      s1 = S::fmadd(z1, z1, s1);
      s2 = S::fmadd(z2, z2, s2);
      s3 = S::fmadd(z3, z3, s3);
    }
    for (; i + W <= n; i += W) {
      const V z = load(i);
      s0 = S::fmadd(z, z, s0);
    }
    if (i < n) {
      const M m = S::tail(n - i);
      V z = S::maskz_loadu(m, a + i);
      if (b) {
        z = S::add(z, S::maskz_loadu(m, b + i));
        S::mask_storeu(y + i, m, z);
      }
      s1 = S::fmadd(z, z, s1);
    }
    return S::reduce_add(S::add(S::add(s0, s1), S::add(s2, s3)));
  }

  // The tail lanes [0, n) of p; the others read -inf, so they never win a max.
  static V load_tail_ninf(const float* p, int64_t n) {
    const M m = S::tail(n);
    return S::blend(m, S::set1(-__builtin_inff()), S::maskz_loadu(m, p));
  }

  static float row_max(const float* p, int64_t n) {
    const V ninf = S::set1(-__builtin_inff());
    V m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      m0 = S::max(m0, S::loadu(p + i));
      m1 = S::max(m1, S::loadu(p + i + W));
      m2 = S::max(m2, S::loadu(p + i + 2 * W));
      m3 = S::max(m3, S::loadu(p + i + 3 * W));
    }
    for (; i + W <= n; i += W) m0 = S::max(m0, S::loadu(p + i));
    if (i < n) m1 = S::max(m1, load_tail_ninf(p + i, n - i));
    return S::reduce_max(S::max(S::max(m0, m1), S::max(m2, m3)));
  }

  static void fill(float* p, float v, int64_t n) {
    const V vv = S::set1(v);
    int64_t i = 0;
    for (; i + W <= n; i += W) S::storeu(p + i, vv);
    if (i < n) S::mask_storeu(p + i, S::tail(n - i), vv);
  }

  // y[i, i + W) = f(i, ld) over [0, n) vector by vector, ld(p) the load of
  // p[0, W) (masked at the row's tail: lanes past n read 0 and are not
  // stored). f loads before the store, so y may alias what it reads.
  template <typename F>
  static void map(float* y, int64_t n, const F& f) {
    int64_t i = 0;
    for (; i + W <= n; i += W) S::storeu(y + i, f(i, [](const float* p) { return S::loadu(p); }));
    if (i < n) {
      const M m = S::tail(n - i);
      S::mask_storeu(y + i, m, f(i, [m](const float* p) { return S::maskz_loadu(m, p); }));
    }
  }

  static void layernorm(const float* x, const float* residual, const float* gamma, const float* beta,
                        float eps, int64_t rows, int64_t D, float* y) {
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
      const V mv = S::set1(mean);
      const V rstd = S::set1(1.0f / __builtin_sqrtf(var + eps));
      map(yr, D, [&](int64_t i, auto ld) {
        return S::fmadd(S::mul(S::sub(ld(z + i), mv), rstd), ld(gamma + i), ld(beta + i));
      });
    }
  }

  static void rmsnorm(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
                      int64_t D, float* y) {
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = y + r * D;
      // With a residual, z = x + residual goes to y first (so y may alias either).
      const float ss = sumsq(x + r * D, residual ? residual + r * D : nullptr, yr, D);
      const float* z = residual ? yr : x + r * D;
      const V rstd = S::set1(1.0f / __builtin_sqrtf(ss / static_cast<float>(D) + eps));
      map(yr, D, [&](int64_t i, auto ld) { return S::mul(S::mul(ld(z + i), rstd), ld(gamma + i)); });
    }
  }

  static void glu(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* a = x + r * 2 * F;
      const float* g = a + F;
      map(y + r * F, F, [&](int64_t i, auto ld) { return S::mul(Math<S>::activate(ld(a + i), act), ld(g + i)); });
    }
  }

  static void softmax(const float* x, int64_t rows, int64_t N, float* y) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * N;
      float* yr = y + r * N;
      const float mx = row_max(xr, N);
      if (mx == -__builtin_inff()) {  // every entry masked: zeros, not (-inf) - (-inf) = NaN
        fill(yr, 0.0f, N);
        continue;
      }
      const V mv = S::set1(mx);
      V s0 = S::zero(), s1 = S::zero();
      int64_t i = 0;
      for (; i + 2 * W <= N; i += 2 * W) {
        const V e0 = Math<S>::exp(S::sub(S::loadu(xr + i), mv));
        const V e1 = Math<S>::exp(S::sub(S::loadu(xr + i + W), mv));
        S::storeu(yr + i, e0);
        S::storeu(yr + i + W, e1);
        s0 = S::add(s0, e0);
        s1 = S::add(s1, e1);
      }
      for (; i + W <= N; i += W) {
        const V e = Math<S>::exp(S::sub(S::loadu(xr + i), mv));
        S::storeu(yr + i, e);
        s0 = S::add(s0, e);
      }
      if (i < N) {
        const M m = S::tail(N - i);
        const V e = Math<S>::exp(S::sub(S::maskz_loadu(m, xr + i), mv));
        S::mask_storeu(yr + i, m, e);
        s1 = S::add(s1, S::maskz(m, e));
      }
      const V inv = S::set1(1.0f / S::reduce_add(S::add(s0, s1)));
      map(yr, N, [&](int64_t i, auto ld) { return S::mul(ld(yr + i), inv); });
    }
  }

  static void log_softmax_stats(const float* xr, int64_t N, float* max, float* lse) {
    const float mx = row_max(xr, N);
    *max = mx;
    if (mx == -__builtin_inff()) return;
    const V mv = S::set1(mx);
    V s0 = S::zero(), s1 = S::zero();
    int64_t i = 0;
    for (; i + 2 * W <= N; i += 2 * W) {
      s0 = S::add(s0, Math<S>::exp(S::sub(S::loadu(xr + i), mv)));
      s1 = S::add(s1, Math<S>::exp(S::sub(S::loadu(xr + i + W), mv)));
    }
    for (; i + W <= N; i += W) s0 = S::add(s0, Math<S>::exp(S::sub(S::loadu(xr + i), mv)));
    if (i < N) {
      const M m = S::tail(N - i);
      s1 = S::add(s1, S::maskz(m, Math<S>::exp(S::sub(S::maskz_loadu(m, xr + i), mv))));
    }
    *lse = __builtin_logf(S::reduce_add(S::add(s0, s1)));
  }

  // stats: the ISA's log_softmax_stats kernel (topk's logSoftmax option calls
  // the same one, so the two agree bit for bit).
  static void log_softmax(const float* x, int64_t rows, int64_t N, float* y,
                          void (*stats)(const float*, int64_t, float*, float*)) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * N;
      float* yr = y + r * N;
      float mx, ls;
      stats(xr, N, &mx, &ls);
      if (mx == -__builtin_inff()) {
        fill(yr, -__builtin_inff(), N);
        continue;
      }
      const V mv = S::set1(mx), lse = S::set1(ls);
      map(yr, N, [&](int64_t i, auto ld) { return S::sub(S::sub(ld(xr + i), mv), lse); });
    }
  }

  // Two passes: the max (and whether there is a NaN), then the first position
  // equal to it (or the first NaN). Ties and NaN then resolve to the first index.
  static void argmax(const float* x, int64_t rows, int64_t N, int32_t* out) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * N;
      V m0 = S::set1(-__builtin_inff()), m1 = m0;
      M nan = S::none();
      int64_t i = 0;
      for (; i + 2 * W <= N; i += 2 * W) {
        const V v0 = S::loadu(xr + i), v1 = S::loadu(xr + i + W);
        m0 = S::max(m0, v0);
        m1 = S::max(m1, v1);
        nan = S::mask_or(nan, S::unord(v0, v1));  // either one NaN
      }
      for (; i < N; i += W) {
        const V v = i + W <= N ? S::loadu(xr + i) : load_tail_ninf(xr + i, N - i);
        m0 = S::max(m0, v);
        nan = S::mask_or(nan, S::unord(v, v));
      }
      const bool has_nan = S::bits(nan) != 0;
      const V target = S::set1(S::reduce_max(S::max(m0, m1)));
      int64_t best = 0;
      for (i = 0; i < N; i += W) {
        const int64_t n = i + W <= N ? W : N - i;
        const V v = n == W ? S::loadu(xr + i) : S::maskz_loadu(S::tail(n), xr + i);
        const int hit = S::bits(has_nan ? S::unord(v, v) : S::eq(v, target)) & ((1 << n) - 1);
        if (hit) {
          best = i + __builtin_ctz(static_cast<unsigned>(hit));
          break;
        }
      }
      out[r] = static_cast<int32_t>(best);
    }
  }

  static void embedding(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const float* table, int64_t D,
                        float scale, const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
                        const int32_t* pos_ids, float* y) {
    const V sv = S::set1(scale);
    for (int64_t r = r0; r < r1; ++r) {
      const float* e = table + static_cast<int64_t>(ids[r]) * D;
      const float* p = embedding_position_row(positions, pos_offset, pos_offsets, pos_ids, r, T, D);
      if (p) {
        map(y + r * D, D, [&](int64_t i, auto ld) { return S::fmadd(ld(e + i), sv, ld(p + i)); });
      } else {
        map(y + r * D, D, [&](int64_t i, auto ld) { return S::mul(ld(e + i), sv); });
      }
    }
  }
};

}  // namespace
}  // namespace aiayn
