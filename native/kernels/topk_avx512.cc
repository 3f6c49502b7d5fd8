// AVX-512 topk kernel (topk_kernels.h), built with -mavx512f/bw/dq/vl; called
// only when active_isa() is avx512.
//
// One pass over the row, 4 x 16 values per step: the candidate values (x, or
// (x - max) - lse with log_softmax, max and lse from log_softmax's AVX-512
// routine, the same vector subtractions as that kernel: bit-equal values) are
// mapped to their int32 order keys (topk_kernels.h) and compared with the
// heap's threshold in one vpcmpgtd each; only lanes that pass leave the
// vector unit, in index order, to topk_offer. The row's tail is a masked load
// whose masked-off lanes never pass.
#include <immintrin.h>

#include <cstdint>

#include "ops_kernels.h"
#include "topk_kernels.h"

namespace aiayn {
namespace {

constexpr int64_t kW = 16;

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// The order keys of 16 values (see topk_kernels.h).
inline __m512i keys(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i a = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 neg = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
  const __m512i k = _mm512_mask_sub_epi32(a, neg, _mm512_setzero_si512(), a);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(a, _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_mov_epi32(k, nan, _mm512_set1_epi32(kTopkKeyNaN));
}

// Offers the lanes of `hit` (values v, indices i0 + lane) in index order.
__attribute__((noinline)) int32_t offer_lanes(TopkRow& row, __m512 v, __mmask16 hit, int64_t i0,
                                              int32_t threshold) {
  alignas(64) float vs[kW];
  _mm512_store_ps(vs, v);
  do {
    const int lane = __builtin_ctz(hit);
    threshold = topk_offer(row, vs[lane], static_cast<int32_t>(i0 + lane));
    hit &= static_cast<__mmask16>(hit - 1);
  } while (hit);
  return threshold;
}

template <bool LSM>
void select_row(const float* xr, int64_t N, float mx, float lse, TopkRow& row) {
  const __m512 mv = _mm512_set1_ps(mx), lv = _mm512_set1_ps(lse);
  auto value = [&](__m512 x) { return LSM ? _mm512_sub_ps(_mm512_sub_ps(x, mv), lv) : x; };
  int32_t threshold = kTopkAcceptAll;
  __m512i thr = _mm512_set1_epi32(threshold);
  int64_t i = 0;
  for (; i + 4 * kW <= N; i += 4 * kW) {
    __m512 v[4];
    __mmask16 hit[4];
    for (int u = 0; u < 4; ++u) {
      v[u] = value(_mm512_loadu_ps(xr + i + u * kW));
      hit[u] = _mm512_cmpgt_epi32_mask(keys(v[u]), thr);
    }
    if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0) continue;
    for (int u = 0; u < 4; ++u) {
      if (u > 0) hit[u] = _mm512_mask_cmpgt_epi32_mask(hit[u], keys(v[u]), thr);  // thr may have risen
      if (hit[u]) {
        threshold = offer_lanes(row, v[u], hit[u], i + u * kW, threshold);
        thr = _mm512_set1_epi32(threshold);
      }
    }
  }
  for (; i < N; i += kW) {
    const __mmask16 valid = i + kW <= N ? static_cast<__mmask16>(0xffff) : tail_mask(N - i);
    const __m512 v = value(_mm512_maskz_loadu_ps(valid, xr + i));
    const __mmask16 hit = _mm512_mask_cmpgt_epi32_mask(valid, keys(v), thr);
    if (hit) {
      threshold = offer_lanes(row, v, hit, i, threshold);
      thr = _mm512_set1_epi32(threshold);
    }
  }
}

}  // namespace

void topk_rows_avx512(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax,
                      float* values, int32_t* indices) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    TopkRow row{values + r * k, indices + r * k, k};
    if (log_softmax) {
      float mx, lse;
      f32_log_softmax_stats__avx512(xr, N, &mx, &lse);
      if (mx == -__builtin_inff()) {
        topk_all_neg_inf(row);
        continue;
      }
      select_row<true>(xr, N, mx, lse, row);
    } else {
      select_row<false>(xr, N, 0.0f, 0.0f, row);
    }
    topk_finish(row);
  }
}

}  // namespace aiayn
