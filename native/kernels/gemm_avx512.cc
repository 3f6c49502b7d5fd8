// AVX-512 GEMM block (gemm_kernels.h), compiled with -mavx512f/bw/dq/vl -mfma.
//
// Contract: linear_block_avx512 computes one GemmBlock (see gemm_kernels.h)
// on the calling thread; weights packed as [ceil(N/64)][K][64] (zero-padded
// in N, 64-byte aligned); columns past blk.n are never read from bias nor
// written. fp32 accumulation in depth order within a block: each output
// element is one FMA chain over the block's depth, whatever the tile, so a
// row's result does not depend on how many rows share the call (gemm.cc).
//
// Micro-kernel sgemm_tile_avx512<MR, NV, NP>: an MR x 16NV register tile over
// NP adjacent panels, x read in place (row pointers, no packing), one
// broadcast of x per row and NP x NV aligned panel loads per depth step.
// - Prefill (row tiles outside panels): 6x64, 24 zmm accumulators, four panel
//   loads and six broadcasts feed 24 FMAs; a 6 x kc slice of x stays in L1
//   while gemm.cc keeps the panel block it sweeps in L2. Rows 2..5 at the
//   bottom edge use the same kernel instantiated for fewer rows.
// - One row (m = 1, or a one-row bottom edge): 1x128 tiles over two panels,
//   so 8 independent FMA chains hide the FMA latency without splitting the
//   depth (gemm.cc gives decode tasks whole pairs of panels).
// - Decode (panel_outer, 2 <= m <= 12): every row of the block in one tile per
//   panel, so each weight is read from memory once:
//   * 2..6 rows: MRx64, one pass over the panel.
//   * 7 rows: 7x64 in one pass with the weights in registers and x as
//     embedded {1to16} broadcasts (sgemm_step_eb_avx512: 28 accumulators +
//     4 weight vectors = 32 zmm).
//   * 8..12 rows, weights >= 32 MiB (gemm.cc kStreamBytes, blk.stream: read from DRAM every
//     call): the 7-row tile with ROW7, one pass for rows 0..7 (row 7's
//     accumulators in L1), then rows 8.. as one MRx64 tile from L2.
//   * 8..12 rows otherwise: two MRx32 tiles over the panel's halves, which
//     prefetch the weights read next (the next panel, or blk.next: gemm.cc
//     runs decode panels through their depth blocks in turn) into L2.
//   Measured (1 thread, M x 58101 x 512: 119 MB of weights, DRAM ~35 GB/s; same
//   buffers for every variant, orig vs new alternated call by call): the core
//   overlaps DRAM streaming with FMAs only when each weight row is consumed
//   in a single pass. Half tiles (8..12 rows: two passes, each reading 128 of
//   every 256 bytes) cost about the SUM of bandwidth time and compute time
//   (M = 8: 5.5 ms = 3.3 + 2.3); so did every two-pass variant tried: rows
//   split 4+4 / 6+6 over full-width tiles (the second pass from L2 leaves
//   DRAM idle), depth chunks of 16..256 rows run by both tiles in turn (also
//   with the accumulators parked in L1), software prefetches of the current
//   or next panel (t0 / t1, 4..64 KB ahead) or demand "touch" loads ahead,
//   and 2 MiB pages (-10 % at most). One pass: M = 7 5.5 -> 3.7 ms, M = 8
//   5.4 -> 4.0 ms (M = 1: 3.4 ms). The 7-row tile computes as fast as the
//   half tiles on cached weights; the ROW7 tile is 15-20 % slower there
//   (row 7's load/FMA/store chain through L1), hence only on blk.stream.
//   Rows 8.. of 9..12 add their L2 pass to the time (M = 12: 6.8 -> 5.5 ms).
//   Embedded broadcasts for 2..6 rows: no gain on DRAM, 15-25 % loss cached.
// Column edges use masked loads/stores. Epilogue in registers: + bias, then
// the activation (activate_ps from vecmath_avx512.h: ReLU, exact-erf GELU
// with erf_ps (absolute error <= 1.2e-7), tanh GELU, SiLU), + residual.
//
//
// bf16 and int8 without AVX512_BF16 / AVX512_VNNI (gemm_dt.h over the traits
// at the bottom): bf16 widened by a 16-bit shift into fp32 FMAs, 6x32 tiles
// (each panel row is two zmm after widening); int8 sign-extended to int16 and
// multiplied with vpmaddwd (exact: vpmaddubsw would saturate), 4x32 tiles
// with two int32 accumulators per panel row, each lane summing one k pair of
// a column, added pairwise at the end.
//
// ODR: only intrinsics, declaration-only headers and the static-inline
// vecmath and activation headers are included here, and every helper has internal linkage, so
// no AVX-512 code can be shared with baseline TUs through the linker.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm_dt_avx512.h"
#include "gemm_kernels.h"
#include "vecmath_avx512.h"

