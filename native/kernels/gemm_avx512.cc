// AVX-512 GEMM block (gemm_kernels.h), compiled with -mavx512f/bw/dq/vl -mfma.
//
// Layout: weights packed as [ceil(N/64)][K][64] (zero-padded in N, 64-byte
// aligned). Register tile 6x64: 24 zmm accumulators; per depth step four
// aligned panel loads and six broadcasts of x feed 24 FMAs (10 loads per 12
// cycles of both FMA pipes). x is read in place
// (row pointers, no packing): a 6 x kc slice of x stays in L1 while gemm.cc
// keeps the panel block it sweeps in L2. Column edges use masked loads/stores;
// rows 1..5 at the bottom edge use the same kernel instantiated for fewer rows.
// Epilogue in registers: + bias, then ReLU or exact-erf GELU (erf_ps from
// vecmath_avx512.h, absolute error <= 1.2e-7). fp32 accumulation in depth
// order within a block.
//
// ODR: only intrinsics, declaration-only headers and the static-inline
// vecmath header are included here, and every helper has internal linkage, so
// no AVX-512 code can be shared with baseline TUs through the linker.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm_kernels.h"
#include "vecmath_avx512.h"

namespace aiayn {
namespace {

constexpr int kNr = 64;

inline __m512 activate(__m512 v, Activation act) {
  if (act == Activation::relu) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (act == Activation::gelu) {
    const __m512 h = _mm512_mul_ps(v, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(h, erf_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f))), h);
  }
  return v;
}

// acc[r][:] += x[r][k] * panel[k][:] for the MR rows.
template <int MR>
__attribute__((always_inline)) inline void fma_step(const float* const* xr, int64_t k,
                                                    const float* b, __m512 (&acc)[MR][4]) {
  const float* bk = b + k * kNr;
  const __m512 b0 = _mm512_load_ps(bk);
  const __m512 b1 = _mm512_load_ps(bk + 16);
  const __m512 b2 = _mm512_load_ps(bk + 32);
  const __m512 b3 = _mm512_load_ps(bk + 48);
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512 a = _mm512_set1_ps(xr[r][k]);
    acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
    acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
    acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
  }
}

// y[0:MR, 0:cols] (+)= x[0:MR, 0:kc] . panel[0:kc, 0:64], then the epilogue.
template <int MR>
inline void tile(const GemmBlock& blk, const float* x, const float* b, float* y,
                 const float* bias, int cols) {
  __mmask16 mask[4];
  #pragma GCC unroll 8
  for (int j = 0; j < 4; ++j) {
    const int c = cols - 16 * j;
    mask[j] = c >= 16 ? __mmask16(0xFFFF) : c <= 0 ? __mmask16(0) : __mmask16((1u << c) - 1);
  }
  const float* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = x + r * blk.ldx;

  // One row has only 4 independent FMA chains, too few to hide the FMA
  // latency: it splits the depth into two interleaved halves summed at the end.
  constexpr int KS = MR == 1 ? 2 : 1;
  __m512 acc[KS][MR][4];
  #pragma GCC unroll 8
  for (int s = 0; s < KS; ++s)
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 8
      for (int j = 0; j < 4; ++j) acc[s][r][j] = _mm512_setzero_ps();

  const int64_t kc = blk.kc;
  int64_t k = 0;
  for (; k + KS <= kc; k += KS) {
    #pragma GCC unroll 8
    for (int s = 0; s < KS; ++s) fma_step<MR>(xr, k + s, b, acc[s]);
  }
  for (; k < kc; ++k) fma_step<MR>(xr, k, b, acc[0]);
  #pragma GCC unroll 8
  for (int s = 1; s < KS; ++s)
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 8
      for (int j = 0; j < 4; ++j) acc[0][r][j] = _mm512_add_ps(acc[0][r][j], acc[s][r][j]);

  __m512 bv[4];
  #pragma GCC unroll 8
  for (int j = 0; j < 4; ++j) {
    bv[j] = blk.finish && bias ? _mm512_maskz_loadu_ps(mask[j], bias + 16 * j)
                               : _mm512_setzero_ps();
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * blk.ldy;
    #pragma GCC unroll 8
    for (int j = 0; j < 4; ++j) {
      __m512 v = acc[0][r][j];
      if (blk.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[j], yr + 16 * j));
      if (blk.finish) {
        v = activate(_mm512_add_ps(v, bv[j]), blk.act);
        if (blk.residual) {
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[j], blk.residual + (yr - blk.y) + 16 * j));
        }
      }
      _mm512_mask_storeu_ps(yr + 16 * j, mask[j], v);
    }
  }
}

void tile_rows(const GemmBlock& blk, int64_t i0, int64_t n0) {
  const float* x = blk.x + i0 * blk.ldx;
  const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
  float* y = blk.y + i0 * blk.ldy + n0;
  const float* bias = blk.bias ? blk.bias + n0 : nullptr;
  const int cols = static_cast<int>(blk.n - n0 < kNr ? blk.n - n0 : kNr);
  const int64_t rows = blk.m - i0;
  switch (rows >= 6 ? 6 : rows) {
    case 6: tile<6>(blk, x, b, y, bias, cols); break;
    case 5: tile<5>(blk, x, b, y, bias, cols); break;
    case 4: tile<4>(blk, x, b, y, bias, cols); break;
    case 3: tile<3>(blk, x, b, y, bias, cols); break;
    case 2: tile<2>(blk, x, b, y, bias, cols); break;
    default: tile<1>(blk, x, b, y, bias, cols); break;
  }
}

}  // namespace

void linear_block_avx512(const GemmBlock& blk) {
  if (blk.panel_outer) {
    for (int64_t n0 = 0; n0 < blk.n; n0 += kNr)
      for (int64_t i0 = 0; i0 < blk.m; i0 += 6) tile_rows(blk, i0, n0);
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += 6)
      for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) tile_rows(blk, i0, n0);
  }
}

}  // namespace aiayn
