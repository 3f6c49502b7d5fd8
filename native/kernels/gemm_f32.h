// The fp32 GEMM block (GemmBlock, gemm_kernels.h) written once over the
// vector traits S of vecmath_<isa>.h and a tile shape, instantiated by the
// ISA translation units (gemm_avx2.cc, gemm_neon.cc); everything here is in
// an anonymous namespace or templated on S, so no instantiation is shared
// between ISAs through the linker.
//
// F32Gemm<S, NV, MR, NP2, NP1>: panels of NR = NV W columns ([ceil(N/NR)][K]
// [NR], gemm.cc packs them); x read in place (row pointers, no packing).
// - Row tiles of MR rows x one panel: MR NV accumulators, NV aligned panel
//   loads and MR broadcasts of x per depth step. Rows 3..MR-1 at the bottom
//   edge use the same tile instantiated for fewer rows.
// - A last 1 or 2 rows take narrow tiles over several panels: 2 rows x NP2
//   panels, 1 row x NP1 panels, so that enough independent FMA chains hide
//   the latency without splitting the depth. gemm.cc gives decode tasks
//   whole groups of kGroup = max(NP1, NP2) panels.
// - Prefill sweeps row tiles outside panels over the panel block gemm.cc
//   keeps in L2; decode (panel_outer) runs every row tile over one panel
//   while it is in L1, group by group, so each weight streams from memory
//   once.
// Column edges use masked loads/stores (S::tail). Epilogue in registers:
// + bias, then the activation (vecmath.h's Math<S>::activate), + residual.
// Every output element is one FMA chain over the block's depth in order,
// whatever the tile, so a row's result does not depend on how many rows
// share the call (gemm.cc's batch invariance).
#pragma once

#include <cstdint>

#include "gemm_kernels.h"
#include "vecmath.h"

namespace aiayn {
namespace {

template <class S, int NV, int MR, int NP2, int NP1>
struct F32Gemm {
  using V = typename S::V;
  using M = typename S::M;
  static constexpr int W = S::W;
  static constexpr int kNr = NV * W;
  static constexpr int kGroup = NP1 > NP2 ? NP1 : NP2;
  static_assert(MR >= 3, "rows 1 and 2 take the narrow tiles");

  // acc[r][p NV + v] += x[r][k] * b_p[k][v W] for R rows and NP panels
  // (b_p = b + p * pstride).
  template <int R, int NP>
  __attribute__((always_inline)) static inline void step(const float* const* xr, int64_t k, const float* b,
                                                         int64_t pstride, V (&acc)[R][NP * NV]) {
    V bv[NP * NV];
    #pragma GCC unroll 16
    for (int c = 0; c < NP * NV; ++c) bv[c] = S::load(b + (c / NV) * pstride + k * kNr + W * (c % NV));
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V a = S::set1(xr[r][k]);
      #pragma GCC unroll 16
      for (int c = 0; c < NP * NV; ++c) acc[r][c] = S::fmadd(a, bv[c], acc[r][c]);
    }
  }

  // y[0:R, 0:cols] (+)= x[0:R, 0:kc] . [b_0 .. b_NP-1][0:kc, 0:NR], then the
  // epilogue; the NP panels are pstride floats apart and cover adjacent
  // columns of y.
  template <int R, int NP>
  static void tile(const GemmBlock& blk, const float* x, const float* b, float* y, const float* bias, int cols) {
    constexpr int NC = NP * NV;
    M mask[NC];
    #pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) mask[c] = S::tail(cols - W * c);
    const float* xr[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) xr[r] = x + r * blk.ldx;

    V acc[R][NC];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) acc[r][c] = S::zero();

    const int64_t kc = blk.kc, pstride = blk.panel_stride;
    for (int64_t k = 0; k < kc; ++k) step<R, NP>(xr, k, b, pstride, acc);