namespace aiayn {
namespace {

constexpr int kNr = 64;

// acc[r][p NV + j] += x[r][k] * b_p[k][16 j] for the MR rows, NP panels
// (b_p = b + p * pstride) and NV vectors of columns per panel.
template <int MR, int NV, int NP>
__attribute__((always_inline)) inline void sgemm_step_avx512(const float* const* xr, int64_t k,
                                                             const float* b, int64_t pstride,
                                                             __m512 (&acc)[MR][NP * NV]) {
  __m512 bv[NP * NV];
  #pragma GCC unroll 8
  for (int c = 0; c < NP * NV; ++c) bv[c] = _mm512_load_ps(b + (c / NV) * pstride + k * kNr + 16 * (c % NV));
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    const __m512 a = _mm512_set1_ps(xr[r][k]);
    #pragma GCC unroll 8
    for (int c = 0; c < NP * NV; ++c) acc[r][c] = _mm512_fmadd_ps(a, bv[c], acc[r][c]);
  }
}

// The same step with the weights held in registers and x fed to every FMA as
// an embedded {1to16} broadcast from memory (inline asm, so the compiler can
// neither fold the weight loads into the FMAs nor hoist the broadcasts into
// registers): 4 NP aligned loads per depth step whatever MR, and no register
// for x, so 7 x 64 fits (28 accumulators + 4 weight vectors = 32 zmm). Same
// arithmetic as sgemm_step_avx512 (vfmadd231ps: acc + x * b, one rounding).
template <int MR, int NV, int NP>
__attribute__((always_inline)) inline void sgemm_step_eb_avx512(const float* const* xr, int64_t k,
                                                                const float* b, int64_t pstride,
                                                                __m512 (&acc)[MR][NP * NV]) {
  __m512 bv[NP * NV];
  #pragma GCC unroll 8
  for (int c = 0; c < NP * NV; ++c) bv[c] = _mm512_load_ps(b + (c / NV) * pstride + k * kNr + 16 * (c % NV));
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    #pragma GCC unroll 8
    for (int c = 0; c < NP * NV; ++c) {
      asm("vfmadd231ps %2%{1to16%}, %1, %0" : "+v"(acc[r][c]) : "v"(bv[c]), "m"(xr[r][k]));
    }
  }
}

