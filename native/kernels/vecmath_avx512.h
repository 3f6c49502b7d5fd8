// Vectorised fp32 math for AVX-512 (16 lanes). Header-only, every function
// `static inline`, so each ISA translation unit gets its own copy and nothing is
// shared across TUs with different target flags. Include only from TUs compiled
// with -mavx512f -mavx512dq (and friends).
//
// Contract (measured against double precision over dense sweeps):
//   exp_ps(x)   e^x. Max error 1 ulp on [-87.3, 88.7] (normal results);
//               x <= -104 or -inf -> 0, x >= 89 or +inf -> +inf, NaN -> NaN.
//               Results below FLT_MIN are denormal (0 under FTZ).
//   exp2_ps(x)  2^x. Max error 1 ulp on [-126, 128); x <= -151 -> 0,
//               x >= 129 -> +inf, NaN -> NaN.
//   erf_ps(x)   erf(x). Max abs error 1.2e-7 over all reals (relative error
//               of a few ulp near 0); exactly +-1 for |x| >= 3.92, NaN -> NaN.
//   x_sigmoid_ps(x, t)  x * sigmoid(t), as x / (1 + e^(-t)): one exp_ps, one
//               add, one divide, so within ~2.5 ulp of x sigmoid(t) for t
//               given. t -> -inf (e^(-t) overflows to inf) gives x / inf = +-0
//               for finite x; NaN in x or t -> NaN.
//   activate_ps(v, act)  the Activation of activation.h, lane by lane: gelu
//               with erf_ps; gelu_tanh as x_sigmoid_ps(x, 2z) (1 + tanh z =
//               2 sigmoid(2z), no cancellation for negative x); silu as
//               x_sigmoid_ps(x, x). Non-finite inputs as activation.h says.
//   hsum_ps / hmax_ps  horizontal sum / max of the 16 lanes.
// All live in namespace aiayn; the __m256 overloads are in vecmath_avx2.h.
//
// exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, with n rounded
// from x log2(e); e^r by the Cephes degree-7 polynomial; the 2^n scaling is
// vscalefps, which also produces the overflow/underflow limits without a
// separate special-case path.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "activation.h"

namespace aiayn {

static inline __m512 exp_ps(__m512 x) {
  // max/min with x second keep NaN (the second operand is returned on NaN).
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 split: the high part has 9 significant bits, so n * hi is exact.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

static inline __m512 exp2_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(129.0f), _mm512_max_ps(_mm512_set1_ps(-151.0f), x));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_sub_ps(x, n);  // exact, |r| <= 0.5
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// erf in two pieces, both evaluated and blended (fits: minimax relative error,
// fp32 coefficients):
//   |x| < 0.6:  x P(x^2), P of degree 5 (fit error 1e-10 relative);
//   |x| >= 0.6: sign(x) (1 - e^(-z^2) R(z)), z = min(|x|, 3.92), R = erfc(z) e^(z^2)
//               as a degree 3/4 rational (fit error 3e-9 relative), so the
//               result is 1 minus a small, accurately computed term.
// Beyond 3.92, erf rounds to +-1 in fp32.
static inline __m512 erf_ps(__m512 x) {
  const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MIN));
  const __m512 ax = _mm512_andnot_ps(sign, x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-7.345635095e-04f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(5.176410079e-03f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.685736492e-02f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.128371730e-01f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-3.761263788e-01f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.128379226e+00f));
  const __m512 small = _mm512_mul_ps(x, p);
  const __m512 z = _mm512_min_ps(_mm512_set1_ps(3.92f), ax);  // keeps NaN
  __m512 rn = _mm512_set1_ps(9.856500477e-02f);
  rn = _mm512_fmadd_ps(rn, z, _mm512_set1_ps(4.774539769e-01f));
  rn = _mm512_fmadd_ps(rn, z, _mm512_set1_ps(1.018731594e+00f));
  rn = _mm512_fmadd_ps(rn, z, _mm512_set1_ps(9.999448061e-01f));
  __m512 rd = _mm512_set1_ps(1.747436225e-01f);
  rd = _mm512_fmadd_ps(rd, z, _mm512_set1_ps(8.453794718e-01f));
  rd = _mm512_fmadd_ps(rd, z, _mm512_set1_ps(1.901512265e+00f));
  rd = _mm512_fmadd_ps(rd, z, _mm512_set1_ps(2.146641016e+00f));
  rd = _mm512_fmadd_ps(rd, z, _mm512_set1_ps(1.000000000e+00f));
  const __m512 e = exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z));
  const __m512 large = _mm512_fnmadd_ps(e, _mm512_div_ps(rn, rd), _mm512_set1_ps(1.0f));
  const __m512 signed_large = _mm512_or_ps(large, _mm512_and_ps(sign, x));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.6f), _CMP_LT_OQ), signed_large, small);
}

static inline __m512 x_sigmoid_ps(__m512 x, __m512 t) {
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), t));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 activate_ps(__m512 v, Activation act) {
  switch (act) {
    case Activation::relu: return _mm512_max_ps(v, _mm512_setzero_ps());
    case Activation::gelu: {
      const __m512 h = _mm512_mul_ps(v, _mm512_set1_ps(0.5f));
      return _mm512_fmadd_ps(h, erf_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f))), h);
    }
    case Activation::gelu_tanh: {
      // 2z = 2 sqrt(2/pi) (v + 0.044715 v^3) = v (c1 + c3 v^2)
      const __m512 v2 = _mm512_mul_ps(v, v);
      const __m512 t = _mm512_mul_ps(v, _mm512_fmadd_ps(_mm512_set1_ps(2.0f * kGeluTanhC * kGeluTanhA), v2,
                                                    _mm512_set1_ps(2.0f * kGeluTanhC)));
      return x_sigmoid_ps(v, t);
    }
    case Activation::silu: return x_sigmoid_ps(v, v);
    default: return v;
  }
}

static inline float hsum_ps(__m512 x) { return _mm512_reduce_add_ps(x); }
static inline float hmax_ps(__m512 x) { return _mm512_reduce_max_ps(x); }

}  // namespace aiayn
