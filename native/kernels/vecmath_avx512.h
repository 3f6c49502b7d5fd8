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

// erf(x) = x P(x^2) / Q(x^2) on [-3.92, 3.92]: a degree 6/5 (in x^2) rational
// fit, minimax in absolute error (2.3e-8 with fp32 coefficients). All Q and
// nearly all P coefficients are positive, so Horner evaluation does not cancel.
// Beyond 3.92, erf rounds to +-1 in fp32.
static inline __m512 erf_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(3.92f), _mm512_max_ps(_mm512_set1_ps(-3.92f), x));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-1.333762167e-08f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(4.718126547e-06f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(3.803824948e-04f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(3.832381917e-03f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(5.427851155e-02f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.847003996e-01f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(1.128379226e+00f));
  p = _mm512_mul_ps(p, x);
  __m512 q = _mm512_set1_ps(6.342206325e-05f);
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.305044745e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.543099247e-02f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.137755066e-01f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(4.970200062e-01f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(1.000000000e+00f));
  return _mm512_div_ps(p, q);
}

static inline float hsum_ps(__m512 x) { return _mm512_reduce_add_ps(x); }
static inline float hmax_ps(__m512 x) { return _mm512_reduce_max_ps(x); }

}  // namespace aiayn