// y[0:MR, 0:cols] (+)= x[0:MR, 0:kc] . [b_0 .. b_NP-1][0:kc, 0:16 NV], then
// the epilogue. b points at some column of a panel (rows kNr floats apart);
// the NP panels are pstride floats apart and cover adjacent columns of y.
// With PF (NP = 1), depth step k also prefetches into L2 the same 16 NV
// columns of row k of `pf`. With EB, the steps are sgemm_step_eb_avx512.
//
// One accumulator per output vector, one FMA chain over the depth in order:
// narrow tiles get their independent chains from more panels (NP), never by
// splitting the depth (which would round a row differently by tile height).
//
// ROW7 (the 8 x 64 decode tile for weights streamed from DRAM, see the top):
// an eighth row after the MR = 7 EB rows keeps its 4 accumulators in memory
// (L1) and updates them after the 28 FMAs, when the weight registers are
// free: broadcast, load, FMA with the weights re-read from L1, store. Same
// FMA chains in the same order as every other tile.
template <int MR, int NV, int NP, bool PF, bool EB = false, bool ROW7 = false>
inline void sgemm_tile_avx512(const GemmBlock& blk, const float* x, const float* b, const float* pf,
                              float* y, const float* bias, int cols) {
  static_assert(!PF || NP == 1, "prefetching is for single-panel (half) tiles");
  static_assert(!ROW7 || (MR == 7 && NV == 4 && NP == 1 && EB), "ROW7 extends the 7 x 64 EB tile");
  constexpr int ROWS = MR + (ROW7 ? 1 : 0);
  constexpr int NC = NP * NV;
  __mmask16 mask[NC];
  #pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) {
    const int v = cols - kNr * (c / NV) - 16 * (c % NV);
    mask[c] = v >= 16 ? __mmask16(0xFFFF) : v <= 0 ? __mmask16(0) : __mmask16((1u << v) - 1);
  }
  const float* xr[ROWS];
  #pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) xr[r] = x + r * blk.ldx;

  __m512 acc[MR][NC];
  #pragma GCC unroll 12
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  __m512 acc7[4];  // ROW7: in memory, the asm below reads and writes it there
  #pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) acc7[c] = _mm512_setzero_ps();

  const int64_t kc = blk.kc, pstride = blk.panel_stride;
  for (int64_t k = 0; k < kc; ++k) {
    if (PF) {
      #pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(pf + k * kNr + 16 * j), _MM_HINT_T1);
      }
    }
    if (EB) {
      sgemm_step_eb_avx512<MR, NV, NP>(xr, k, b, pstride, acc);
    } else {
      sgemm_step_avx512<MR, NV, NP>(xr, k, b, pstride, acc);
    }
    if constexpr (ROW7) {
      const float* bk = b + k * kNr;
      __m512 t1, t2, t3;
      asm("vbroadcastss %[x], %[t1]\n\t"
          "vmovaps %[a0], %[t2]\n\t"
          "vmovaps %[a1], %[t3]\n\t"
          "vfmadd231ps %[b0], %[t1], %[t2]\n\t"
          "vfmadd231ps %[b1], %[t1], %[t3]\n\t"
          "vmovaps %[t2], %[a0]\n\t"
          "vmovaps %[t3], %[a1]\n\t"
          "vmovaps %[a2], %[t2]\n\t"
          "vmovaps %[a3], %[t3]\n\t"
          "vfmadd231ps %[b2], %[t1], %[t2]\n\t"
          "vfmadd231ps %[b3], %[t1], %[t3]\n\t"
          "vmovaps %[t2], %[a2]\n\t"
          "vmovaps %[t3], %[a3]"
          : [t1] "=&v"(t1), [t2] "=&v"(t2), [t3] "=&v"(t3), [a0] "+m"(acc7[0]), [a1] "+m"(acc7[1]),
            [a2] "+m"(acc7[2]), [a3] "+m"(acc7[3])
          : [x] "m"(xr[ROWS - 1][k]), [b0] "m"(*reinterpret_cast<const __m512*>(bk)),
            [b1] "m"(*reinterpret_cast<const __m512*>(bk + 16)),
            [b2] "m"(*reinterpret_cast<const __m512*>(bk + 32)),
            [b3] "m"(*reinterpret_cast<const __m512*>(bk + 48)));
    }
  }

  __m512 bv[NC];
  #pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) {
    const int off = kNr * (c / NV) + 16 * (c % NV);
    bv[c] = blk.finish && bias ? _mm512_maskz_loadu_ps(mask[c], bias + off) : _mm512_setzero_ps();
  }
  #pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    float* yr = y + r * blk.ldy;
    #pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) {
      const int off = kNr * (c / NV) + 16 * (c % NV);
      __m512 v = r < MR ? acc[r < MR ? r : 0][c] : acc7[c % 4];
      if (blk.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[c], yr + off));
      if (blk.finish) {
        v = activate_ps(_mm512_add_ps(v, bv[c]), blk.act);
        if (blk.residual) {
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[c], blk.residual + (yr - blk.y) + off));
        }
      }
      _mm512_mask_storeu_ps(yr + off, mask[c], v);
    }
  }
}

