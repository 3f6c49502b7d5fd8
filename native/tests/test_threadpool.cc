// The thread pool (threadpool.h) under the kernels: callers on several OS
// threads at once (as Node worker_threads), one of them resizing the pool
// between calls, and kernels called from inside a pool task (run inline).
// Every result must equal, bit for bit, the one computed alone with one
// thread (gemm.h and ops.h promise independence from the thread count), and
// under ASan a job's state read after its caller returned is a report.
#include <atomic>
#include <thread>

#include "check.h"
#include "gemm.h"
#include "ops.h"
#include "threadpool.h"

namespace kt {
namespace {

constexpr int64_t M = 37, N = 129, K = 257;

void bitwise(Case& c, const char* what, const Vec<float>& got, const Vec<float>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(got[i] == want[i])) c.close(what, static_cast<int64_t>(i), got[i], want[i], 0);
}

}  // namespace

void test_threadpool() {
  Rng rng(23);
  const Vec<float> w = rng.floats(N * K), x = rng.floats(M * K), s = rng.floats(M * N, -9, 9);
  aiayn::set_threads(1);
  aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), N, K);
  Vec<float> y_want(static_cast<size_t>(M * N)), p_want(static_cast<size_t>(M * N));
  aiayn::linear(x.data(), M, K, *pw, nullptr, aiayn::Activation::gelu, nullptr, y_want.data(), N);
  aiayn::softmax(s.data(), M, N, p_want.data());

  {
    Case c("threadpool: 3 callers at once, one resizing the pool between calls");
    aiayn::set_threads(3);
    std::atomic<int> mismatches{0};
    auto caller = [&](int id) {
      Vec<float> y(static_cast<size_t>(M * N)), p(static_cast<size_t>(M * N));
      for (int round = 0; round < 40; ++round) {
        if (id == 0 && round % 8 == 7) aiayn::set_threads(1 + round % 3);
        aiayn::linear(x.data(), M, K, *pw, nullptr, aiayn::Activation::gelu, nullptr, y.data(), N);
        aiayn::softmax(s.data(), M, N, p.data());
        if (y != y_want || p != p_want) ++mismatches;
      }
    };
    std::thread a(caller, 0), b(caller, 1), d(caller, 2);
    a.join();
    b.join();
    d.join();
    if (mismatches > 0) c.fail(fmt("%d of 120 rounds differ from the one-thread result", mismatches.load()));
  }
  {
    Case c("threadpool: kernels inside pool tasks (nested, inline)");
    aiayn::set_threads(3);
    Vec<float> ys(static_cast<size_t>(6 * M * N)), ps(static_cast<size_t>(6 * M * N));
    aiayn::parallel_for(6, [&](int64_t t, int) {
      aiayn::linear(x.data(), M, K, *pw, nullptr, aiayn::Activation::gelu, nullptr,
                    ys.data() + t * M * N, N);
      aiayn::softmax(s.data(), M, N, ps.data() + t * M * N);
    });
    for (int64_t t = 0; t < 6; ++t) {
      bitwise(c, "y", Vec<float>(ys.begin() + t * M * N, ys.begin() + (t + 1) * M * N), y_want);
      bitwise(c, "p", Vec<float>(ps.begin() + t * M * N, ps.begin() + (t + 1) * M * N), p_want);
    }
  }
  aiayn::linear_free(pw);
}

}  // namespace kt
