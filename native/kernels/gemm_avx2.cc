// AVX2 GEMM block (gemm_kernels.h), compiled with -mavx2 -mfma -mf16c.
//
// Layout: weights packed as [ceil(N/16)][K][16] (zero-padded in N, 64-byte
// aligned). Register tile 6x16: 12 ymm accumulators, two panel loads and six
// broadcasts of x per depth step (15 of the 16 ymm registers). x is read in
// place (row pointers, no packing); gemm.cc keeps the panel block in L2.
// Column edges use maskload/maskstore; rows 1..5 at the bottom edge use the
// same kernel instantiated for fewer rows. Epilogue in registers: + bias, then
// ReLU or exact-erf GELU (erf_ps from vecmath_avx2.h, absolute error <=
// 1.2e-7). fp32 accumulation in depth order within a block.
//
// ODR: only intrinsics, declaration-only headers and the static-inline
// vecmath header are included here, and every helper has internal linkage.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm_kernels.h"
#include "vecmath_avx2.h"

namespace aiayn {
namespace {

constexpr int kNr = 16;

inline __m256 activate(__m256 v, Activation act) {
  if (act == Activation::relu) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (act == Activation::gelu) {
    const __m256 h = _mm256_mul_ps(v, _mm256_set1_ps(0.5f));
    return _mm256_fmadd_ps(h, erf_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f))), h);
  }
  return v;
}

// acc[r][:] += x[r][k] * panel[k][:] for the MR rows.
template <int MR>
__attribute__((always_inline)) inline void fma_step(const float* const* xr, int64_t k,
                                                    const float* b, __m256 (&acc)[MR][2]) {
  const __m256 b0 = _mm256_load_ps(b + k * kNr);
  const __m256 b1 = _mm256_load_ps(b + k * kNr + 8);
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m256 a = _mm256_broadcast_ss(xr[r] + k);
    acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
    acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
  }
}

// y[0:MR, 0:cols] (+)= x[0:MR, 0:kc] . panel[0:kc, 0:16], then the epilogue.
template <int MR>
inline void tile(const GemmBlock& blk, const float* x, const float* b, float* y,
                 const float* bias, int cols) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask[2] = {_mm256_cmpgt_epi32(_mm256_set1_epi32(cols), iota),
                           _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), iota)};
  const float* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = x + r * blk.ldx;

  // Fewer than 3 rows give too few independent FMA chains to hide the FMA
  // latency: they split the depth into interleaved parts summed at the end.
  constexpr int KS = MR == 1 ? 4 : MR == 2 ? 2 : 1;
  __m256 acc[KS][MR][2];
  #pragma GCC unroll 8
  for (int s = 0; s < KS; ++s)
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[s][r][0] = acc[s][r][1] = _mm256_setzero_ps();

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
      for (int j = 0; j < 2; ++j) acc[0][r][j] = _mm256_add_ps(acc[0][r][j], acc[s][r][j]);

  __m256 bv[2];
  #pragma GCC unroll 8
  for (int j = 0; j < 2; ++j) {
    bv[j] = blk.finish && bias ? _mm256_maskload_ps(bias + 8 * j, mask[j]) : _mm256_setzero_ps();
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * blk.ldy;
    #pragma GCC unroll 8
    for (int j = 0; j < 2; ++j) {
      __m256 v = acc[0][r][j];
      if (blk.accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(yr + 8 * j, mask[j]));
      if (blk.finish) {
        v = activate(_mm256_add_ps(v, bv[j]), blk.act);
        if (blk.residual) {
          v = _mm256_add_ps(v, _mm256_maskload_ps(blk.residual + (yr - blk.y) + 8 * j, mask[j]));
        }
      }
      _mm256_maskstore_ps(yr + 8 * j, mask[j], v);
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

void linear_block_avx2(const GemmBlock& blk) {
  if (blk.panel_outer) {
    for (int64_t n0 = 0; n0 < blk.n; n0 += kNr)
      for (int64_t i0 = 0; i0 < blk.m; i0 += 6) tile_rows(blk, i0, n0);
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += 6)
      for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) tile_rows(blk, i0, n0);
  }
}

}  // namespace aiayn
