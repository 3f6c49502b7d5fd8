// Internal per-ISA entry points behind gemm.h (declarations only: this header is
// included by TUs compiled with different -m flags, so it must define nothing).
//
// gemm.cc packs the weights, splits the work into blocks (rows x panels x depth)
// and runs them on the thread pool; linear_block_<isa> computes one block on
// the calling thread with that ISA's register tile:
//   scalar  nr = 8   (plain loops, the reference)
//   avx2    nr = 16  (6x16 tile, 12 ymm accumulators; 2x32 and 1x64 tiles
//                     over 2 and 4 panels)
//   avx512  nr = 64  (6x64 tile, 24 zmm accumulators; one row 1x128 over two
//                     panels; decode blocks of up to 12 rows: all rows in one
//                     Mx64 tile (7x64 with embedded broadcasts; 8x64 with row
//                     7 in L1 for streamed weights) or two Mx32 tiles)
//   neon    nr = 16  (6x16 tile, 24 q-register accumulators; 2x32 and 1x32
//                     tiles over 2 panels)
// avx2 and neon are gemm_f32.h over their vector traits.
// Every tile computes each output element as one FMA chain over the block's
// depth in order (no split accumulators), so results do not depend on M.
// The SIMD variants may only be called when the CPU supports them (weights
// packed for that ISA imply it); each architecture's build has its own.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace aiayn {

constexpr int64_t kNrScalar = 8;
constexpr int64_t kNrAvx2 = 16;
constexpr int64_t kNrAvx512 = 64;
constexpr int64_t kNrNeon = 16;
// Rows per register tile for avx2, avx512 and neon (the scalar kernel does one row).
constexpr int64_t kMrSimd = 6;
// Panels the one-row tile covers (avx512 1x128, avx2 1x64, neon 1x32): gemm.cc splits N
// between tasks in whole groups of them, so that no task is left with a
// narrower, latency-bound one-row tile.
constexpr int64_t kPanelGroupAvx512 = 2;
constexpr int64_t kPanelGroupAvx2 = 4;
constexpr int64_t kPanelGroupNeon = 2;
// At most this many rows take the streaming (decode) path, blk.panel_outer.
constexpr int64_t kSmallM = 12;

// One block: y[0:m, 0:n] (+)= x[0:m, 0:kc] . B, where B is `ceil(n/nr)` packed
// panels starting at `b`, each panel `panel_stride` floats apart with rows of nr
// floats (b already points at the first depth row of the block). n counts the
// valid columns; columns past n are neither read from bias nor written.
struct GemmBlock {
  const float* x;        // row 0, first depth column of the block
  int64_t ldx;
  const float* b;        // first panel, first depth row of the block
  int64_t panel_stride;  // floats between panels (K * nr)
  const float* next;     // where the next block of the task reads (same layout
                         // as b), a prefetch hint; null when unknown or none
  int64_t m, n, kc;      // m >= 1, n >= 1, kc >= 1
  float* y;              // row 0, column 0 of the block
  int64_t ldy;
  const float* bias;     // bias for column 0 of the block, or null
  const float* residual; // added after the activation, same layout as y; or null
  bool accumulate;       // add to y (not the first depth block)
  bool finish;           // apply bias and activation (the last depth block)
  bool panel_outer;      // loop panels outside row tiles (stream B once: small m)
  bool stream;           // the packed weights exceed the last-level cache, so every
                         // call reads them from DRAM (picks the decode tile)
  Activation act;
};

void linear_block_scalar(const GemmBlock& blk);
void linear_block_avx2(const GemmBlock& blk);
void linear_block_avx512(const GemmBlock& blk);
void linear_block_neon(const GemmBlock& blk);

// bf16 and int8 (gemm_dt.h): one packed format per dtype for every ISA, panels
// of kNrDt columns whose rows are 32-bit depth groups (2 bf16 or 4 int8 per
// column): a panel row is 64 bytes.
constexpr int64_t kNrDt = 16;

// One block of a bf16 or int8 linear: y[0:m, 0:n] (+)= x[0:m, 0:kg groups] . B.
// x holds the call's converted rows (xprep below), `xbytes` per depth group.
struct DtBlock {
  const uint8_t* x;       // row 0, first depth group of the block
  int64_t ldx;            // bytes between rows
  const uint32_t* b;      // first panel, first depth group of the block
  int64_t panel_stride;   // uint32 between panels (groups * kNrDt)
  int64_t m, n, kg;       // m >= 1, n >= 1, kg >= 1 depth groups
  float* y;
  int64_t ldy;
  const float* bias;      // column 0 of the block, or null
  const float* residual;  // same layout as y, or null
  const float* xscale;    // int8: t_m of row 0 of the block
  const float* wscale;    // int8: s_n of column 0
  const int32_t* wsum;    // int8: 128 * sum_k q of column 0
  bool accumulate;        // add to y (not the first depth block; bf16 only)
  bool finish;            // apply bias, activation and residual
  bool panel_outer;       // decode: every row over one group of panels at a time
  Activation act;
};

// Converts rows [0, m) of x (row stride ldx floats, K columns) into the
// kernel's operand format at out (row stride ldo bytes, zero-padded to whole
// depth groups); int8 also writes t_m to scale[0, m).
using DtPrepFn = void (*)(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo,
                          float* scale);
using DtBlockFn = void (*)(const DtBlock& blk);

// The micro-kernel of one ISA x dtype and how gemm.cc blocks for it (BLIS's
// context): mr rows per tile, `group` panels per unit of the N split.
struct DtKernels {
  const char* name;
  DtPrepFn prep;
  DtBlockFn block;
  int64_t xbytes;  // bytes of converted x per row per depth group
  int64_t mr;
  int64_t group;
};

// dtype is DType::bf16 or DType::int8.
DtKernels dt_kernels_scalar(DType dtype);
DtKernels dt_kernels_avx2(DType dtype);
DtKernels dt_kernels_avx512(DType dtype);
DtKernels dt_kernels_avx512vnni(DType dtype);  // int8 only
DtKernels dt_kernels_avx512bf16(DType dtype);  // bf16 only
DtKernels dt_kernels_neon(DType dtype);
DtKernels dt_kernels_neondot(DType dtype);     // int8 only
DtKernels dt_kernels_neonbf16(DType dtype);    // bf16 only
DtKernels dt_kernels_neoni8mm(DType dtype);    // int8 only

}  // namespace aiayn
