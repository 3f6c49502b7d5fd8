// int8 GEMM with the ARMv8.6 int8 matrix multiply (compiled with
// -march=armv8.6-a+bf16+i8mm; dt_kernels_neoni8mm may only be called when the
// CPU has it).
//
// qd8_f32_qc8w_gemm_6x16__neoni8mm: SMMLA multiplies a 2x8 block of s8 (two
// rows of x, 8 depth values) by an 8x2 block (two weight columns) into a 2x2
// int32 tile, 32 exact MACs per instruction (SDOT: 16). It works on row
// pairs, so this block is not gemm_dt.h's (whose tiles are per row), though it
// keeps its structure: row tiles over the panel block for prefill, every row
// tile over one panel before the next for decode (panel_outer).
//   B operand: the packed layout ([panel][group][16 columns][4 depths]) is
//     used as it is: two consecutive depth groups of 4 columns, interleaved
//     by 32-bit ZIP1 / ZIP2, are two columns x 8 depths each.
//   A operand: 8 bytes of each row of the pair (the prepared rows are padded
//     to whole groups; an odd last group pairs with zeros, a missing second
//     row is zeros and never stored).
// Per 8 depth values of a 6x16 tile (3 row pairs): 8 LDR (weights) + 6 LDR d
// (x), 8 ZIP, 24 SMMLA on 24 accumulators (31 of the 32 q registers with the
// operands in flight). The sums are exact int32, so the results are those of
// every other int8 path bit for bit.
#include <arm_neon.h>

#include <cstdint>

#include "gemm_dt_neon.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

constexpr int kPairs = 3;  // row pairs per tile: 6 rows

// The 8 depth values of row x from depth group g: groups g, g + 1 (zeros for
// g + 1 past the last group).
inline int8x8_t load_x8(const int8_t* x, int64_t g, int64_t kg) {
  if (g + 1 < kg) return vld1_s8(x + 4 * g);
  return vreinterpret_s8_s32(vld1_lane_s32(reinterpret_cast<const int32_t*>(x + 4 * g), vdup_n_s32(0), 0));
}

// Rows [i0, i0 + rows) x one panel p0 of 16 columns, rows <= 2 P.
template <int P>
__attribute__((flatten)) void mmla_tile(const DtBlock& blk, int64_t i0, int64_t rows, int64_t p0) {
  const int8_t* xr[2 * P];
  for (int r = 0; r < 2 * P; ++r) {
    xr[r] = r < rows ? reinterpret_cast<const int8_t*>(blk.x + (i0 + r) * blk.ldx) : nullptr;
  }
  const auto* b = reinterpret_cast<const int8_t*>(blk.b + p0 * blk.panel_stride);
  int32x4_t acc[P][8];
  for (int q = 0; q < P; ++q)
    for (int j = 0; j < 8; ++j) acc[q][j] = vdupq_n_s32(0);

  const int64_t kg = blk.kg;
  for (int64_t g = 0; g < kg; g += 2) {
    int8x16_t a[P];
    for (int q = 0; q < P; ++q) {
      const int8x8_t lo = load_x8(xr[2 * q], g, kg);
      const int8x8_t hi = xr[2 * q + 1] ? load_x8(xr[2 * q + 1], g, kg) : vdup_n_s8(0);
      a[q] = vcombine_s8(lo, hi);
    }
    const int8_t* w0 = b + g * 4 * kNrDt;
    for (int c = 0; c < 4; ++c) {  // columns 4c .. 4c + 3
      const int32x4_t g0 = vreinterpretq_s32_s8(vld1q_s8(w0 + 16 * c));
      const int32x4_t g1 = g + 1 < kg ? vreinterpretq_s32_s8(vld1q_s8(w0 + 4 * kNrDt + 16 * c)) : vdupq_n_s32(0);
      const int8x16_t b01 = vreinterpretq_s8_s32(vzip1q_s32(g0, g1));  // columns 4c, 4c + 1
      const int8x16_t b23 = vreinterpretq_s8_s32(vzip2q_s32(g0, g1));  // columns 4c + 2, 4c + 3
      for (int q = 0; q < P; ++q) {
        acc[q][2 * c] = vmmlaq_s32(acc[q][2 * c], a[q], b01);
        acc[q][2 * c + 1] = vmmlaq_s32(acc[q][2 * c + 1], a[q], b23);
      }
    }
  }

  const int64_t c0 = p0 * kNrDt;
  const int64_t left = blk.n - c0;
  const VNeon16::Mask m = VNeon16::mask(static_cast<int>(left < kNrDt ? left : kNrDt));
  const VNeon16::F bias = blk.finish && blk.bias ? VNeon16::load(blk.bias + c0, m) : VNeon16::fzero();
  for (int q = 0; q < P; ++q) {
    for (int half = 0; half < 2; ++half) {
      const int64_t r = 2 * q + half;
      if (r >= rows) break;
      // acc[q][2c] = (row 2q: columns 4c, 4c+1 | row 2q+1: the same); [2c+1] the next two.
      int32x4_t sum[4];
      for (int c = 0; c < 4; ++c) {
        const int64x2_t lo = vreinterpretq_s64_s32(acc[q][2 * c]), hi = vreinterpretq_s64_s32(acc[q][2 * c + 1]);
        sum[c] = vreinterpretq_s32_s64(half ? vtrn2q_s64(lo, hi) : vtrn1q_s64(lo, hi));
      }
      float* y = blk.y + (i0 + r) * blk.ldy + c0;
      VNeon16::F v = VNeon16::dequant(sum, blk, i0 + r, c0, m);
      if (blk.accumulate) v = VNeon16::add(v, VNeon16::load(y, m));
      if (blk.finish) {
        v = VNeon16::act(VNeon16::add(v, bias), blk.act);
        if (blk.residual) v = VNeon16::add(v, VNeon16::load(blk.residual + (i0 + r) * blk.ldy + c0, m));
      }
      VNeon16::store(y, m, v);
    }
  }
}

// Up to 2 kPairs rows from i0 over panel p0: the instantiation for their pairs.
void rows_tile(const DtBlock& blk, int64_t i0, int64_t p0) {
  const int64_t rows = blk.m - i0 < 2 * kPairs ? blk.m - i0 : 2 * kPairs;
  switch ((rows + 1) / 2) {
    case 3: mmla_tile<3>(blk, i0, rows, p0); break;
    case 2: mmla_tile<2>(blk, i0, rows, p0); break;
    default: mmla_tile<1>(blk, i0, rows, p0); break;
  }
}

// One row takes the SDOT kernel: a pair with a zero row would spend half of
// every SMMLA. The sums and the epilogue are the same, so are the bits.
void mmla_block(const DtBlock& blk) {
  if (blk.m == 1) return dt_kernels_neondot(DType::int8).block(blk);
  const int64_t panels = (blk.n + kNrDt - 1) / kNrDt;
  if (blk.panel_outer) {
    for (int64_t p0 = 0; p0 < panels; ++p0)
      for (int64_t i0 = 0; i0 < blk.m; i0 += 2 * kPairs) rows_tile(blk, i0, p0);
  } else {
    for (int64_t i0 = 0; i0 < blk.m; i0 += 2 * kPairs)
      for (int64_t p0 = 0; p0 < panels; ++p0) rows_tile(blk, i0, p0);
  }
}

}  // namespace

DtKernels dt_kernels_neoni8mm(DType) {
  return {"qd8_f32_qc8w_gemm_6x16__neoni8mm", prep_q8, mmla_block, 4, 2 * kPairs, 1};
}

}  // namespace aiayn
