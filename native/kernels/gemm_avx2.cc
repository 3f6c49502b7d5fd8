// AVX2 GEMM blocks (gemm_kernels.h), compiled with -mavx2 -mfma -mf16c.
//
// fp32: gemm_f32.h over VecAvx2, weights packed as [ceil(N/16)][K][16]
// (zero-padded in N, 64-byte aligned).
//
// bf16 and int8 (gemm_dt.h over the traits at the bottom): bf16 widened by a
// 16-bit shift into fp32 FMAs, 3x16 tiles (a panel row is four ymm after
// widening); int8 sign-extended to int16 and multiplied with vpmaddwd (exact;
// vpmaddubsw would saturate), 2x16 tiles with four int32 accumulators per
// panel row, each lane summing one k pair of a column, added pairwise at the end.
//
// ODR: only intrinsics, declaration-only headers and the static-inline
// vecmath and activation headers are included here, and every helper has internal linkage.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gemm_dt.h"
#include "gemm_f32.h"
#include "gemm_kernels.h"
#include "quant.h"
#include "vecmath_avx2.h"

namespace aiayn {
namespace {

// f32_gemm_6x16__avx2: 6x16 row tiles (12 ymm accumulators, two panel loads
// and six broadcasts per depth step: 15 of the 16 ymm registers), the last 1
// or 2 rows as 1x64 over four panels or 2x32 over two (8 accumulators).
using GemmAvx2 = F32Gemm<VecAvx2, 2, 6, 2, 4>;
static_assert(GemmAvx2::kNr == kNrAvx2 && GemmAvx2::kGroup == kPanelGroupAvx2, "gemm.cc's blocking");

// The vector layer of gemm_dt.h: 16 floats as two ymm.
struct V256x2 {
  struct F {
    __m256 lo, hi;
  };
  struct Mask {
    __m256i lo, hi;
  };
  static Mask mask(int cols) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {_mm256_cmpgt_epi32(_mm256_set1_epi32(cols), iota), _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), iota)};
  }
  static F fzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static F load(const float* p, const Mask& m) { return {_mm256_maskload_ps(p, m.lo), _mm256_maskload_ps(p + 8, m.hi)}; }
  static void store(float* p, const Mask& m, const F& v) {
    _mm256_maskstore_ps(p, m.lo, v.lo);
    _mm256_maskstore_ps(p + 8, m.hi, v.hi);
  }
  static F add(const F& a, const F& b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static F act(const F& v, Activation a) { return {activate_ps(v.lo, a), activate_ps(v.hi, a)}; }
};

struct Bf16Wide256 : V256x2 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 3, kNp = 1, kNp1 = 2;
  using Acc = F;
  struct W {
    __m256 even_lo, odd_lo, even_hi, odd_hi;
  };
  struct X {
    __m256 even, odd;
  };
  static void zero(Acc& a) { a = fzero(); }
  static W load_w(const uint32_t* b) {
    const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 8));
    const __m256i top = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(lo, 16)), _mm256_castsi256_ps(_mm256_and_si256(lo, top)),
            _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16)), _mm256_castsi256_ps(_mm256_and_si256(hi, top))};
  }
  static X load_x(const uint8_t* x) {
    uint32_t pair;
    std::memcpy(&pair, x, 4);
    return {_mm256_set1_ps(bits_f32(pair << 16)), _mm256_set1_ps(bits_f32(pair & 0xFFFF0000u))};
  }
  // Odd first, then even: vdpbf16ps's order, so every path gives the same bits.
  static void madd(Acc& a, const X& x, const W& w) {
    a.lo = _mm256_fmadd_ps(x.odd, w.odd_lo, a.lo);
    a.lo = _mm256_fmadd_ps(x.even, w.even_lo, a.lo);
    a.hi = _mm256_fmadd_ps(x.odd, w.odd_hi, a.hi);
    a.hi = _mm256_fmadd_ps(x.even, w.even_hi, a.hi);
  }
  static F result(const Acc& a, const DtBlock&, int64_t, int64_t, const Mask&) { return a; }
};

