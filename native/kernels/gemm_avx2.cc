// AVX2 GEMM block (gemm_kernels.h), compiled with -mavx2 -mfma -mf16c.
//
// Layout: weights packed as [ceil(N/16)][K][16] (zero-padded in N, 64-byte
// aligned). Register tile 6x16: 12 ymm accumulators, two panel loads and six
// broadcasts of x per depth step (15 of the 16 ymm registers). x is read in
// place (row pointers, no packing); gemm.cc keeps the panel block in L2.
// Rows 3..5 at the bottom edge use the same kernel instantiated for fewer
// rows; a last 1 or 2 rows take 1x64 tiles over four panels or 2x32 over two
// (8 accumulators: enough independent chains for the FMA latency without
// splitting the depth). Column edges use maskload/maskstore. Epilogue in
// registers: + bias, then the activation (activate_ps from vecmath_avx2.h:
// ReLU, exact-erf GELU with erf_ps (absolute error <= 1.2e-7), tanh GELU,
// SiLU), + residual. fp32 accumulation in depth order
// within a block: each output element is one FMA chain over the block's
// depth, whatever the tile, so a row's result does not depend on how many
// rows share the call (gemm.cc).
//
// ODR: only intrinsics, declaration-only headers and the static-inline
// vecmath and activation headers are included here, and every helper has internal linkage.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm_kernels.h"
#include "vecmath_avx2.h"

namespace aiayn {
namespace {

constexpr int kNr = 16;

// acc[r][2p + j] += x[r][k] * b_p[k][8 j] for the MR rows and NP panels
// (b_p = b + p * pstride), two vectors of columns per panel.
template <int MR, int NP>
__attribute__((always_inline)) inline void fma_step(const float* const* xr, int64_t k,
                                                    const float* b, int64_t pstride,
                                                    __m256 (&acc)[MR][2 * NP]) {
  __m256 bv[2 * NP];
  #pragma GCC unroll 8
  for (int c = 0; c < 2 * NP; ++c) bv[c] = _mm256_load_ps(b + (c / 2) * pstride + k * kNr + 8 * (c % 2));
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m256 a = _mm256_broadcast_ss(xr[r] + k);
    #pragma GCC unroll 8
    for (int c = 0; c < 2 * NP; ++c) acc[r][c] = _mm256_fmadd_ps(a, bv[c], acc[r][c]);
  }
}

// y[0:MR, 0:cols] (+)= x[0:MR, 0:kc] . [b_0 .. b_NP-1][0:kc, 0:16], then the
// epilogue; the NP panels are pstride floats apart and cover adjacent columns
// of y. One accumulator per output vector, one FMA chain over the depth in
// order: narrow tiles get their independent chains from more panels (NP),
// never by splitting the depth (which would round a row differently by tile
// height).
template <int MR, int NP>
inline void tile(const GemmBlock& blk, const float* x, const float* b, float* y,
                 const float* bias, int cols) {
  constexpr int NC = 2 * NP;
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i mask[NC];
  #pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) mask[c] = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8 * c), iota);
  const float* xr[MR];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = x + r * blk.ldx;

  __m256 acc[MR][NC];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();

  const int64_t kc = blk.kc, pstride = blk.panel_stride;
  for (int64_t k = 0; k < kc; ++k) fma_step<MR, NP>(xr, k, b, pstride, acc);

  __m256 bv[NC];
  #pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) {
    bv[c] = blk.finish && bias ? _mm256_maskload_ps(bias + 8 * c, mask[c]) : _mm256_setzero_ps();
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * blk.ldy;
    #pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) {
      __m256 v = acc[r][c];
      if (blk.accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(yr + 8 * c, mask[c]));
      if (blk.finish) {
        v = activate_ps(_mm256_add_ps(v, bv[c]), blk.act);
        if (blk.residual) {
          v = _mm256_add_ps(v, _mm256_maskload_ps(blk.residual + (yr - blk.y) + 8 * c, mask[c]));
        }
      }
      _mm256_maskstore_ps(yr + 8 * c, mask[c], v);
    }
  }
}

