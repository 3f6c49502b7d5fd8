// AArch64 Advanced SIMD vector traits (4 fp32 lanes, masks as all-ones /
// zero uint32 lanes) and vecmath.h over them. Include only from translation
// units of the neon kernels: everything here is in an anonymous namespace (or
// instantiated on VecNeon, which is), so each such TU has its own copy.
// The interface is VecAvx2's (vecmath_avx2.h), with x86's semantics where
// NEON's differ:
//   min/max return the second operand when either is NaN (minps / maxps),
//     written as compare + select (NEON's fmin/fmax would return NaN);
//   maskz_loadu / mask_storeu touch only the lanes of the mask (NEON has no
//     masked memory access: a partial mask goes lane by lane);
//   scale_pow2 is VecAvx2's two exponent-field multiplies.
// Every primitive is IEEE fp32 with fixed reduction trees, so a kernel gives
// the same bits every time on this ISA.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "activation.h"

namespace aiayn {
namespace {

struct VecNeon {
  using V = float32x4_t;
  using VI = int32x4_t;
  using M = uint32x4_t;
  static constexpr int W = 4;

  static V zero() { return vdupq_n_f32(0.0f); }
  static V set1(float x) { return vdupq_n_f32(x); }
  static V load(const float* p) { return vld1q_f32(p); }
  static V loadu(const float* p) { return vld1q_f32(p); }
  static void store(float* p, V v) { vst1q_f32(p, v); }
  static void storeu(float* p, V v) { vst1q_f32(p, v); }
  static V maskz_loadu(M m, const float* p) {
    if (vminvq_u32(m) != 0) return vld1q_f32(p);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (vgetq_lane_u32(m, 0)) t[0] = p[0];
    if (vgetq_lane_u32(m, 1)) t[1] = p[1];
    if (vgetq_lane_u32(m, 2)) t[2] = p[2];
    if (vgetq_lane_u32(m, 3)) t[3] = p[3];
    return vld1q_f32(t);
  }
  static void mask_storeu(float* p, M m, V v) {
    if (vminvq_u32(m) != 0) return vst1q_f32(p, v);
    if (vgetq_lane_u32(m, 0)) p[0] = vgetq_lane_f32(v, 0);
    if (vgetq_lane_u32(m, 1)) p[1] = vgetq_lane_f32(v, 1);
    if (vgetq_lane_u32(m, 2)) p[2] = vgetq_lane_f32(v, 2);
    if (vgetq_lane_u32(m, 3)) p[3] = vgetq_lane_f32(v, 3);
  }

  static M tail(int64_t n) {
    const uint32_t iota[4] = {0, 1, 2, 3};
    const uint32_t c = static_cast<uint32_t>(n < 0 ? 0 : n < W ? n : W);
    return vcltq_u32(vld1q_u32(iota), vdupq_n_u32(c));
  }
  static M all() { return vdupq_n_u32(0xFFFFFFFFu); }
  static M none() { return vdupq_n_u32(0); }
  static int bits(M m) {
    const uint32_t weight[4] = {1, 2, 4, 8};
    return static_cast<int>(vaddvq_u32(vandq_u32(m, vld1q_u32(weight))));
  }
  static M mask_or(M a, M b) { return vorrq_u32(a, b); }
  static M mask_and(M a, M b) { return vandq_u32(a, b); }
  static V maskz(M m, V v) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), m)); }

  static V add(V a, V b) { return vaddq_f32(a, b); }
  static V sub(V a, V b) { return vsubq_f32(a, b); }
  static V mul(V a, V b) { return vmulq_f32(a, b); }
  static V div(V a, V b) { return vdivq_f32(a, b); }
  static V fmadd(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static V fnmadd(V a, V b, V c) { return vfmsq_f32(c, a, b); }
  static V min(V a, V b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  static V max(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static V round(V x) { return vrndnq_f32(x); }
  static V scale_pow2(V p, V n) {
    const int32x4_t ni = vcvtnq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1);
    const int32x4_t n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const V s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const V s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
  }
  static V and_(V a, V b) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
  static V or_(V a, V b) { return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
  // ~a & b
  static V andnot(V a, V b) {
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(b), vreinterpretq_u32_f32(a)));
  }
  static M lt(V a, V b) { return vcltq_f32(a, b); }
  static M eq(V a, V b) { return vceqq_f32(a, b); }
  static M unord(V a, V b) { return vmvnq_u32(vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b))); }
  static V blend(M m, V a, V b) { return vbslq_f32(m, b, a); }

  // (x0 + x1) + (x2 + x3), as sums_of's lanes.
  static float reduce_add(V x) { return vaddvq_f32(x); }
  // Through max(), so NaN lanes are handled as on x86.
  static float reduce_max(V x) {
    const V t = max(x, vextq_f32(x, x, 2));
    return vgetq_lane_f32(max(t, vextq_f32(t, t, 1)), 0);
  }
  static V sums_of(const V* v) { return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3])); }
  static void transpose(V (&r)[W]) {
    const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
  }

  static VI set1_i(int32_t x) { return vdupq_n_s32(x); }
  static VI bits_of(V v) { return vreinterpretq_s32_f32(v); }
  static M cmpgt_i(VI a, VI b) { return vcgtq_s32(a, b); }
  static VI blend_i(M m, VI a, VI b) { return vbslq_s32(m, b, a); }
  static VI and_i(VI a, VI b) { return vandq_s32(a, b); }
  // -a where bits < 0, a elsewhere (as VecAvx2's).
  static VI negate_if_neg_i(VI a, VI bits) {
    const int32x4_t sign = vshrq_n_s32(bits, 31);
    return vsubq_s32(veorq_s32(a, sign), sign);
  }
};

}  // namespace
}  // namespace aiayn

#include "vecmath.h"

namespace aiayn {
namespace {

// The epilogue activation of the NEON GEMMs.
inline float32x4_t activate_ps(float32x4_t v, Activation act) { return Math<VecNeon>::activate(v, act); }

}  // namespace
}  // namespace aiayn
