// AArch64 pieces of the bf16 / int8 GEMM (gemm_dt.h), shared by the neon
// translation units (gemm_neon.cc, gemm_neondot.cc, gemm_neonbf16.cc);
// everything is in an anonymous namespace, so each TU keeps its own copy.
//   VNeon16      the vector layer: 16 floats as four q registers, column
//                edges through VecNeon's lane-exact masked loads and stores
//   prep_bf16    x -> bf16 pairs with the contract's rounding in integer ops
//   prep_q8      x -> per-row int8 quantisation (quant.h's), stored as s8
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gemm_dt.h"
#include "quant.h"
#include "vecmath_neon.h"

namespace aiayn {
namespace {

struct VNeon16 {
  struct F {
    float32x4_t v[4];
  };
  struct Mask {
    int cols;
  };
  static Mask mask(int cols) { return {cols}; }
  static F fzero() { return {{vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}}; }
  static F load(const float* p, const Mask& m) {
    F f;
    for (int i = 0; i < 4; ++i) {
      f.v[i] = m.cols >= 16 ? vld1q_f32(p + 4 * i) : VecNeon::maskz_loadu(VecNeon::tail(m.cols - 4 * i), p + 4 * i);
    }
    return f;
  }
  static void store(float* p, const Mask& m, const F& f) {
    for (int i = 0; i < 4; ++i) {
      if (m.cols >= 16) {
        vst1q_f32(p + 4 * i, f.v[i]);
      } else {
        VecNeon::mask_storeu(p + 4 * i, VecNeon::tail(m.cols - 4 * i), f.v[i]);
      }
    }
  }
  static F add(const F& a, const F& b) {
    F f;
    for (int i = 0; i < 4; ++i) f.v[i] = vaddq_f32(a.v[i], b.v[i]);
    return f;
  }
  static F act(const F& a, Activation act) {
    F f;
    for (int i = 0; i < 4; ++i) f.v[i] = activate_ps(a.v[i], act);
    return f;
  }
  // fp32(sum) * fp32(t_m * s_n) for an int8 block's 16 column sums.
  static F dequant(const int32x4_t (&sum)[4], const DtBlock& blk, int64_t row, int64_t c0, const Mask& m) {
    const F s = load(blk.wscale + c0, m);
    const float32x4_t t = vdupq_n_f32(blk.xscale[row]);
    F f;
    for (int i = 0; i < 4; ++i) f.v[i] = vmulq_f32(vcvtq_f32_s32(sum[i]), vmulq_f32(t, s.v[i]));
    return f;
  }
};

// The int8 traits' shared parts: a panel row of one depth group (16 columns
// x 4 depth values, 4 columns a register) and one row's 4 depth values
// repeated in every 32-bit lane.
struct Q8NeonBase : VNeon16 {
  static constexpr int64_t kXBytes = 4;
  struct W {
    int8x16_t v[4];
  };
  using X = int8x16_t;
  static W load_w(const uint32_t* b) {
    W w;
    for (int i = 0; i < 4; ++i) w.v[i] = vld1q_s8(reinterpret_cast<const int8_t*>(b + 4 * i));
    return w;
  }
  static X load_x(const uint8_t* x) { return vreinterpretq_s8_u32(vld1q_dup_u32(reinterpret_cast<const uint32_t*>(x))); }
};

// bf16(v) for 4 lanes as in bf16_bits (quant.h), narrowed to 16 bits.
inline uint16x4_t bf16_round_u16(float32x4_t v) {
  const uint32x4_t u = vreinterpretq_u32_f32(v);
  const uint32x4_t exp = vdupq_n_u32(kF32ExpMask);
  const uint32x4_t hi = vshrq_n_u32(u, 16);
  const uint32x4_t odd = vandq_u32(hi, vdupq_n_u32(1));
  uint32x4_t r = vshrq_n_u32(vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7FFF)), odd), 16);
  const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7FFFFFFFu)), exp);
  const uint32x4_t den = vceqq_u32(vandq_u32(u, exp), vdupq_n_u32(0));
  r = vbslq_u32(nan, vorrq_u32(hi, vdupq_n_u32(0x40)), r);
  r = vbslq_u32(den, vandq_u32(hi, vdupq_n_u32(0x8000)), r);
  return vmovn_u32(r);
}

inline void prep_bf16(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float*) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<uint16_t*>(out + i * ldo);
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      vst1q_u16(o + k, vcombine_u16(bf16_round_u16(vld1q_f32(xr + k)), bf16_round_u16(vld1q_f32(xr + k + 4))));
    }
    for (; k < K; ++k) o[k] = bf16_bits(xr[k]);
    if (K % 2) o[K] = 0;
  }
}

// As quantize_q8 (quant.h), stored as s8 and zero-padded to 4 depth values.
inline void prep_q8(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float* scale) {
  const int64_t padded = (K + 3) / 4 * 4;
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<int8_t*>(out + i * ldo);
    uint32x4_t amax = vdupq_n_u32(0);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
      amax = vmaxq_u32(amax, vandq_u32(vreinterpretq_u32_f32(vld1q_f32(xr + k)), vdupq_n_u32(0x7FFFFFFFu)));
    }
    uint32_t am = vmaxvq_u32(amax);
    for (; k < K; ++k) {
      const uint32_t a = f32_bits(xr[k]) & 0x7FFFFFFFu;
      am = a > am ? a : am;
    }
    if (am >= kF32ExpMask || am < 0x00800000u) {
      std::memset(o, 0, static_cast<size_t>(padded));
      scale[i] = am >= kF32ExpMask ? NAN : 0.0f;
      continue;
    }
    const float a = bits_f32(am);
    const float inv = 127.0f / a;
    scale[i] = a / 127.0f;
    const float32x4_t vinv = vdupq_n_f32(inv);
    const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
    for (k = 0; k + 8 <= K; k += 8) {
      const int32x4_t q0 = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xr + k), vinv)), lo), hi);
      const int32x4_t q1 = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xr + k + 4), vinv)), lo), hi);
      vst1_s8(o + k, vmovn_s16(vcombine_s16(vmovn_s32(q0), vmovn_s32(q1))));
    }
    for (; k < K; ++k) o[k] = static_cast<int8_t>(clamp127(rne(xr[k] * inv)));
    for (; k < padded; ++k) o[k] = 0;
  }
}

}  // namespace
}  // namespace aiayn
