// int8 GEMM with AVX512_VNNI (gemm_dt.h; compiled with the AVX-512 flags plus
// -mavx512vnni; dt_kernels_avx512vnni may only be called when the CPU has it).
//
// vpdpbusd multiplies u8 by s8 and adds groups of 4 products into int32
// lanes: x is stored as u8 = q + 128 and the packed 128 * sum_k q[n, k] is
// subtracted at the end, so the sum is exactly sum_k qx q (gemm.h). Tile
// 6x64: 24 zmm accumulators, 4 panel loads and 6 broadcasts per depth quad;
// one row 1x128 (8 chains).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm_dt_avx512.h"
#include "gemm_kernels.h"

namespace aiayn {
namespace {

struct Q8Vnni : V512 {
  static constexpr int64_t kXBytes = 4;
  static constexpr int kMr = 6, kNp = 4, kNp1 = 8;
  using Acc = __m512i;
  using W = __m512i;
  using X = __m512i;
  static void zero(Acc& a) { a = _mm512_setzero_si512(); }
  static W load_w(const uint32_t* b) { return _mm512_load_si512(b); }
  static X load_x(const uint8_t* x) {
    int32_t quad;
    std::memcpy(&quad, x, 4);
    return _mm512_set1_epi32(quad);
  }
  // asm: GCC 12 keeps _mm512_dpbusd_epi32's accumulators in memory across
  // the depth loop (a store and two register moves per instruction).
  static void madd(Acc& a, X x, W w) { asm("vpdpbusd %2, %1, %0" : "+v"(a) : "v"(x), "v"(w)); }
  static F result(Acc a, const DtBlock& blk, int64_t row, int64_t c0, Mask m) {
    return dequant(_mm512_sub_epi32(a, _mm512_maskz_loadu_epi32(m, blk.wsum + c0)), blk, row, c0, m);
  }
};

}  // namespace

DtKernels dt_kernels_avx512vnni(DType) {
  return {"qd8_f32_qc8w_gemm_6x64__avx512vnni", prep_q8<Q8Format::u8>, dt_block<Q8Vnni>, 4, 6, 8};
}

}  // namespace aiayn
