// AVX-512 pieces of the bf16 / int8 GEMM (gemm_dt.h), shared by the TUs
// compiled with AVX-512 flags only (gemm_avx512.cc, gemm_avx512vnni.cc,
// gemm_avx512bf16.cc); everything is in an anonymous namespace, so each TU
// keeps its own copy.
//   V512            the vector layer: 16 floats per zmm, masks for column edges
//   prep_bf16_sw    x -> bf16 pairs with the contract's rounding in integer ops
//   prep_q8<fmt>    x -> per-row int8 quantisation, stored as u8 (q + 128, for
//                   vpdpbusd) or as int16 (for vpmaddwd)
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_dt.h"
#include "quant.h"
#include "vecmath_avx512.h"

namespace aiayn {
namespace {

struct V512 {
  using F = __m512;
  using Mask = __mmask16;
  static Mask mask(int cols) { return cols >= 16 ? Mask(0xFFFF) : Mask((1u << cols) - 1); }
  static F fzero() { return _mm512_setzero_ps(); }
  static F load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Mask m, F v) { _mm512_mask_storeu_ps(p, m, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F act(F v, Activation a) { return activate_ps(v, a); }
  // fp32(acc) * fp32(t_m * s_n) for an int8 block's 16 column sums.
  static F dequant(__m512i acc, const DtBlock& blk, int64_t row, int64_t c0, Mask m) {
    const __m512 ts = _mm512_mul_ps(_mm512_set1_ps(blk.xscale[row]), _mm512_maskz_loadu_ps(m, blk.wscale + c0));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(acc), ts);
  }
};

// bf16(v) for 16 lanes as in bf16_bits (quant.h), in the low 16 bits of each lane.
inline __m512i bf16_round_epi32(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i mag = _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(mag, _mm512_set1_epi32(static_cast<int>(kF32ExpMask)));
  const __mmask16 den = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(static_cast<int>(kF32ExpMask)));
  r = _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
  return _mm512_mask_and_epi32(r, den, hi, _mm512_set1_epi32(0x8000));
}

inline void prep_bf16_sw(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float*) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<uint16_t*>(out + i * ldo);
    for (int64_t k = 0; k < K; k += 16) {
      const __mmask16 mk = V512::mask(static_cast<int>(K - k < 16 ? K - k : 16));
      _mm512_mask_cvtepi32_storeu_epi16(o + k, mk, bf16_round_epi32(_mm512_maskz_loadu_ps(mk, xr + k)));
    }
    if (K % 2) o[K] = 0;
  }
}

enum class Q8Format { u8, s16 };

// Per row: t = max|x| / 127 and q = clamp(rne(x * (127 / max|x|))), exactly
// as quantize_q8 (quant.h), stored as `fmt` and zero-padded to 4 depth values.
template <Q8Format fmt>
inline void prep_q8(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float* scale) {
  const int64_t padded = (K + 3) / 4 * 4;
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    uint8_t* o = out + i * ldo;
    __m512i amax = _mm512_setzero_si512();
    for (int64_t k = 0; k < K; k += 16) {
      const __mmask16 mk = V512::mask(static_cast<int>(K - k < 16 ? K - k : 16));
      const __m512i a = _mm512_and_si512(_mm512_maskz_loadu_epi32(mk, xr + k), _mm512_set1_epi32(0x7FFFFFFF));
      amax = _mm512_max_epu32(amax, a);
    }
    const uint32_t am = _mm512_reduce_max_epu32(amax);
    const int64_t bytes = padded * (fmt == Q8Format::u8 ? 1 : 2);
    if (am >= kF32ExpMask || am < 0x00800000u) {
      std::memset(o, fmt == Q8Format::u8 ? 0x80 : 0, static_cast<size_t>(bytes));
      scale[i] = am >= kF32ExpMask ? NAN : 0.0f;
      continue;
    }
    const float a = bits_f32(am);
    const __m512 inv = _mm512_set1_ps(127.0f / a);
    scale[i] = a / 127.0f;
    for (int64_t k = 0; k < padded; k += 16) {
      const __mmask16 mk = V512::mask(static_cast<int>(padded - k < 16 ? padded - k : 16));
      const __mmask16 mv = V512::mask(static_cast<int>(K - k < 16 ? (K - k > 0 ? K - k : 0) : 16));
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mv, xr + k), inv));
      q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
      if (fmt == Q8Format::u8) {
        _mm512_mask_cvtepi32_storeu_epi8(o + k, mk, _mm512_add_epi32(q, _mm512_set1_epi32(128)));
      } else {
        _mm512_mask_cvtepi32_storeu_epi16(o + 2 * k, mk, q);
      }
    }
  }
}

}  // namespace
}  // namespace aiayn