struct Q8Wide256 : V256x2 {
  static constexpr int64_t kXBytes = 8;  // 4 int16
  static constexpr int kMr = 2, kNp = 1, kNp1 = 1;
  // v[i]: columns 4i..4i+3; lane 2c + j sums depth pair j of column 4i + c.
  struct Acc {
    __m256i v[4];
  };
  using W = Acc;
  using X = __m256i;
  static void zero(Acc& a) {
    for (__m256i& v : a.v) v = _mm256_setzero_si256();
  }
  static W load_w(const uint32_t* b) {
    W w;
    for (int i = 0; i < 4; ++i) {
      w.v[i] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(b + 4 * i)));
    }
    return w;
  }
  static X load_x(const uint8_t* x) {
    int64_t quad;
    std::memcpy(&quad, x, 8);
    return _mm256_set1_epi64x(quad);
  }
  static void madd(Acc& a, X x, const W& w) {
    for (int i = 0; i < 4; ++i) a.v[i] = _mm256_add_epi32(a.v[i], _mm256_madd_epi16(w.v[i], x));
  }
  static F result(const Acc& a, const DtBlock& blk, int64_t row, int64_t c0, const Mask& m) {
    // hadd gives columns (0 1 4 5 | 2 3 6 7) of the two inputs; the permute orders them.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a.v[0], a.v[1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a.v[2], a.v[3]), 0xD8);
    const __m256 t = _mm256_set1_ps(blk.xscale[row]);
    const F s = load(blk.wscale + c0, m);
    return {_mm256_mul_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(t, s.lo)),
            _mm256_mul_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(t, s.hi))};
  }
};

// bf16(v) for 8 lanes as in bf16_bits (quant.h), in the low 16 bits of each lane.
__m256i bf16_round_epi32(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i exp = _mm256_set1_epi32(static_cast<int>(kF32ExpMask));
  const __m256i mag = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd), 16);
  const __m256i nan = _mm256_cmpgt_epi32(mag, exp);  // signed compare: mag < 2^31
  const __m256i den = _mm256_cmpeq_epi32(_mm256_and_si256(u, exp), _mm256_setzero_si256());
  const __m256i with_nan = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
  return _mm256_blendv_epi8(with_nan, _mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), den);
}

// 8 int32 lanes (each within int16, or within uint16 when `bits`) to 8 16-bit
// values in the low 128 bits.
template <bool bits>
__m128i pack_16(__m256i v) {
  const __m256i p = bits ? _mm256_packus_epi32(v, v) : _mm256_packs_epi32(v, v);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
}

void prep_bf16(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float*) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<uint16_t*>(out + i * ldo);
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + k), pack_16<true>(bf16_round_epi32(_mm256_loadu_ps(xr + k))));
    }
    for (; k < K; ++k) o[k] = bf16_bits(xr[k]);
    if (K % 2) o[K] = 0;
  }
}

// As quantize_q8 (quant.h), stored as int16 and zero-padded to 4 depth values.
void prep_q8(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float* scale) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<int16_t*>(out + i * ldo);
    __m256i amax = _mm256_setzero_si256();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      const __m256i a = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr + k)),
                                         _mm256_set1_epi32(0x7FFFFFFF));
      amax = _mm256_max_epu32(amax, a);
    }
    uint32_t lanes[8];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), amax);
    uint32_t am = 0;
    for (uint32_t v : lanes) am = v > am ? v : am;
    for (; k < K; ++k) {
      const uint32_t a = f32_bits(xr[k]) & 0x7FFFFFFFu;
      am = a > am ? a : am;
    }
    const int64_t padded = (K + 3) / 4 * 4;
    if (am >= kF32ExpMask || am < 0x00800000u) {
      std::memset(o, 0, static_cast<size_t>(padded) * 2);
      scale[i] = am >= kF32ExpMask ? NAN : 0.0f;
      continue;
    }
    const float a = bits_f32(am);
    const float inv = 127.0f / a;
    scale[i] = a / 127.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (k = 0; k + 8 <= K; k += 8) {
      __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + k), vinv));
      q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(-127)), _mm256_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + k), pack_16<false>(q));
    }
    for (; k < K; ++k) o[k] = static_cast<int16_t>(clamp127(rne(xr[k] * inv)));
    for (; k < padded; ++k) o[k] = 0;
  }
}

}  // namespace

DtKernels dt_kernels_avx2(DType dtype) {
  if (dtype == DType::bf16) return {"bf16_f32_gemm_3x16__avx2", prep_bf16, dt_block<Bf16Wide256>, 4, 3, 2};
  return {"qd8_f32_qc8w_gemm_2x16__avx2", prep_q8, dt_block<Q8Wide256>, 8, 2, 1};
}

void linear_block_avx2(const GemmBlock& blk) { GemmAvx2::block(blk); }

}  // namespace aiayn
