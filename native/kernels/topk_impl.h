// The topk pass (topk_kernels.h) written once over a vector-traits struct S,
// instantiated by topk_avx2.cc and topk_avx512.cc. Include only from an ISA
// translation unit, after its traits.
//
// One pass over the row, 4 x W values per step: the candidate values (x, or
// (x - max) - lse with log_softmax, max and lse from the ISA's
// f32_log_softmax_stats kernel, the same vector subtractions as its
// log_softmax: bit-equal values) are mapped to their int32 order keys
// (topk_kernels.h) and compared with the heap's threshold in one integer
// compare each; only lanes that pass leave the vector unit, in index order,
// to topk_offer. The row's tail is a masked load whose masked-off lanes never
// pass.
#pragma once

#include <cstdint>

#include "ops_kernels.h"
#include "topk_kernels.h"

namespace aiayn {
namespace {

template <class S>
struct Topk {
  using V = typename S::V;
  using VI = typename S::VI;
  using M = typename S::M;
  static constexpr int64_t W = S::W;

  // The order keys of W values (see topk_kernels.h).
  static VI keys(V v) {
    const VI bits = S::bits_of(v);
    const VI a = S::and_i(bits, S::set1_i(0x7fffffff));
    const VI k = S::negate_if_neg_i(a, bits);
    return S::blend_i(S::cmpgt_i(a, S::set1_i(0x7f800000)), k, S::set1_i(kTopkKeyNaN));
  }

  // Offers the lanes set in `hit` (values v, indices i0 + lane) in index order.
  __attribute__((noinline)) static int32_t offer_lanes(TopkRow& row, V v, int hit, int64_t i0, int32_t threshold) {
    alignas(64) float vs[W];
    S::store(vs, v);
    do {
      const int lane = __builtin_ctz(static_cast<unsigned>(hit));
      threshold = topk_offer(row, vs[lane], static_cast<int32_t>(i0 + lane));
      hit &= hit - 1;
    } while (hit);
    return threshold;
  }

  template <bool LSM>
  static void select_row(const float* xr, int64_t N, float mx, float lse, TopkRow& row) {
    const V mv = S::set1(mx), lv = S::set1(lse);
    auto value = [&](V x) { return LSM ? S::sub(S::sub(x, mv), lv) : x; };
    int32_t threshold = kTopkAcceptAll;
    VI thr = S::set1_i(threshold);
    int64_t i = 0;
    for (; i + 4 * W <= N; i += 4 * W) {
      V v[4];
      int hit[4];
      for (int u = 0; u < 4; ++u) {
        v[u] = value(S::loadu(xr + i + u * W));
        hit[u] = S::bits(S::cmpgt_i(keys(v[u]), thr));
      }
      if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0) continue;
      for (int u = 0; u < 4; ++u) {
        if (u > 0) hit[u] &= S::bits(S::cmpgt_i(keys(v[u]), thr));  // thr may have risen
        if (hit[u]) {
          threshold = offer_lanes(row, v[u], hit[u], i + u * W, threshold);
          thr = S::set1_i(threshold);
        }
      }
    }
    for (; i < N; i += W) {
      const M valid = S::tail(N - i);
      const V v = value(S::maskz_loadu(valid, xr + i));
      const int hit = S::bits(S::mask_and(valid, S::cmpgt_i(keys(v), thr)));
      if (hit) {
        threshold = offer_lanes(row, v, hit, i, threshold);
        thr = S::set1_i(threshold);
      }
    }
  }

  static void rows(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                   int32_t* indices, LogSoftmaxStatsFn* stats) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * N;
      TopkRow row{values + r * k, indices + r * k, k};
      if (log_softmax) {
        float mx, lse;
        stats(xr, N, &mx, &lse);
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
};

}  // namespace
}  // namespace aiayn
