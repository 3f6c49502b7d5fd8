// Vectorised fp32 math written once over a vector-traits struct S
// (VecAvx2 in vecmath_avx2.h, VecAvx512 in vecmath_avx512.h, which include
// this header; never include it from a baseline TU). Math<S> lives in an
// anonymous namespace and S does too, so every instantiation stays inside its
// ISA's translation unit.
//
// Contract (measured against double precision over dense sweeps, both ISAs):
//   exp(x)      e^x. Max error 1 ulp on [-87.3, 88.7] (normal results);
//               x <= -104 or -inf -> 0, x >= 89 or +inf -> +inf, NaN -> NaN.
//               Results below FLT_MIN are denormal (0 under FTZ).
//   exp2(x)     2^x. Max error 1 ulp on [-126, 128); x <= -151 -> 0,
//               x >= 129 -> +inf, NaN -> NaN.
//   erf(x)      erf(x). Max abs error 1.2e-7 over all reals (relative error
//               of a few ulp near 0); exactly +-1 for |x| >= 3.92, NaN -> NaN.
//   x_sigmoid(x, t)  x * sigmoid(t), as x / (1 + e^(-t)): one exp, one add,
//               one divide, so within ~2.5 ulp of x sigmoid(t) for t given.
//               t -> -inf (e^(-t) overflows to inf) gives x / inf = +-0 for
//               finite x; NaN in x or t -> NaN.
//   activate(v, act)  the Activation of activation.h, lane by lane: gelu with
//               erf; gelu_tanh as x_sigmoid(x, 2z) (1 + tanh z = 2 sigmoid(2z),
//               no cancellation for negative x); silu as x_sigmoid(x, x).
//               Non-finite inputs as activation.h says.
//
// exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, with n rounded
// from x log2(e); e^r by the Cephes degree-7 polynomial; 2^n applied by the
// traits' scale_pow2 (rounded once, so overflow and underflow come out right
// without a special-case path).
#pragma once

#include "activation.h"

namespace aiayn {
namespace {

template <class S>
struct Math {
  using V = typename S::V;

  static V exp(V x) {
    // max/min with x second keep NaN (the second operand is returned on NaN).
    x = S::min(S::set1(89.0f), S::max(S::set1(-104.0f), x));
    const V n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
    // ln2 split: the high part has 9 significant bits, so n * hi is exact.
    V r = S::fnmadd(n, S::set1(0.693359375f), x);
    r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
    V p = S::set1(1.9875691500e-4f);
    p = S::fmadd(p, r, S::set1(1.3981999507e-3f));
    p = S::fmadd(p, r, S::set1(8.3334519073e-3f));
    p = S::fmadd(p, r, S::set1(4.1665795894e-2f));
    p = S::fmadd(p, r, S::set1(1.6666665459e-1f));
    p = S::fmadd(p, r, S::set1(5.0000001201e-1f));
    p = S::fmadd(p, S::mul(r, r), r);
    p = S::add(p, S::set1(1.0f));
    return S::scale_pow2(p, n);
  }

  static V exp2(V x) {
    x = S::min(S::set1(129.0f), S::max(S::set1(-151.0f), x));
    const V n = S::round(x);
    const V r = S::sub(x, n);  // exact, |r| <= 0.5
    V p = S::set1(1.535336188319500e-4f);
    p = S::fmadd(p, r, S::set1(1.339887440266574e-3f));
    p = S::fmadd(p, r, S::set1(9.618437357674640e-3f));
    p = S::fmadd(p, r, S::set1(5.550332471162809e-2f));
    p = S::fmadd(p, r, S::set1(2.402264791363012e-1f));
    p = S::fmadd(p, r, S::set1(6.931472028550421e-1f));
    p = S::fmadd(p, r, S::set1(1.0f));
    return S::scale_pow2(p, n);
  }

  // erf in two pieces, both evaluated and blended (fits: minimax relative
  // error, fp32 coefficients):
  //   |x| < 0.6:  x P(x^2), P of degree 5 (fit error 1e-10 relative);
  //   |x| >= 0.6: sign(x) (1 - e^(-z^2) R(z)), z = min(|x|, 3.92), R = erfc(z) e^(z^2)
  //               as a degree 3/4 rational (fit error 3e-9 relative), so the
  //               result is 1 minus a small, accurately computed term.
  // Beyond 3.92, erf rounds to +-1 in fp32.
  static V erf(V x) {
    const V sign = S::set1(-0.0f);
    const V ax = S::andnot(sign, x);
    const V x2 = S::mul(x, x);
    V p = S::set1(-7.345635095e-04f);
    p = S::fmadd(p, x2, S::set1(5.176410079e-03f));
    p = S::fmadd(p, x2, S::set1(-2.685736492e-02f));
    p = S::fmadd(p, x2, S::set1(1.128371730e-01f));
    p = S::fmadd(p, x2, S::set1(-3.761263788e-01f));
    p = S::fmadd(p, x2, S::set1(1.128379226e+00f));
    const V small = S::mul(x, p);
    const V z = S::min(S::set1(3.92f), ax);  // keeps NaN
    V rn = S::set1(9.856500477e-02f);
    rn = S::fmadd(rn, z, S::set1(4.774539769e-01f));
    rn = S::fmadd(rn, z, S::set1(1.018731594e+00f));
    rn = S::fmadd(rn, z, S::set1(9.999448061e-01f));
    V rd = S::set1(1.747436225e-01f);
    rd = S::fmadd(rd, z, S::set1(8.453794718e-01f));
    rd = S::fmadd(rd, z, S::set1(1.901512265e+00f));
    rd = S::fmadd(rd, z, S::set1(2.146641016e+00f));
    rd = S::fmadd(rd, z, S::set1(1.000000000e+00f));
    const V e = exp(S::mul(S::sub(S::zero(), z), z));
    const V large = S::fnmadd(e, S::div(rn, rd), S::set1(1.0f));
    const V signed_large = S::or_(large, S::and_(sign, x));
    return S::blend(S::lt(ax, S::set1(0.6f)), signed_large, small);
  }

  static V x_sigmoid(V x, V t) {
    const V e = exp(S::sub(S::zero(), t));
    return S::div(x, S::add(S::set1(1.0f), e));
  }

  static V activate(V v, Activation act) {
    switch (act) {
      case Activation::relu: return S::max(v, S::zero());
      case Activation::gelu: {
        const V h = S::mul(v, S::set1(0.5f));
        return S::fmadd(h, erf(S::mul(v, S::set1(0.70710678118654752f))), h);
      }
      case Activation::gelu_tanh: {
        // 2z = 2 sqrt(2/pi) (v + 0.044715 v^3) = v (c1 + c3 v^2)
        const V v2 = S::mul(v, v);
        const V t = S::mul(v, S::fmadd(S::set1(2.0f * kGeluTanhC * kGeluTanhA), v2, S::set1(2.0f * kGeluTanhC)));
        return x_sigmoid(v, t);
      }
      case Activation::silu: return x_sigmoid(v, v);
      default: return v;
    }
  }
};

}  // namespace
}  // namespace aiayn