// Rows [i0, i0 + 6) (2..6 rows at the bottom edge) of panel n0 / kNr, 6x64 tiles.
void tile_rows(const GemmBlock& blk, int64_t i0, int64_t n0) {
  const float* x = blk.x + i0 * blk.ldx;
  const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
  float* y = blk.y + i0 * blk.ldy + n0;
  const float* bias = blk.bias ? blk.bias + n0 : nullptr;
  const int cols = static_cast<int>(blk.n - n0 < kNr ? blk.n - n0 : kNr);
  const int64_t rows = blk.m - i0;
  switch (rows >= 6 ? 6 : rows) {
    case 6: sgemm_tile_avx512<6, 4, 1, false>(blk, x, b, b, y, bias, cols); break;
    case 5: sgemm_tile_avx512<5, 4, 1, false>(blk, x, b, b, y, bias, cols); break;
    case 4: sgemm_tile_avx512<4, 4, 1, false>(blk, x, b, b, y, bias, cols); break;
    case 3: sgemm_tile_avx512<3, 4, 1, false>(blk, x, b, b, y, bias, cols); break;
    default: sgemm_tile_avx512<2, 4, 1, false>(blk, x, b, b, y, bias, cols); break;
  }
}

// Row i0 alone (m = 1, or a one-row bottom edge), every panel of the block:
// 1x128 tiles over two panels (8 accumulators, enough chains for the FMA
// latency), a last odd panel as 1x64.
void one_row(const GemmBlock& blk, int64_t i0) {
  const float* x = blk.x + i0 * blk.ldx;
  for (int64_t n0 = 0; n0 < blk.n; n0 += 2 * kNr) {
    const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
    float* y = blk.y + i0 * blk.ldy + n0;
    const float* bias = blk.bias ? blk.bias + n0 : nullptr;
    const int64_t left = blk.n - n0;
    if (left > kNr) {
      sgemm_tile_avx512<1, 4, 2, false>(blk, x, b, b, y, bias, static_cast<int>(left < 2 * kNr ? left : 2 * kNr));
    } else {
      sgemm_tile_avx512<1, 4, 1, false>(blk, x, b, b, y, bias, static_cast<int>(left));
    }
  }
}

// All 2 <= MR <= 12 rows of panel n0 / kNr (the decode path, see the top).
template <int MR>
void panel_all_rows(const GemmBlock& blk, int64_t n0) {
  const float* b = blk.b + (n0 / kNr) * blk.panel_stride;
  float* y = blk.y + n0;
  const float* bias = blk.bias ? blk.bias + n0 : nullptr;
  const int cols = static_cast<int>(blk.n - n0 < kNr ? blk.n - n0 : kNr);
  if (MR <= 6) {
    sgemm_tile_avx512<MR, 4, 1, false>(blk, blk.x, b, b, y, bias, cols);
    return;
  }
  if (MR == 7) {  // one pass over the full panel width (see the top)
    sgemm_tile_avx512<7, 4, 1, false, true>(blk, blk.x, b, b, y, bias, cols);
    return;
  }
  if (blk.stream) {  // 8 rows in one pass, then any others from L2 (see the top)
    sgemm_tile_avx512<7, 4, 1, false, true, true>(blk, blk.x, b, b, y, bias, cols);
    constexpr int MB = MR > 8 ? MR - 8 : 1;
    if (MR > 8) sgemm_tile_avx512<MB, 4, 1, false>(blk, blk.x + 8 * blk.ldx, b, b, y + 8 * blk.ldy, bias, cols);
    return;
  }
  // What is read next: the block's next panel, else the task's next block.
  const float* next = n0 + kNr < blk.n ? b + blk.panel_stride : blk.next ? blk.next : b;
  sgemm_tile_avx512<MR, 2, 1, true>(blk, blk.x, b, next, y, bias, cols);
  if (cols > 32) {
    sgemm_tile_avx512<MR, 2, 1, true>(blk, blk.x, b + 32, next + 32, y + 32, bias ? bias + 32 : nullptr, cols - 32);
  }
}

