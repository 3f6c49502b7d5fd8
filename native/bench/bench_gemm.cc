// GEMM benchmark without Node: GFLOP/s of aiayn::linear for the shapes the
// models use, on 1 and 2 threads, for the active ISA (AIAYN_ISA selects it).
//
// Each cell is the median of 7 runs; a run repeats the call until it takes at
// least 20 ms (after a warm-up), so cache-resident shapes measure hot weights
// and the large-N decode shape measures streaming from DRAM. The weight column
// is the packed-weight read rate of the 1-thread run (bandwidth-bound shapes).
//
// Usage: bench_gemm [act]   act = none | relu | gelu (default none, no bias)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../kernels/cpu.h"
#include "../kernels/gemm.h"
#include "../kernels/threadpool.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  int64_t M, N, K;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Median seconds per call.
double time_call(const float* x, const aiayn::PackedWeights& w, const float* bias,
                 aiayn::Activation act, float* y, int64_t M) {
  const auto call = [&] { aiayn::linear(x, M, w.K, w, bias, act, nullptr, y, w.N); };
  call();
  int64_t reps = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < reps; ++i) call();
    if (seconds_since(t0) >= 0.02) break;
    reps *= 2;
  }
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < reps; ++i) call();
    runs.push_back(seconds_since(t0) / static_cast<double>(reps));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  aiayn::Activation act = aiayn::Activation::none;
  if (argc > 1 && std::strcmp(argv[1], "relu") == 0) act = aiayn::Activation::relu;
  if (argc > 1 && std::strcmp(argv[1], "gelu") == 0) act = aiayn::Activation::gelu;
  if (const char* err = aiayn::isa_env_error()) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  const Shape shapes[] = {{1, 512, 512},     {1, 2048, 512},    {1, 32000, 512},
                          {16, 512, 512},    {64, 2048, 512},   {128, 512, 512},
                          {128, 2048, 512},  {128, 512, 2048},  {1024, 1024, 1024}};
  const int thread_counts[] = {1, 2};
  std::printf("isa=%s  act=%s%s\n", aiayn::isa_name(aiayn::active_isa()),
              act == aiayn::Activation::none ? "none" : act == aiayn::Activation::relu ? "relu" : "gelu",
              act == aiayn::Activation::none ? "" : " (+bias)");
  std::printf("%6s %6s %6s | %12s %12s | %8s | %10s\n", "M", "N", "K", "GFLOP/s 1t", "GFLOP/s 2t",
              "speedup", "W GB/s 1t");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    std::vector<float> w(static_cast<size_t>(s.N * s.K)), x(static_cast<size_t>(s.M * s.K)),
        bias(static_cast<size_t>(s.N)), y(static_cast<size_t>(s.M * s.N));
    for (float& v : w) v = dist(rng);
    for (float& v : x) v = dist(rng);
    for (float& v : bias) v = dist(rng);
    aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), s.N, s.K);
    if (pw == nullptr) {
      std::fprintf(stderr, "out of memory\n");
      return 1;
    }
    const float* b = act == aiayn::Activation::none ? nullptr : bias.data();
    double gflops[2];
    double wbw = 0;
    for (int i = 0; i < 2; ++i) {
      aiayn::set_threads(thread_counts[i]);
      const double t = time_call(x.data(), *pw, b, act, y.data(), s.M);
      gflops[i] = 2.0 * static_cast<double>(s.M * s.N * s.K) / t * 1e-9;
      if (i == 0) wbw = static_cast<double>(pw->bytes) / t * 1e-9;
    }
    std::printf("%6lld %6lld %6lld | %12.1f %12.1f | %7.2fx | %10.1f\n",
                static_cast<long long>(s.M), static_cast<long long>(s.N),
                static_cast<long long>(s.K), gflops[0], gflops[1], gflops[1] / gflops[0], wbw);
    aiayn::linear_free(pw);
  }
  return 0;
}
