// AArch64 Advanced SIMD GEMM blocks (gemm_kernels.h): ARMv8.0, baseline on
// every aarch64 CPU (no extra flags).
//
// fp32, f32_gemm_6x16__neon: gemm_f32.h over VecNeon, weights packed as
// [ceil(N/16)][K][16]. Per depth step of a 6x16 tile: 4 panel loads, 6
// broadcast loads (ld1r), 24 FMLA on 24 accumulators: 30 of the 32 q
// registers, 0.42 loads per FMLA. The last 1 or 2 rows take 1x32 or 2x32
// tiles over two panels (8 or 16 accumulators).
//
// bf16 and int8 without the ARMv8.2+ extensions (gemm_dt.h over the traits
// below), exact as on x86:
//   bf16_f32_gemm_4x16__neon: each panel row (16 columns x a k pair) widened
//     once by shifts into 8 fp32 vectors, shared by the 4 rows; per row 8
//     FMLA (odd depth first, as vdpbf16ps), 16 accumulators + 8 weights.
//   qd8_f32_qc8w_gemm_2x16__neon: int8 x int8 products in int16 (SMULL, at
//     most 127 * 127) added pairwise into int32 (SADALP), so the sum is exact;
//     per row and 4 depth values of 16 columns 4 SMULL + 4 SMULL2 + 8 SADALP
//     on 8 accumulators (each lane sums 2 of a column's 4 products; ADDP
//     joins them at the end).
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "gemm_dt_neon.h"
#include "gemm_f32.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

using GemmNeon = F32Gemm<VecNeon, 4, 6, 2, 2>;
static_assert(GemmNeon::kNr == kNrNeon && GemmNeon::kGroup == kPanelGroupNeon, "gemm.cc's blocking");

struct Bf16WideNeon : VNeon16 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 4, kNp = 1, kNp1 = 2;
  using Acc = F;
  struct W {
    float32x4_t even[4], odd[4];
  };
  struct X {
    float32x4_t even, odd;
  };
  static void zero(Acc& a) { a = fzero(); }
  static W load_w(const uint32_t* b) {
    W w;
    for (int i = 0; i < 4; ++i) {
      const uint32x4_t v = vld1q_u32(b + 4 * i);
      w.even[i] = vreinterpretq_f32_u32(vshlq_n_u32(v, 16));
      w.odd[i] = vreinterpretq_f32_u32(vandq_u32(v, vdupq_n_u32(0xFFFF0000u)));
    }
    return w;
  }
  static X load_x(const uint8_t* x) {
    uint32_t pair;
    std::memcpy(&pair, x, 4);
    return {vdupq_n_f32(bits_f32(pair << 16)), vdupq_n_f32(bits_f32(pair & 0xFFFF0000u))};
  }
  // Odd first, then even: vdpbf16ps's order, so every path gives the same bits.
  static void madd(Acc& a, const X& x, const W& w) {
    for (int i = 0; i < 4; ++i) {
      a.v[i] = vfmaq_f32(a.v[i], x.odd, w.odd[i]);
      a.v[i] = vfmaq_f32(a.v[i], x.even, w.even[i]);
    }
  }
  static F result(const Acc& a, const DtBlock&, int64_t, int64_t, const Mask&) { return a; }
};

struct Q8WideNeon : Q8NeonBase {
  static constexpr int kMr = 2, kNp = 1, kNp1 = 2;
  // v[2i]: columns 4i, 4i+1; v[2i+1]: 4i+2, 4i+3; lane 2c + j sums depth
  // pair j of its column c.
  struct Acc {
    int32x4_t v[8];
  };
  static void zero(Acc& a) {
    for (int32x4_t& v : a.v) v = vdupq_n_s32(0);
  }
  static void madd(Acc& a, X x, const W& w) {
    for (int i = 0; i < 4; ++i) {
      a.v[2 * i] = vpadalq_s16(a.v[2 * i], vmull_s8(vget_low_s8(w.v[i]), vget_low_s8(x)));
      a.v[2 * i + 1] = vpadalq_s16(a.v[2 * i + 1], vmull_high_s8(w.v[i], x));
    }
  }
  static F result(const Acc& a, const DtBlock& blk, int64_t row, int64_t c0, const Mask& m) {
    const int32x4_t sum[4] = {vpaddq_s32(a.v[0], a.v[1]), vpaddq_s32(a.v[2], a.v[3]), vpaddq_s32(a.v[4], a.v[5]),
                              vpaddq_s32(a.v[6], a.v[7])};
    return dequant(sum, blk, row, c0, m);
  }
};

}  // namespace

void linear_block_neon(const GemmBlock& blk) { GemmNeon::block(blk); }

DtKernels dt_kernels_neon(DType dtype) {
  if (dtype == DType::bf16) return {"bf16_f32_gemm_4x16__neon", prep_bf16, dt_block<Bf16WideNeon>, 4, 4, 2};
  return {"qd8_f32_qc8w_gemm_2x16__neon", prep_q8, dt_block<Q8WideNeon>, 4, 2, 2};
}

}  // namespace aiayn