// Rows [i0, i0 + 6) (3..5 at the bottom edge) of panel c0 / kNr.
void tile_panel(const GemmBlock& blk, int64_t i0, int64_t c0) {
  const float* x = blk.x + i0 * blk.ldx;
  const float* b = blk.b + (c0 / kNr) * blk.panel_stride;
  float* y = blk.y + i0 * blk.ldy + c0;
  const float* bias = blk.bias ? blk.bias + c0 : nullptr;
  const int cols = static_cast<int>(blk.n - c0 < kNr ? blk.n - c0 : kNr);
  switch (blk.m - i0 >= 6 ? 6 : blk.m - i0) {
    case 6: tile<6, 1>(blk, x, b, y, bias, cols); break;
    case 5: tile<5, 1>(blk, x, b, y, bias, cols); break;
    case 4: tile<4, 1>(blk, x, b, y, bias, cols); break;
    default: tile<3, 1>(blk, x, b, y, bias, cols); break;
  }
}

// The last 1 or 2 rows, from row i0, of the group of up to kPanelGroupAvx2
// panels from column n0: 2 rows over pairs of panels, 1 row over four (8
// accumulators either way); an edge with fewer panels left takes narrower
// tiles.
void tile_narrow(const GemmBlock& blk, int64_t i0, int64_t n0) {
  const float* x = blk.x + i0 * blk.ldx;
  const bool two = blk.m - i0 == 2;
  const int64_t n1 = blk.n - n0 < kPanelGroupAvx2 * kNr ? blk.n : n0 + kPanelGroupAvx2 * kNr;
  const int64_t width = (two ? 2 : 4) * kNr;  // columns per tile
  for (int64_t c0 = n0; c0 < n1; c0 += width) {
    const float* b = blk.b + (c0 / kNr) * blk.panel_stride;
    float* y = blk.y + i0 * blk.ldy + c0;
    const float* bias = blk.bias ? blk.bias + c0 : nullptr;
    const int cols = static_cast<int>(n1 - c0 < width ? n1 - c0 : width);
    switch ((two ? 10 : 0) + (cols + kNr - 1) / kNr) {  // rows and panels in this tile
      case 12: tile<2, 2>(blk, x, b, y, bias, cols); break;
      case 11: tile<2, 1>(blk, x, b, y, bias, cols); break;
      case 4: tile<1, 4>(blk, x, b, y, bias, cols); break;
      case 3: tile<1, 3>(blk, x, b, y, bias, cols); break;
      case 2: tile<1, 2>(blk, x, b, y, bias, cols); break;
      default: tile<1, 1>(blk, x, b, y, bias, cols); break;
    }
  }
}

}  // namespace

void linear_block_avx2(const GemmBlock& blk) {
  constexpr int64_t group = kPanelGroupAvx2 * kNr;  // columns
  const int64_t last = (blk.m - 1) / 6 * 6;         // first row of the last row tile
  const bool narrow = blk.m - last < 3;             // it has 1 or 2 rows
  const int64_t wide_end = narrow ? last : blk.m;   // rows taken by tile_panel
  if (blk.panel_outer) {
    // Per group of panels: every row tile over each panel while it is in L1,
    // then the narrow rows over the whole group.
    for (int64_t n0 = 0; n0 < blk.n; n0 += group) {
      for (int64_t c0 = n0; c0 < blk.n && c0 < n0 + group; c0 += kNr)
        for (int64_t i0 = 0; i0 < wide_end; i0 += 6) tile_panel(blk, i0, c0);
      if (narrow) tile_narrow(blk, last, n0);
    }
  } else {
    for (int64_t i0 = 0; i0 < wide_end; i0 += 6)
      for (int64_t c0 = 0; c0 < blk.n; c0 += kNr) tile_panel(blk, i0, c0);
    if (narrow)
      for (int64_t n0 = 0; n0 < blk.n; n0 += group) tile_narrow(blk, last, n0);
  }
}

}  // namespace aiayn
