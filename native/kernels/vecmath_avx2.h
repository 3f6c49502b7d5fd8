// AVX2 + FMA vector traits (8 fp32 lanes) and vecmath.h over them. Include
// only from translation units compiled with -mavx2 -mfma: everything here is
// in an anonymous namespace (or instantiated on VecAvx2, which is), so each
// such TU has its own copy and no code crosses TUs with other target flags.
//
// The interface every traits struct offers (VecAvx512 the same, 16 lanes):
//   V (vector), VI (int32 vector), M (lane mask: here a float vector of
//   all-ones / zero lanes), W (lanes);
//   loads/stores: load/store (aligned to the vector), loadu/storeu,
//   maskz_loadu (masked-off lanes read 0, never touch memory), mask_storeu;
//   masks: tail(n) (lanes [0, n): none for n <= 0, all for n >= W), all(), none(), bits(m)
//   (lane k -> bit k), mask_or, mask_and, maskz(m, v) (v with lanes outside m zeroed);
//   arithmetic: add sub mul div fmadd (a b + c) fnmadd (c - a b), min/max
//   (as the instructions: on NaN the second operand is returned), round
//   (to nearest even), scale_pow2(p, n) (p 2^n for integral n in [-152, 130],
//   rounded once), and_/or_/andnot (bit operations; andnot(a, b) = ~a & b);
//   compares lt/eq (ordered), unord; blend(m, a, b) (m ? b : a);
//   reductions reduce_add/reduce_max, and sums_of(v[W]) (lane k = the sum of
//   v[k]'s lanes, a shuffle tree); transpose(r[W]) (r[c] becomes column c);
//   int32: set1_i, bits_of (the float bits), cmpgt_i, blend_i, and_i,
//   negate_if_neg_i(a, bits) (-a where bits < 0, else a).
// Results of every primitive are fixed by IEEE fp32 (and by the order of the
// reduction trees, fixed here), so a kernel written over them gives the same
// bits every time on one ISA.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "activation.h"

namespace aiayn {
namespace {

struct VecAvx2 {
  using V = __m256;
  using VI = __m256i;
  using M = __m256;
  static constexpr int W = 8;

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V maskz_loadu(M m, const float* p) { return _mm256_maskload_ps(p, _mm256_castps_si256(m)); }
  static void mask_storeu(float* p, M m, V v) { _mm256_maskstore_ps(p, _mm256_castps_si256(m), v); }

  static M tail(int64_t n) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 0 ? 0 : n < W ? n : W)), iota));
  }
  static M all() { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }
  static M none() { return _mm256_setzero_ps(); }
  static int bits(M m) { return _mm256_movemask_ps(m); }
  static M mask_or(M a, M b) { return _mm256_or_ps(a, b); }
  static M mask_and(M a, M b) { return _mm256_and_ps(a, b); }
  static V maskz(M m, V v) { return _mm256_and_ps(v, m); }

  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // Two exponent-field multiplies 2^(n>>1) * 2^(n-(n>>1)), each a normal
  // float for every n in range, so overflow and underflow round once.
  static V scale_pow2(V p, V n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  static V and_(V a, V b) { return _mm256_and_ps(a, b); }
  static V or_(V a, V b) { return _mm256_or_ps(a, b); }
  static V andnot(V a, V b) { return _mm256_andnot_ps(a, b); }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static V blend(M m, V a, V b) { return _mm256_blendv_ps(a, b, m); }

  static float reduce_add(V x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(V x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static V sums_of(const V* v) {
    __m256 s[4];
    for (int k = 0; k < 4; ++k)
      s[k] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    const __m256 g0 = _mm256_add_ps(_mm256_shuffle_ps(s[0], s[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm256_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 g1 = _mm256_add_ps(_mm256_shuffle_ps(s[2], s[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm256_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
  }
  static void transpose(V (&r)[W]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4 i + j], 128-bit lane L: column 4 L + j of rows 4 i .. 4 i + 3.
    for (int i = 0; i < 2; ++i) {
      u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
  }

  static VI set1_i(int32_t x) { return _mm256_set1_epi32(x); }
  static VI bits_of(V v) { return _mm256_castps_si256(v); }
  static M cmpgt_i(VI a, VI b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b)); }
  static VI blend_i(M m, VI a, VI b) { return _mm256_blendv_epi8(a, b, _mm256_castps_si256(m)); }
  static VI and_i(VI a, VI b) { return _mm256_and_si256(a, b); }
  // -a in the lanes where `bits` is negative (sign bit set), a elsewhere.
  static VI negate_if_neg_i(VI a, VI bits) {
    const __m256i sign = _mm256_srai_epi32(bits, 31);  // 0 or -1
    return _mm256_sub_epi32(_mm256_xor_si256(a, sign), sign);
  }
};

}  // namespace
}  // namespace aiayn

#include "vecmath.h"

namespace aiayn {
namespace {

// The epilogue activation of the AVX2 GEMM (gemm_avx2.cc).
inline __m256 activate_ps(__m256 v, Activation act) { return Math<VecAvx2>::activate(v, act); }

}  // namespace
}  // namespace aiayn
