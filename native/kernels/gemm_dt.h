// The bf16 / int8 GEMM block (DtBlock, gemm_kernels.h), written once over a
// traits type T per ISA x dtype. Included only by the TUs that define the
// traits (gemm_scalar.cc, gemm_avx2.cc, gemm_avx512*.cc), each compiled with
// its own -m flags; everything here is in an anonymous namespace or templated
// on T, so no instantiation is shared between ISAs through the linker.
//
// T provides (one row x one 16-column panel is an "accumulator"):
//   Acc, W, X                     accumulator, a panel row of one depth group
//                                 in registers, one row's depth group broadcast
//   kXBytes                       converted x bytes per depth group
//   kMr, kNp, kNp1                tile: kMr rows x kNp panels; one row x kNp1
//   zero(Acc&), load_w(b), load_x(x), madd(Acc&, X, W)
//   F, Mask, mask(cols), load(p, m), store(p, m, F), fzero(), add(F, F), act(F, a)
//   result(Acc, blk, row, col0, Mask) -> F   the 16 sums as fp32 (int8: times
//                                 t_m s_n), before y, bias and residual
//
// Tiles: rows x panels with every accumulator one chain over the block's
// depth in order (integer sums are exact anyway), so a row's result does not
// depend on the tile it lands in. Prefill (row tiles outside panels) runs
// kMr x kNp tiles over the panel block gemm.cc keeps in L2; decode
// (panel_outer) runs every row tile over one group of kNp panels before the
// next group, so each weight is streamed from memory once; up to 2 kMr rows
// take one tall tile (rows x kNp / 2 panels: every row in a single pass, which
// keeps DRAM streaming, see gemm_avx512.cc); one row takes 1 x kNp1 tiles
// (enough independent chains for the latency). Edges use
// smaller instantiations (rows) and masked loads/stores (columns).
// Decode tiles of 2+ rows prefetch each panel kPrefetchGroups depth groups
// ahead: at M = 8 the hardware prefetcher alone left DRAM idle (M = 8,
// N = 58101 on avx512_bf16: bf16 1.5x and int8 1.7x faster with it; neutral
// on AVX-512F and AVX2). One-row tiles do not: they are load-bound, and the
// extra loads cost them 20 % (bench_native).
#pragma once

#include <cstdint>

#include "gemm_kernels.h"

namespace aiayn {
namespace {

constexpr int64_t kPrefetchGroups = 32;

// flatten: every traits call inlined, so the accumulators stay in registers
// (a call taking Acc& would keep them in memory across the depth loop).
template <class T, int MR, int NP, bool PF>
__attribute__((flatten)) void dt_tile(const DtBlock& blk, int64_t i0, int64_t p0) {
  const uint8_t* xr[MR];
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) xr[r] = blk.x + (i0 + r) * blk.ldx;
  const uint32_t* b = blk.b + p0 * blk.panel_stride;
  const int64_t ps = blk.panel_stride;
  typename T::Acc acc[MR][NP];
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) T::zero(acc[r][p]);

  for (int64_t k = 0; k < blk.kg; ++k) {
    typename T::W w[NP];
    #pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      if constexpr (PF) __builtin_prefetch(b + p * ps + (k + kPrefetchGroups) * kNrDt, 0, 3);
      w[p] = T::load_w(b + p * ps + k * kNrDt);
    }
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const typename T::X xv = T::load_x(xr[r] + k * T::kXBytes);
      #pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) T::madd(acc[r][p], xv, w[p]);
    }
  }

  #pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) {
    const int64_t c0 = (p0 + p) * kNrDt;
    const int64_t left = blk.n - c0;
    const typename T::Mask m = T::mask(static_cast<int>(left < kNrDt ? left : kNrDt));
    const typename T::F bias = blk.finish && blk.bias ? T::load(blk.bias + c0, m) : T::fzero();
    #pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      float* y = blk.y + (i0 + r) * blk.ldy + c0;
      typename T::F v = T::result(acc[r][p], blk, i0 + r, c0, m);
      if (blk.accumulate) v = T::add(v, T::load(y, m));
      if (blk.finish) {
        v = T::act(T::add(v, bias), blk.act);
        if (blk.residual) v = T::add(v, T::load(blk.residual + (i0 + r) * blk.ldy + c0, m));
      }
      T::store(y, m, v);
    }
  }
}

