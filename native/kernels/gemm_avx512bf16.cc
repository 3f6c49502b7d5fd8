// bf16 GEMM with AVX512_BF16 (gemm_dt.h; compiled with the AVX-512 flags plus
// -mavx512bf16; dt_kernels_avx512bf16 may only be called when the CPU has it).
//
// x is rounded with vcvtne2ps2bf16 (round to nearest even, NaN quiet,
// denormals flushed: the contract's bf16 on every path) into k pairs, and
// vdpbf16ps adds both products of a pair into each fp32 lane: the odd one,
// rounded, then the even one, rounded (as the SDM's pseudo-code; checked bit
// for bit here), which the widening paths repeat, so bf16 results are the
// same bits on every ISA. Tile 6x64: 24
// zmm accumulators, 4 panel loads and 6 broadcasts per depth pair; one row
// 1x128 (8 chains).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_dt_avx512.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

struct Bf16Dp : V512 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 6, kNp = 4, kNp1 = 8;
  using Acc = __m512;
  using W = __m512bh;
  using X = __m512bh;
  static void zero(Acc& a) { a = _mm512_setzero_ps(); }
  static W load_w(const uint32_t* b) { return reinterpret_cast<__m512bh>(_mm512_load_si512(b)); }
  static X load_x(const uint8_t* x) {
    int32_t pair;
    std::memcpy(&pair, x, 4);
    return reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
  }
  static void madd(Acc& a, X x, W w) { a = _mm512_dpbf16_ps(a, x, w); }
  static F result(Acc a, const DtBlock&, int64_t, int64_t, Mask) { return a; }
};

void prep_bf16_dp(const float* x, int64_t ldx, int64_t m, int64_t K, uint8_t* out, int64_t ldo, float*) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    auto* o = reinterpret_cast<uint16_t*>(out + i * ldo);
    for (int64_t k = 0; k < K; k += 32) {
      const int64_t left = K - k;
      const __mmask16 m0 = V512::mask(static_cast<int>(left < 16 ? left : 16));
      const __mmask16 m1 = V512::mask(static_cast<int>(left < 16 ? 0 : left < 32 ? left - 16 : 16));
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, xr + k + 16), _mm512_maskz_loadu_ps(m0, xr + k));
      const __mmask32 mo = left >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((uint64_t{1} << (left + left % 2)) - 1);
      _mm512_mask_storeu_epi16(o + k, mo, reinterpret_cast<__m512i>(v));
    }
  }
}

}  // namespace

DtKernels dt_kernels_avx512bf16(DType) {
  return {"bf16_f32_gemm_6x64__avx512bf16", prep_bf16_dp, dt_block<Bf16Dp>, 4, 6, 8};
}

}  // namespace aiayn