    V bv[NC];
    #pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) bv[c] = blk.finish && bias ? S::maskz_loadu(mask[c], bias + W * c) : S::zero();
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* yr = y + r * blk.ldy;
      #pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        V v = acc[r][c];
        if (blk.accumulate) v = S::add(v, S::maskz_loadu(mask[c], yr + W * c));
        if (blk.finish) {
          v = Math<S>::activate(S::add(v, bv[c]), blk.act);
          if (blk.residual) v = S::add(v, S::maskz_loadu(mask[c], blk.residual + (yr - blk.y) + W * c));
        }
        S::mask_storeu(yr + W * c, mask[c], v);
      }
    }
  }

  // tile<R, 1> for 3 <= rows <= MR.
  template <int R>
  static void rows_upto(const GemmBlock& blk, int64_t rows, const float* x, const float* b, float* y,
                        const float* bias, int cols) {
    if constexpr (R > 3) {
      if (rows < R) return rows_upto<R - 1>(blk, rows, x, b, y, bias, cols);
    }
    tile<R, 1>(blk, x, b, y, bias, cols);
  }

  // Rows [i0, i0 + MR) (3..MR-1 at the bottom edge) of panel c0 / kNr.
  static void tile_panel(const GemmBlock& blk, int64_t i0, int64_t c0) {
    const int64_t rows = blk.m - i0 < MR ? blk.m - i0 : MR;
    rows_upto<MR>(blk, rows, blk.x + i0 * blk.ldx, blk.b + (c0 / kNr) * blk.panel_stride, blk.y + i0 * blk.ldy + c0,
                  blk.bias ? blk.bias + c0 : nullptr, static_cast<int>(blk.n - c0 < kNr ? blk.n - c0 : kNr));
  }

  // tile<R, np> for 1 <= np <= NP.
  template <int R, int NP>
  static void panels_upto(const GemmBlock& blk, int64_t np, const float* x, const float* b, float* y,
                          const float* bias, int cols) {
    if constexpr (NP > 1) {
      if (np < NP) return panels_upto<R, NP - 1>(blk, np, x, b, y, bias, cols);
    }
    tile<R, NP>(blk, x, b, y, bias, cols);
  }

  // The last 1 or 2 rows, from row i0, of the group of up to kGroup panels
  // from column n0: 2 rows x NP2 panels, 1 row x NP1 (an edge with fewer
  // panels left takes narrower tiles).
  static void tile_narrow(const GemmBlock& blk, int64_t i0, int64_t n0) {
    const float* x = blk.x + i0 * blk.ldx;
    const bool two = blk.m - i0 == 2;
    const int64_t n1 = blk.n - n0 < kGroup * kNr ? blk.n : n0 + kGroup * kNr;
    const int64_t width = (two ? NP2 : NP1) * kNr;  // columns per tile
    for (int64_t c0 = n0; c0 < n1; c0 += width) {
      const float* b = blk.b + (c0 / kNr) * blk.panel_stride;
      float* y = blk.y + i0 * blk.ldy + c0;
      const float* bias = blk.bias ? blk.bias + c0 : nullptr;
      const int cols = static_cast<int>(n1 - c0 < width ? n1 - c0 : width);
      const int64_t np = (cols + kNr - 1) / kNr;
      if (two) {
        panels_upto<2, NP2>(blk, np, x, b, y, bias, cols);
      } else {
        panels_upto<1, NP1>(blk, np, x, b, y, bias, cols);
      }
    }
  }

  static void block(const GemmBlock& blk) {
    constexpr int64_t group = kGroup * kNr;         // columns
    const int64_t last = (blk.m - 1) / MR * MR;      // first row of the last row tile
    const bool narrow = blk.m - last < 3;            // it has 1 or 2 rows
    const int64_t wide_end = narrow ? last : blk.m;  // rows taken by tile_panel
    if (blk.panel_outer) {
      // Per group of panels: every row tile over each panel while it is in
      // L1, then the narrow rows over the whole group.
      for (int64_t n0 = 0; n0 < blk.n; n0 += group) {
        for (int64_t c0 = n0; c0 < blk.n && c0 < n0 + group; c0 += kNr)
          for (int64_t i0 = 0; i0 < wide_end; i0 += MR) tile_panel(blk, i0, c0);
        if (narrow) tile_narrow(blk, last, n0);
      }
    } else {
      for (int64_t i0 = 0; i0 < wide_end; i0 += MR)
        for (int64_t c0 = 0; c0 < blk.n; c0 += kNr) tile_panel(blk, i0, c0);
      if (narrow)
        for (int64_t n0 = 0; n0 < blk.n; n0 += group) tile_narrow(blk, last, n0);
    }
  }
};

}  // namespace
}  // namespace aiayn
