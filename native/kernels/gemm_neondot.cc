// int8 GEMM with the ARMv8.2 dot product (gemm_dt.h; compiled with
// -march=armv8.2-a+dotprod; dt_kernels_neondot may only be called when the
// CPU has it).
//
// qd8_f32_qc8w_gemm_6x16__neondot: SDOT multiplies s8 by s8 and adds groups
// of 4 products into int32 lanes, so x stays signed (no +128 offset, the
// packed column sums are unused) and the sum is exact. Per depth quad of a
// 6x16 tile: 4 panel loads, 6 broadcast loads (ld1r), 24 SDOT on 24
// accumulators (30 of the 32 q registers), 16 MACs per SDOT; one row 1x32
// over two panels (8 accumulators).
#include <arm_neon.h>

#include <cstdint>

#include "gemm_dt_neon.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

struct Q8Dot : Q8NeonBase {
  static constexpr int kMr = 6, kNp = 1, kNp1 = 2;
  struct Acc {
    int32x4_t v[4];  // columns 4i .. 4i + 3
  };
  static void zero(Acc& a) {
    for (int32x4_t& v : a.v) v = vdupq_n_s32(0);
  }
  static void madd(Acc& a, X x, const W& w) {
    for (int i = 0; i < 4; ++i) a.v[i] = vdotq_s32(a.v[i], w.v[i], x);
  }
  static F result(const Acc& a, const DtBlock& blk, int64_t row, int64_t c0, const Mask& m) {
    return dequant(a.v, blk, row, c0, m);
  }
};

}  // namespace

DtKernels dt_kernels_neondot(DType) {
  return {"qd8_f32_qc8w_gemm_6x16__neondot", prep_q8, dt_block<Q8Dot>, 4, 6, 2};
}

}  // namespace aiayn
