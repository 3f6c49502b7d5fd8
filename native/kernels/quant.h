// The bf16 rounding and int8 quantisation of issue #12's contract (gemm.h), in
// scalar code: weight packing (gemm.cc) and the scalar kernels use these, the
// SIMD paths compute the same values. `static inline`, so every translation
// unit keeps its own copy whatever its -m flags.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace aiayn {

inline constexpr uint32_t kF32ExpMask = 0x7F800000u;

static inline uint32_t f32_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

static inline float bits_f32(uint32_t u) {
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}

// bf16(v): round to nearest even into the upper 16 bits; NaN stays NaN
// (quiet); denormals flush to a signed zero, as vcvtne2ps2bf16 does.
static inline uint16_t bf16_bits(float v) {
  const uint32_t u = f32_bits(v);
  if ((u & 0x7FFFFFFFu) > kF32ExpMask) return static_cast<uint16_t>((u >> 16) | 0x40);
  if ((u & kF32ExpMask) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static inline float bf16_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

// Round half to even, as cvtps2dq under the default MXCSR.
static inline int32_t rne(float v) { return static_cast<int32_t>(std::nearbyint(v)); }

static inline int32_t clamp127(int32_t v) { return v < -127 ? -127 : v > 127 ? 127 : v; }

// The symmetric int8 quantisation of n values: writes q[0, n) and returns the
// scale (max|v| / 127), 0 for an all-zero row (also when every |v| is
// denormal, which the pool threads' DAZ reads as zero), NaN (q all zero) when
// a value is inf or NaN. The maximum is taken over the bit patterns of |v|
// (order-free, and NaN or inf lands above every finite value).
static inline float quantize_q8(const float* v, int64_t n, int8_t* q) {
  uint32_t amax = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = f32_bits(v[i]) & 0x7FFFFFFFu;
    amax = a > amax ? a : amax;
  }
  if (amax >= kF32ExpMask || amax < 0x00800000u) {
    for (int64_t i = 0; i < n; ++i) q[i] = 0;
    return amax >= kF32ExpMask ? NAN : 0.0f;
  }
  const float a = bits_f32(amax);
  const float inv = 127.0f / a;
  for (int64_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(clamp127(rne(v[i] * inv)));
  return a / 127.0f;
}

}  // namespace aiayn
