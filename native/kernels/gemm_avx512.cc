// AVX-512 GEMM block (gemm_kernels.h), compiled with -mavx512f/bw/dq/vl -mfma.
//
// Contract: linear_block_avx512 computes one GemmBlock (see gemm_kernels.h)
// on the calling thread; weights packed as [ceil(N/64)][K][64] (zero-padded
// in N, 64-byte aligned); columns past blk.n are never read from bias nor
// written. fp32 accumulation in depth order within a block.
//
// Micro-kernel sgemm_tile_avx512<MR, NV>: an MR x 16NV register tile, x read
// in place (row pointers, no packing), one broadcast of x per row and NV
// aligned panel loads per depth step.
// - Prefill (row tiles outside panels): 6x64, 24 zmm accumulators, four panel
//   loads and six broadcasts feed 24 FMAs; a 6 x kc slice of x stays in L1
//   while gemm.cc keeps the panel block it sweeps in L2. Rows 1..5 at the
//   bottom edge use the same kernel instantiated for fewer rows.
// - Decode (panel_outer, m <= 12): every row of the block in one tile per
//   panel, so each weight is loaded once: MRx64 up to 6 rows, else two MRx32
//   tiles over the panel's halves. The half tiles prefetch the next panel
//   into L2 as they go (measured: without it each half pass, reading 128 of
//   every 256 bytes, streamed DRAM at half the rate); the full-width tiles
//   do not (measured: the hardware prefetcher alone reads DRAM as fast as a
//   plain read loop, and software prefetches cost 20 % on L3-resident weights).
// Column edges use masked loads/stores. Epilogue in registers: + bias, then
// ReLU or exact-erf GELU (erf_ps from vecmath_avx512.h, absolute error <=
// 1.2e-7), + residual.
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

// acc[r][j] += x[r][k] * b[k][16 j] for the MR rows and NV vectors of columns.
template <int MR, int NV>
__attribute__((always_inline)) inline void sgemm_step_avx512(const float* const* xr, int64_t k,
                                                             const float* b, __m512 (&acc)[MR][NV]) {
  const float* bk = b + k * kNr;
  __m512 bv[NV];
  #pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) bv[j] = _mm512_load_ps(bk + 16 * j);
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    const __m512 a = _mm512_set1_ps(xr[r][k]);
    #pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(a, bv[j], acc[r][j]);
  }
}

// y[0:MR, 0:cols] (+)= x[0:MR, 0:kc] . b[0:kc, 0:16 NV], then the epilogue;
// b points at some column of a panel (rows kNr floats apart). With PF, depth
// step k also prefetches into L2 the same 16 NV columns of row k of `pf`.
template <int MR, int NV, bool PF>
inline void sgemm_tile_avx512(const GemmBlock& blk, const float* x, const float* b, const float* pf,
                              float* y, const float* bias, int cols) {
  __mmask16 mask[NV];
  #pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) {
    const int c = cols - 16 * j;
    mask[j] = c >= 16 ? __mmask16(0xFFFF) : c <= 0 ? __mmask16(0) : __mmask16((1u << c) - 1);
  }
  const float* xr[MR];
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) xr[r] = x + r * blk.ldx;

  // Fewer than 8 accumulators cannot hide the FMA latency: split the depth
  // into two interleaved halves summed at the end.
  constexpr int KS = MR * NV < 8 ? 2 : 1;
  __m512 acc[KS][MR][NV];
  #pragma GCC unroll 2
  for (int s = 0; s < KS; ++s)
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[s][r][j] = _mm512_setzero_ps();

  const int64_t kc = blk.kc;
  int64_t k = 0;
  for (; k + KS <= kc; k += KS) {
    #pragma GCC unroll 2
    for (int s = 0; s < KS; ++s) {
      if (PF) {
        #pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
          _mm_prefetch(reinterpret_cast<const char*>(pf + (k + s) * kNr + 16 * j), _MM_HINT_T1);
        }
      }
      sgemm_step_avx512<MR, NV>(xr, k + s, b, acc[s]);
    }
  }
  for (; k < kc; ++k) sgemm_step_avx512<MR, NV>(xr, k, b, acc[0]);
  #pragma GCC unroll 2
  for (int s = 1; s < KS; ++s)
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      #pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[0][r][j] = _mm512_add_ps(acc[0][r][j], acc[s][r][j]);

  __m512 bv[NV];
  #pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) {
    bv[j] = blk.finish && bias ? _mm512_maskz_loadu_ps(mask[j], bias + 16 * j)
                               : _mm512_setzero_ps();
  }
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * blk.ldy;
    #pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
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

// Rows [i0, i0 + 6) (fewer at the bottom edge) of panel n0 / kNr, 6x64 tiles.
void tile_rows(const GemmBlock& blk, int64_t i0, int64_t n0) {
  const float* x = blk.x + i0 * blk.ldx;
  const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
  float* y = blk.y + i0 * blk.ldy + n0;
  const float* bias = blk.bias ? blk.bias + n0 : nullptr;
  const int cols = static_cast<int>(blk.n - n0 < kNr ? blk.n - n0 : kNr);
  const int64_t rows = blk.m - i0;
  switch (rows >= 6 ? 6 : rows) {
    case 6: sgemm_tile_avx512<6, 4, false>(blk, x, b, b, y, bias, cols); break;
    case 5: sgemm_tile_avx512<5, 4, false>(blk, x, b, b, y, bias, cols); break;
    case 4: sgemm_tile_avx512<4, 4, false>(blk, x, b, b, y, bias, cols); break;
    case 3: sgemm_tile_avx512<3, 4, false>(blk, x, b, b, y, bias, cols); break;
    case 2: sgemm_tile_avx512<2, 4, false>(blk, x, b, b, y, bias, cols); break;
    default: sgemm_tile_avx512<1, 4, false>(blk, x, b, b, y, bias, cols); break;
  }
}

// All MR <= 12 rows of panel n0 / kNr (the decode path, see the top).
template <int MR>
void panel_all_rows(const GemmBlock& blk, int64_t n0) {
  const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
  float* y = blk.y + n0;
  const float* bias = blk.bias ? blk.bias + n0 : nullptr;
  const int cols = static_cast<int>(blk.n - n0 < kNr ? blk.n - n0 : kNr);
  if (MR <= 6) {
    sgemm_tile_avx512<MR, 4, false>(blk, blk.x, b, b, y, bias, cols);
    return;
  }
  const float* next = b + blk.panel_stride;
  sgemm_tile_avx512<MR, 2, true>(blk, blk.x, b, next, y, bias, cols);
  if (cols > 32) {
    sgemm_tile_avx512<MR, 2, true>(blk, blk.x, b + 32, next + 32, y + 32, bias ? bias + 32 : nullptr, cols - 32);
  }
}

using PanelFn = void (*)(const GemmBlock&, int64_t);
constexpr PanelFn kPanelAllRows[] = {
    panel_all_rows<1>, panel_all_rows<2>, panel_all_rows<3>,  panel_all_rows<4>,
    panel_all_rows<5>, panel_all_rows<6>, panel_all_rows<7>,  panel_all_rows<8>,
    panel_all_rows<9>, panel_all_rows<10>, panel_all_rows<11>, panel_all_rows<12>};

}  // namespace

static_assert(kSmallM <= 12, "the decode path has one panel_all_rows per row count up to 12");

void linear_block_avx512(const GemmBlock& blk) {
  if (blk.panel_outer) {
    const PanelFn fn = kPanelAllRows[blk.m - 1];
    for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) fn(blk, n0);
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += 6)
      for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) tile_rows(blk, i0, n0);
  }
}

}  // namespace aiayn
