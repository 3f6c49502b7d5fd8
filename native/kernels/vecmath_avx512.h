// AVX-512 vector traits (16 fp32 lanes, opmask registers as masks) and
// vecmath.h over them. Include only from translation units compiled with
// -mavx512f -mavx512dq -mavx512bw -mavx512vl: everything here is in an
// anonymous namespace (or instantiated on VecAvx512, which is), so each such
// TU has its own copy and no code crosses TUs with other target flags.
// The interface is VecAvx2's (vecmath_avx2.h); M is an __mmask16 here, and
// scale_pow2 is vscalefps, which rounds overflow and underflow once itself.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "activation.h"

namespace aiayn {
namespace {

struct VecAvx512 {
  using V = __m512;
  using VI = __m512i;
  using M = __mmask16;
  static constexpr int W = 16;

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V maskz_loadu(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void mask_storeu(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }

  static M tail(int64_t n) { return n <= 0 ? 0 : n >= W ? static_cast<M>(0xFFFF) : static_cast<M>((1u << n) - 1u); }
  static M all() { return static_cast<M>(0xFFFF); }
  static M none() { return 0; }
  static int bits(M m) { return m; }
  static M mask_or(M a, M b) { return a | b; }
  static M mask_and(M a, M b) { return a & b; }
  static V maskz(M m, V v) { return _mm512_maskz_mov_ps(m, v); }

  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V scale_pow2(V p, V n) { return _mm512_scalef_ps(p, n); }
  static V and_(V a, V b) { return _mm512_and_ps(a, b); }
  static V or_(V a, V b) { return _mm512_or_ps(a, b); }
  static V andnot(V a, V b) { return _mm512_andnot_ps(a, b); }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
  static V blend(M m, V a, V b) { return _mm512_mask_blend_ps(m, a, b); }

  static float reduce_add(V x) { return _mm512_reduce_add_ps(x); }
  static float reduce_max(V x) { return _mm512_reduce_max_ps(x); }
  static V sums_of(const V* v) {
    __m512 s[8], g[4];
    for (int k = 0; k < 8; ++k)
      s[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; ++k)
      g[k] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm512_shuffle_ps(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                     _mm512_shuffle_f32x4(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(g[2], g[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                     _mm512_shuffle_f32x4(g[2], g[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  static void transpose(V (&r)[W]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4 i + j], 128-bit lane L: column 4 L + j of rows 4 i .. 4 i + 3.
    for (int i = 0; i < 4; ++i) {
      u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      const __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(2, 0, 2, 0));
      const __m512 b = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 1, 3, 1));
      const __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(2, 0, 2, 0));
      const __m512 d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 1, 3, 1));
      r[j] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(2, 0, 2, 0));
      r[4 + j] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(2, 0, 2, 0));
      r[8 + j] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(3, 1, 3, 1));
      r[12 + j] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(3, 1, 3, 1));
    }
  }

  static VI set1_i(int32_t x) { return _mm512_set1_epi32(x); }
  static VI bits_of(V v) { return _mm512_castps_si512(v); }
  static M cmpgt_i(VI a, VI b) { return _mm512_cmpgt_epi32_mask(a, b); }
  static VI blend_i(M m, VI a, VI b) { return _mm512_mask_mov_epi32(a, m, b); }
  static VI and_i(VI a, VI b) { return _mm512_and_si512(a, b); }
  // -a for a negative lane (sign bit set), a otherwise (as VecAvx2's).
  static VI negate_if_neg_i(VI a, VI bits) {
    return _mm512_mask_sub_epi32(a, _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512()), _mm512_setzero_si512(), a);
  }
};

}  // namespace
}  // namespace aiayn

#include "vecmath.h"

namespace aiayn {
namespace {

// The epilogue activation of the AVX-512 GEMM (gemm_avx512.cc).
inline __m512 activate_ps(__m512 v, Activation act) { return Math<VecAvx512>::activate(v, act); }

}  // namespace
}  // namespace aiayn
