// topk (topk.h) against a sort: the indices exactly, the values exactly
// (without log_softmax) or as log_softmax's double within its tolerance.
//
// Inputs are multiples of 1/64 in [-8, 8] with many repeats, so ties are
// broken by index, and distinct inputs stay distinct and ordered after the
// log_softmax shift (spacing 2^-6 against rounding steps below 2^-18), so the
// order of log_softmax(x) is the order of x. Rows also hold NaN (above all),
// -0 and +0 (equal), -inf, and whole rows of -inf.
#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include "check.h"
#include "threadpool.h"
#include "topk.h"

namespace kt {
namespace {

// x[a] ranks before x[b]: larger (NaN largest, all NaNs equal), then lower index.
bool before(const float* x, int32_t a, int32_t b) {
  const bool na = std::isnan(x[a]), nb = std::isnan(x[b]);
  if (na != nb) return na;
  if (!na && x[a] != x[b]) return x[a] > x[b];
  return a < b;
}

void check(int64_t rows, int64_t N, int64_t k, bool log, int threads, Rng& rng) {
  Case c(fmt("topk rows=%lld N=%lld k=%lld log_softmax=%d threads=%d", (long long)rows,
             (long long)N, (long long)k, log, threads));
  Vec<float> x(static_cast<size_t>(rows * N));
  for (auto& v : x) v = static_cast<float>(rng.below(1025) - 512) / 64.0f;
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x.data() + r * N;
    switch (r % 6) {
      case 1: xr[rng.below(N)] = -0.0f; xr[rng.below(N)] = 0.0f; break;
      case 2: xr[rng.below(N)] = -INFINITY; xr[N - 1] = 9.0f; break;
      case 3: if (!log) xr[rng.below(N)] = std::numeric_limits<float>::quiet_NaN(); break;
      case 4: std::fill(xr, xr + N, -INFINITY); break;
      default: break;
    }
  }
  Vec<float> values(static_cast<size_t>(rows * k));
  Vec<int32_t> indices(static_cast<size_t>(rows * k));
  aiayn::set_threads(threads);
  aiayn::topk(x.data(), rows, N, k, log, values.data(), indices.data());
  Vec<int32_t> order(static_cast<size_t>(N));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * N;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return before(xr, a, b); });
    const float mx = *std::max_element(xr, xr + N);
    double lse = 0;
    if (log && mx != -INFINITY) {
      double sum = 0;
      for (int64_t i = 0; i < N; ++i) sum += std::exp(static_cast<double>(xr[i]) - mx);
      lse = std::log(sum);
    }
    for (int64_t j = 0; j < k; ++j) {
      c.equal("index", r * k + j, indices[r * k + j], order[j]);
      const float xv = xr[order[j]];
      if (!log) {
        c.close("value", r * k + j, values[r * k + j], xv, 0);
      } else if (mx == -INFINITY) {
        c.close("value", r * k + j, values[r * k + j], -INFINITY, 0);
      } else {
        const double d = static_cast<double>(xv) - mx, want = d - lse;
        c.close("value", r * k + j, values[r * k + j], want,
                4 * kU * std::fabs(want) + 2 * kU * std::fabs(d) + (128 + N / 128 + 12) * kU);
      }
    }
  }
}

}  // namespace

void test_topk() {
  Rng rng(19);
  const int64_t Ns[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 1000, 4099};
  for (int threads : {1, 3})
    for (int64_t N : Ns)
      for (int64_t k : {1, 2, 5, 16, 64, 100000})
        for (bool log : {false, true}) {
          const int64_t kk = std::min(k, N);
          const int64_t rows = N > 1000 ? 7 : 13;
          check(rows, N, kk, log, threads, rng);
          if (k == 1) check(0, N, kk, log, threads, rng);
        }
  // Enough rows times columns for the pool to split rows.
  for (int threads : {1, 3}) check(40, 1024, 8, true, threads, rng);
}

}  // namespace kt
