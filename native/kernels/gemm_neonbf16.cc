// bf16 GEMM with the ARMv8.6 BF16 instructions (gemm_dt.h; compiled with
// -march=armv8.6-a+bf16+i8mm; dt_kernels_neonbf16 may only be called when
// the CPU has them).
//
// bf16_f32_gemm_6x16__neonbf16: BFMLALT / BFMLALB widen the odd / even bf16
// of each k pair and add the product into fp32 lanes with one rounding: the
// product of two bf16 is exact in fp32, so each is exactly an FMA of the
// widened values, in the order of vdpbf16ps (odd first) and so the same bits
// as every other path. BFDOT and BFMMLA would do 2x and 4x the MACs per
// instruction, but they add the two products of a pair before rounding into
// the accumulator (and BFMMLA in no specified order), which breaks the
// contract's bits. Per k pair of a 6x16 tile: 4 panel loads, 6 broadcast
// loads, 48 BFMLAL on 24 accumulators (29 of the 32 q registers).
#include <arm_neon.h>

#include <cstdint>

#include "gemm_dt_neon.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

struct Bf16Mlal : VNeon16 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 6, kNp = 1, kNp1 = 2;
  using Acc = F;
  struct W {
    bfloat16x8_t v[4];  // columns 4i .. 4i + 3, a k pair each
  };
  using X = bfloat16x8_t;  // the row's k pair, repeated
  static void zero(Acc& a) { a = fzero(); }
  static W load_w(const uint32_t* b) {
    W w;
    for (int i = 0; i < 4; ++i) w.v[i] = vreinterpretq_bf16_u32(vld1q_u32(b + 4 * i));
    return w;
  }
  static X load_x(const uint8_t* x) { return vreinterpretq_bf16_u32(vld1q_dup_u32(reinterpret_cast<const uint32_t*>(x))); }
  static void madd(Acc& a, X x, const W& w) {
    for (int i = 0; i < 4; ++i) {
      a.v[i] = vbfmlaltq_f32(a.v[i], w.v[i], x);
      a.v[i] = vbfmlalbq_f32(a.v[i], w.v[i], x);
    }
  }
  static F result(const Acc& a, const DtBlock&, int64_t, int64_t, const Mask&) { return a; }
};

}  // namespace

DtKernels dt_kernels_neonbf16(DType) {
  return {"bf16_f32_gemm_6x16__neonbf16", prep_bf16, dt_block<Bf16Mlal>, 4, 6, 2};
}

}  // namespace aiayn