// np <= NP panels from p0: the instantiation for exactly np.
template <class T, int MR, int NP, bool PF>
void dt_tile_upto(const DtBlock& blk, int64_t i0, int64_t p0, int64_t np) {
  if constexpr (NP > 1) {
    if (np < NP) return dt_tile_upto<T, MR, NP - 1, PF>(blk, i0, p0, np);
  }
  dt_tile<T, MR, NP, PF>(blk, i0, p0);
}

// rows <= MR rows from i0: the instantiation for exactly rows (one row: up to
// kNp1 panels). PF: prefetch the panels (decode tiles of 2+ rows).
template <class T, int MR, bool PF>
void dt_rows_upto(const DtBlock& blk, int64_t i0, int64_t p0, int64_t rows, int64_t np) {
  if constexpr (MR > 1) {
    if (rows < MR) return dt_rows_upto<T, MR - 1, PF>(blk, i0, p0, rows, np);
    dt_tile_upto<T, MR, T::kNp, PF>(blk, i0, p0, np);
  } else {
    dt_tile_upto<T, 1, T::kNp1, false>(blk, i0, p0, np);
  }
}

// Decode with kMr < rows <= 2 kMr (tall tiles, T::kNp >= 2): rows <= MR rows
// x up to kNp / 2 panels, every row in one pass over the weights.
template <class T, int MR>
void dt_tall_upto(const DtBlock& blk, int64_t p0, int64_t rows, int64_t np) {
  if constexpr (MR > T::kMr + 1) {
    if (rows < MR) return dt_tall_upto<T, MR - 1>(blk, p0, rows, np);
  }
  dt_tile_upto<T, MR, T::kNp / 2, true>(blk, 0, p0, np);
}

template <class T>
void dt_block(const DtBlock& blk) {
  const int64_t panels = (blk.n + kNrDt - 1) / kNrDt;
  if constexpr (T::kNp >= 2) {
    if (blk.panel_outer && blk.m > T::kMr && blk.m <= 2 * T::kMr) {
      constexpr int64_t step = T::kNp / 2;
      for (int64_t p0 = 0; p0 < panels; p0 += step) {
        dt_tall_upto<T, 2 * T::kMr>(blk, p0, blk.m, panels - p0 < step ? panels - p0 : step);
      }
      return;
    }
  }
  // A tile's panel count: kNp1 for a single row, else kNp.
  auto width = [](int64_t rows) -> int64_t { return rows == 1 ? T::kNp1 : T::kNp; };
  if (blk.panel_outer) {
    const int64_t step = width(blk.m);
    for (int64_t p0 = 0; p0 < panels; p0 += step) {
      for (int64_t i0 = 0; i0 < blk.m; i0 += T::kMr) {
        const int64_t rows = blk.m - i0 < T::kMr ? blk.m - i0 : T::kMr;
        const int64_t p1 = p0 + step < panels ? p0 + step : panels;
        for (int64_t q0 = p0; q0 < p1; q0 += width(rows)) {
          const int64_t np = p1 - q0 < width(rows) ? p1 - q0 : width(rows);
          dt_rows_upto<T, T::kMr, true>(blk, i0, q0, rows, np);
        }
      }
    }
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += T::kMr) {
      const int64_t rows = blk.m - i0 < T::kMr ? blk.m - i0 : T::kMr;
      for (int64_t p0 = 0; p0 < panels; p0 += width(rows)) {
        const int64_t np = panels - p0 < width(rows) ? panels - p0 : width(rows);
        dt_rows_upto<T, T::kMr, false>(blk, i0, p0, rows, np);
      }
    }
  }
}

}  // namespace
}  // namespace aiayn
