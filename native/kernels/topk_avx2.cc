// AVX2 topk kernel (topk_kernels.h), built with -mavx2 -mfma -mf16c; called
// only when active_isa() is avx2.
//
// The AVX-512 kernel's pass with 8 lanes: 4 x 8 candidate values per step
// (x, or (x - max) - lse with log_softmax, max and lse from log_softmax's AVX2
// routine, the same vector subtractions as that kernel: bit-equal values) to
// int32 order keys (topk_kernels.h), one vpcmpgtd against the heap's
// threshold, and only the lanes that pass go to topk_offer, in index order.
// The row's tail is a maskload whose masked-off lanes never pass.
#include <immintrin.h>

#include <cstdint>

#include "ops_kernels.h"
#include "topk_kernels.h"

namespace aiayn {
namespace {

constexpr int64_t kW = 8;

// 8 ints read from kMaskTable + 8 - n: n (1..8) all-ones lanes, then zeros.
alignas(64) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tail_mask(int64_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
}

// The order keys of 8 values (see topk_kernels.h).
inline __m256i keys(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i a = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i sign = _mm256_srai_epi32(bits, 31);  // 0 or -1
  const __m256i k = _mm256_sub_epi32(_mm256_xor_si256(a, sign), sign);  // sign ? -a : a
  const __m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(k, _mm256_set1_epi32(kTopkKeyNaN), nan);
}

inline int hits(__m256 v, __m256i thr) {
  return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(keys(v), thr)));
}

// Offers the lanes of `hit` (values v, indices i0 + lane) in index order.
__attribute__((noinline)) int32_t offer_lanes(TopkRow& row, __m256 v, int hit, int64_t i0,
                                              int32_t threshold) {
  alignas(32) float vs[kW];
  _mm256_store_ps(vs, v);
  do {
    const int lane = __builtin_ctz(static_cast<unsigned>(hit));
    threshold = topk_offer(row, vs[lane], static_cast<int32_t>(i0 + lane));
    hit &= hit - 1;
  } while (hit);
  return threshold;
}

template <bool LSM>
void select_row(const float* xr, int64_t N, float mx, float lse, TopkRow& row) {
  const __m256 mv = _mm256_set1_ps(mx), lv = _mm256_set1_ps(lse);
  auto value = [&](__m256 x) { return LSM ? _mm256_sub_ps(_mm256_sub_ps(x, mv), lv) : x; };
  int32_t threshold = kTopkAcceptAll;
  __m256i thr = _mm256_set1_epi32(threshold);
  int64_t i = 0;
  for (; i + 4 * kW <= N; i += 4 * kW) {
    __m256 v[4];
    int hit[4];
    for (int u = 0; u < 4; ++u) {
      v[u] = value(_mm256_loadu_ps(xr + i + u * kW));
      hit[u] = hits(v[u], thr);
    }
    if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0) continue;
    for (int u = 0; u < 4; ++u) {
      if (u > 0) hit[u] &= hits(v[u], thr);  // thr may have risen
      if (hit[u]) {
        threshold = offer_lanes(row, v[u], hit[u], i + u * kW, threshold);
        thr = _mm256_set1_epi32(threshold);
      }
    }
  }
  for (; i < N; i += kW) {
    const int64_t n = i + kW <= N ? kW : N - i;
    const __m256 v = value(_mm256_maskload_ps(xr + i, tail_mask(n)));
    const int hit = hits(v, thr) & ((1 << n) - 1);
    if (hit) {
      threshold = offer_lanes(row, v, hit, i, threshold);
      thr = _mm256_set1_epi32(threshold);
    }
  }
}

}  // namespace

void topk_rows_avx2(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax,
                    float* values, int32_t* indices) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * N;
    TopkRow row{values + r * k, indices + r * k, k};
    if (log_softmax) {
      float mx, lse;
      f32_log_softmax_stats__avx2(xr, N, &mx, &lse);
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
