// Scalar reference GEMM blocks (gemm_kernels.h), baseline flags.
//
// fp32:
// Layout: weights packed as [ceil(N/8)][K][8] (zero-padded in N). For each row
// of x and each panel, 8 fp32 accumulators run over the depth in order, so a
// result differs from a sequential dot product only when the depth is split
// into blocks (then by one rounding per block). The 8-wide inner loop has
// independent lanes, so the compiler may vectorise it without reassociating.
//
// bf16 and int8: gemm_dt.h over plain-loop traits (one row x one panel per
// tile): bf16 products widened by a 16-bit shift (exact in fp32) added in
// depth order (within a pair the odd element first, as vdpbf16ps does, so
// every ISA gives the same bits), int8 dot products in int32.
#include <cmath>

#include "gemm_dt.h"
#include "gemm_kernels.h"
#include "quant.h"

namespace aiayn {
namespace {

// The vector layer: 16 floats, `cols` of them valid.
struct ScalarVec {
  struct F {
    float v[kNrDt];
  };
  using Mask = int;
  static Mask mask(int cols) { return cols; }
  static F fzero() { return F{}; }
  static F load(const float* p, Mask m) {
    F f{};
    for (int j = 0; j < m; ++j) f.v[j] = p[j];
    return f;
  }
  static void store(float* p, Mask m, const F& f) {
    for (int j = 0; j < m; ++j) p[j] = f.v[j];
  }
  static F add(F a, const F& b) {
    for (int j = 0; j < kNrDt; ++j) a.v[j] += b.v[j];
    return a;
  }
  static F act(F a, Activation act) {
    for (int j = 0; j < kNrDt; ++j) a.v[j] = activate_scalar(a.v[j], act);
    return a;
  }
};

struct Bf16Scalar : ScalarVec {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 1, kNp = 1, kNp1 = 1;
  using Acc = F;
  using W = const uint32_t*;
  struct X {
    float even, odd;
  };
  static void zero(Acc& a) { a = F{}; }
  static W load_w(const uint32_t* b) { return b; }
  static X load_x(const uint8_t* x) {
    uint32_t pair;
    std::memcpy(&pair, x, 4);
    return {bits_f32(pair << 16), bits_f32(pair & 0xFFFF0000u)};
  }
  static void madd(Acc& a, const X& x, W w) {
    for (int j = 0; j < kNrDt; ++j) {  // odd first, as vdpbf16ps (exact products: one rounding each)
      a.v[j] += x.odd * bits_f32(w[j] & 0xFFFF0000u);
      a.v[j] += x.even * bits_f32(w[j] << 16);
    }
  }
  static F result(const Acc& a, const DtBlock&, int64_t, int64_t, Mask) { return a; }
};

struct Q8Scalar : ScalarVec {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 1, kNp = 1, kNp1 = 1;
  struct Acc {
    int32_t v[kNrDt];
  };
  using W = const int8_t*;
  using X = const int8_t*;
  static void zero(Acc& a) { a = Acc{}; }
  static W load_w(const uint32_t* b) { return reinterpret_cast<const int8_t*>(b); }
  static X load_x(const uint8_t* x) { return reinterpret_cast<const int8_t*>(x); }
  static void madd(Acc& a, X x, W w) {
    for (int j = 0; j < kNrDt; ++j) {
      for (int i = 0; i < 4; ++i) a.v[j] += int32_t{x[i]} * w[4 * j + i];
    }
  }
  static F result(const Acc& a, const DtBlock& blk, int64_t row, int64_t c0, Mask) {
    F f;
    const float t = blk.xscale[row];
    for (int j = 0; j < kNrDt; ++j) f.v[j] = static_cast<float>(a.v[j]) * (t * blk.wscale[c0 + j]);
    return f;
  }
};

void prep_bf16(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float*) {
  for (int64_t i = 0; i < m; ++i) {
    auto* o = reinterpret_cast<uint16_t*>(out + i * ldo);
    for (int64_t k = 0; k < K; ++k) o[k] = bf16_bits(x[i * ldx + k]);
    if (K % 2) o[K] = 0;
  }
}

void prep_q8(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float* scale) {
  for (int64_t i = 0; i < m; ++i) {
    auto* o = reinterpret_cast<int8_t*>(out + i * ldo);
    scale[i] = quantize_q8(x + i * ldx, K, o);
    for (int64_t k = K; k % 4; ++k) o[k] = 0;
  }
}

}  // namespace

DtKernels dt_kernels_scalar(DType dtype) {
  if (dtype == DType::bf16) return {"bf16_f32_gemm_1x16__scalar", prep_bf16, dt_block<Bf16Scalar>, 4, 1, 1};
  return {"qd8_f32_qc8w_gemm_1x16__scalar", prep_q8, dt_block<Q8Scalar>, 4, 1, 1};
}
void linear_block_scalar(const GemmBlock& blk) {
  constexpr int64_t nr = kNrScalar;
  for (int64_t i = 0; i < blk.m; ++i) {
    const float* x = blk.x + i * blk.ldx;
    float* y = blk.y + i * blk.ldy;
    for (int64_t n0 = 0; n0 < blk.n; n0 += nr) {
      const float* b = blk.b + (n0 / nr) * blk.panel_stride;
      const int64_t cols = blk.n - n0 < nr ? blk.n - n0 : nr;
      float acc[nr] = {};
      for (int64_t k = 0; k < blk.kc; ++k) {
        for (int64_t j = 0; j < nr; ++j) acc[j] += x[k] * b[k * nr + j];
      }
      for (int64_t j = 0; j < cols; ++j) {
        float v = acc[j];
        if (blk.accumulate) v += y[n0 + j];
        if (blk.finish) {
          if (blk.bias) v += blk.bias[n0 + j];
          v = activate_scalar(v, blk.act);
          if (blk.residual) v += blk.residual[(y - blk.y) + n0 + j];
        }
        y[n0 + j] = v;
      }
    }
  }
}

}  // namespace aiayn