using PanelFn = void (*)(const GemmBlock&, int64_t);
constexpr PanelFn kPanelAllRows[] = {
    nullptr,           panel_all_rows<2>, panel_all_rows<3>,  panel_all_rows<4>,
    panel_all_rows<5>, panel_all_rows<6>, panel_all_rows<7>,  panel_all_rows<8>,
    panel_all_rows<9>, panel_all_rows<10>, panel_all_rows<11>, panel_all_rows<12>};

struct Bf16Wide512 : V512 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 6, kNp = 2, kNp1 = 4;
  using Acc = __m512;
  struct W {
    __m512 even, odd;
  };
  using X = W;
  static void zero(Acc& a) { a = _mm512_setzero_ps(); }
  static W load_w(const uint32_t* b) {
    const __m512i v = _mm512_load_si512(b);
    return {_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)),
            _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))))};
  }
  static X load_x(const uint8_t* x) {
    uint32_t pair;
    std::memcpy(&pair, x, 4);
    return {_mm512_set1_ps(bits_f32(pair << 16)), _mm512_set1_ps(bits_f32(pair & 0xFFFF0000u))};
  }
  // Odd first, then even: vdpbf16ps's order, so both paths give the same bits.
  static void madd(Acc& a, const X& x, const W& w) {
    a = _mm512_fmadd_ps(x.odd, w.odd, a);
    a = _mm512_fmadd_ps(x.even, w.even, a);
  }
  static F result(Acc a, const DtBlock&, int64_t, int64_t, Mask) { return a; }
};

struct Q8Wide512 : V512 {
  static constexpr int64_t kXBytes = 8;  // 4 int16
  // 4 rows: 16 accumulators + 4 weight vectors + the products in flight (6 rows spilled).
  static constexpr int kMr = 4, kNp = 2, kNp1 = 4;
  // lo: columns 0..7, hi: 8..15; lane 2c + j sums depth pair j of column c.
  struct Acc {
    __m512i lo, hi;
  };
  using W = Acc;
  using X = __m512i;
  static void zero(Acc& a) { a.lo = a.hi = _mm512_setzero_si512(); }
  static W load_w(const uint32_t* b) {
    const __m512i v = _mm512_load_si512(b);
    return {_mm512_cvtepi8_epi16(_mm512_castsi512_si256(v)), _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(v, 1))};
  }
  static X load_x(const uint8_t* x) {
    int64_t quad;
    std::memcpy(&quad, x, 8);
    return _mm512_set1_epi64(quad);
  }
  static void madd(Acc& a, X x, const W& w) {
    a.lo = _mm512_add_epi32(a.lo, _mm512_madd_epi16(w.lo, x));
    a.hi = _mm512_add_epi32(a.hi, _mm512_madd_epi16(w.hi, x));
  }
  static F result(const Acc& a, const DtBlock& blk, int64_t row, int64_t c0, Mask m) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i sum = _mm512_add_epi32(_mm512_permutex2var_epi32(a.lo, even, a.hi),
                                         _mm512_permutex2var_epi32(a.lo, odd, a.hi));
    return dequant(sum, blk, row, c0, m);
  }
};

}  // namespace

DtKernels dt_kernels_avx512(DType dtype) {
  if (dtype == DType::bf16) return {"bf16_f32_gemm_6x32__avx512", prep_bf16_sw, dt_block<Bf16Wide512>, 4, 6, 4};
  return {"qd8_f32_qc8w_gemm_4x32__avx512", prep_q8<Q8Format::s16>, dt_block<Q8Wide512>, 8, 4, 4};
}

static_assert(kSmallM <= 12, "the decode path has one panel_all_rows per row count up to 12");

void linear_block_avx512(const GemmBlock& blk) {
  if (blk.panel_outer && blk.m > 1) {
    const PanelFn fn = kPanelAllRows[blk.m - 1];
    for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) fn(blk, n0);
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += 6) {
      if (blk.m - i0 == 1) {
        one_row(blk, i0);
      } else {
        for (int64_t n0 = 0; n0 < blk.n; n0 += kNr) tile_rows(blk, i0, n0);
      }
    }
  }
}

}  // namespace aiayn
