// Kernel comparison benchmark (`npm run bench:native`): aiayn's kernels next
// to oneDNN and OpenBLAS on the same operands, in one process, on 1 and 2
// threads, with the machine limits measured by the benchmark itself.
//
//   peak       FP32 FMA rate: 12 independent FMA chains per thread, widest ISA
//              aiayn runs (zmm / ymm), tasks spread over aiayn's pool.
//   bandwidth  read rate of a 512 MiB buffer (>> L3): vector loads summed
//              (the faster of one or four sum chains), chunks spread over
//              aiayn's pool.
//   linear     aiayn::linear (weights packed once) vs oneDNN's matmul primitive
//              (weights reordered once into the layout it picks with
//              format_tag::any) and dnnl_sgemm (plain row-major W, no packing),
//              and OpenBLAS cblas_sgemm. The ratio is against the faster oneDNN
//              variant. W GB/s counts N*K*4 bytes per call (weights read once).
//   dtypes     aiayn::linear with fp32, bf16 and int8 weights (one packed copy
//              each) vs oneDNN's bf16 matmul (bf16 x bf16 -> f32) and int8
//              matmul (u8 x s8 -> f32, per-channel output scales), weights
//              reordered once; oneDNN gets x already converted (bf16 / u8)
//              while aiayn's time includes rounding / quantising x. Speed as
//              % of the dtype's peak: 12 independent chains of vdpbf16ps zmm
//              (GFLOP/s, 64 per instruction) and vpdpbusd zmm (GOP/s, 128),
//              measured in the same run; W GB/s counts the packed bytes.
//   attention  prefill: aiayn::attention vs the unfused composition per head
//              (scores GEMM with the scale folded in, masked row softmax with
//              aiayn::softmax, P.V GEMM), heads split over aiayn's pool with
//              single-threaded GEMMs of each library; the fastest is the
//              baseline. Decode (q = 1): vs reading exactly the cache bytes once
//              with the bandwidth kernel, both hot (one cache, repeated: L2/L3)
//              and cold (a ring of caches >= 256 MiB, as with many layers).
//
// Timing: contenders of one cell run in interleaved rounds (batches of calls
// of at least 20 ms, 7 rounds; --quick: 5 ms, 3 rounds) and report the median
// per call; between contenders the benchmark sleeps so the spinning workers of
// the previous library (OpenMP, OpenBLAS, aiayn's pool) are idle again.
// Thread counts are set per run: aiayn::set_threads, omp_set_num_threads
// (Debian's oneDNN uses OpenMP) and openblas_set_num_threads.
//
// Usage: bench_native [--quick] [--only linear|dtypes|prefill|decode] [--json PATH]
//   (default PATH: bench/results/native.json, or native-quick.json with --quick so
//   that a quick run never replaces the committed figures; --only writes no JSON)
#include <immintrin.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <numeric>
#include <vector>

#include "../kernels/attention.h"
#include "../kernels/cpu.h"
#include "../kernels/gemm.h"
#include "../kernels/ops.h"
#include "../kernels/threadpool.h"

#ifdef AIAYN_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif
#ifdef AIAYN_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_corename(void);
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = __builtin_nan("");
constexpr int kThreadCounts[] = {1, 2};

struct Options {
  bool quick = false;
  std::string only;  // linear | dtypes | prefill | decode: run one section (no JSON)
  std::string json;  // default: bench/results/native.json, native-quick.json with --quick (kept out of git)
  double batch_seconds() const { return quick ? 0.005 : 0.02; }
  int rounds() const { return quick ? 3 : 7; }
};
Options opt;

double now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
void settle(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? kNaN : v[v.size() / 2];
}

struct Contender {
  std::function<void()> call;
  double settle_after = 0.02;  // OpenBLAS workers spin for ~0.1 s after a call
};

// Median seconds per call of each contender, timed in interleaved rounds.
std::vector<double> time_contenders(const std::vector<Contender>& cs) {
  std::vector<int64_t> reps(cs.size(), 1);
  for (size_t c = 0; c < cs.size(); ++c) {
    cs[c].call();
    for (;;) {
      const double t0 = now();
      for (int64_t i = 0; i < reps[c]; ++i) cs[c].call();
      if (now() - t0 >= opt.batch_seconds()) break;
      reps[c] *= 2;
    }
    settle(cs[c].settle_after);
  }
  std::vector<std::vector<double>> runs(cs.size());
  for (int r = 0; r < opt.rounds(); ++r) {
    for (size_t c = 0; c < cs.size(); ++c) {
      const double t0 = now();
      for (int64_t i = 0; i < reps[c]; ++i) cs[c].call();
      runs[c].push_back((now() - t0) / static_cast<double>(reps[c]));
      settle(cs[c].settle_after);
    }
  }
  std::vector<double> out;
  for (auto& r : runs) out.push_back(median(r));
  return out;
}

void set_all_threads(int n) {
  aiayn::set_threads(n);
#ifdef AIAYN_HAVE_DNNL
  omp_set_num_threads(n);
#endif
#ifdef AIAYN_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}

// ---- machine limits -------------------------------------------------------

constexpr int kChains = 12;  // > FMA latency x pipes; fits 16 ymm registers

__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t iters) {
  __m512 acc[kChains];
#pragma GCC unroll 16
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t iters) {
  __m256 acc[kChains];
#pragma GCC unroll 16
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) acc[0] = _mm256_add_ps(acc[0], acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc[0]);
  return lanes[0] + lanes[7];
}

// The bf16 and int8 dot-product peaks, as fma_chains: 12 independent chains.
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_chains(int64_t iters) {
  __m512 acc[kChains];
#pragma GCC unroll 16
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3F803F80)), b = a;
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) asm volatile("vdpbf16ps %2, %1, %0" : "+v"(acc[c]) : "v"(a), "v"(b));
  }
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx512f,avx512vnni"))) float dpbusd_chains(int64_t iters) {
  __m512i acc[kChains];
#pragma GCC unroll 16
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_epi32(c);
  const __m512i a = _mm512_set1_epi32(0x01010101), b = a;
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) asm volatile("vpdpbusd %2, %1, %0" : "+v"(acc[c]) : "v"(a), "v"(b));
  }
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) acc[0] = _mm512_add_epi32(acc[0], acc[c]);
  return static_cast<float>(_mm512_reduce_add_epi32(acc[0]));
}

// Read kernels: `chains` independent sums (1 or 4). Which one streams DRAM
// faster depends on the machine (here one chain, consuming more slowly, read
// DRAM ~15 % faster than four), so every reference takes the faster.
__attribute__((target("avx512f"))) float read_avx512(const float* p, int64_t n, int chains) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  if (chains == 1) {
    for (; i + 16 <= n; i += 16) s0 = _mm512_add_ps(s0, _mm512_load_ps(p + i));
  } else {
    for (; i + 64 <= n; i += 64) {
      s0 = _mm512_add_ps(s0, _mm512_load_ps(p + i));
      s1 = _mm512_add_ps(s1, _mm512_load_ps(p + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_load_ps(p + i + 32));
      s3 = _mm512_add_ps(s3, _mm512_load_ps(p + i + 48));
    }
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += p[i];
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) + tail;
}

__attribute__((target("avx2"))) float read_avx2(const float* p, int64_t n, int chains) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  if (chains == 1) {
    for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
  } else {
    for (; i + 32 <= n; i += 32) {
      s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
      s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
      s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
    }
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  float tail = 0.0f;
  for (; i < n; ++i) tail += p[i];
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7] + tail;
}

volatile float g_sink;

// Reads p[0, n) (64-byte aligned) once, split over the pool in 16-float
// aligned chunks.
void parallel_read(const float* p, int64_t n, int chains) {
  const bool z = aiayn::at_least(aiayn::active_isa(), aiayn::Isa::avx512);
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(aiayn::threads() * 4, n / 4096));
  std::vector<float> sums(static_cast<size_t>(aiayn::threads()));
  aiayn::parallel_for(tasks, [&](int64_t t, int thread) {
    const int64_t a = n * t / tasks / 16 * 16, b = t + 1 == tasks ? n : n * (t + 1) / tasks / 16 * 16;
    sums[static_cast<size_t>(thread)] += z ? read_avx512(p + a, b - a, chains) : read_avx2(p + a, b - a, chains);
  });
  g_sink = std::accumulate(sums.begin(), sums.end(), 0.0f);
}

// Contenders reading p[0, n) with either read kernel; the reference is the
// faster median of the two.
void add_read_contenders(std::vector<Contender>& cs, const float* p, int64_t n) {
  for (const int chains : {1, 4}) cs.push_back({[=] { parallel_read(p, n, chains); }});
}

struct Limits {
  double peak[2] = {kNaN, kNaN};  // GFLOP/s, 1 and 2 threads
  double bw[2] = {kNaN, kNaN};    // DRAM read GB/s
  double bf16[2] = {kNaN, kNaN};  // vdpbf16ps GFLOP/s (when the CPU has AVX512_BF16)
  double int8[2] = {kNaN, kNaN};  // vpdpbusd GOP/s (AVX512_VNNI)
};

// Median rate (ops / s * 1e-9) of `chains(iters)` run as 32 tasks per thread,
// each doing `ops_per_iter` operations per iteration.
double chain_rate(int nt, float (*chains)(int64_t), double ops_per_iter) {
  const int64_t iters = 100000, tasks = 32 * nt;  // ~1 ms per task
  std::vector<double> rates;
  for (int r = 0; r < opt.rounds(); ++r) {
    const double t0 = now();
    aiayn::parallel_for(tasks, [&](int64_t, int) { g_sink = chains(iters); });
    rates.push_back(ops_per_iter * static_cast<double>(iters * tasks) / (now() - t0) * 1e-9);
  }
  return median(rates);
}

float* alloc_floats(int64_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, static_cast<size_t>(n) * sizeof(float)) != 0) {
    std::fprintf(stderr, "out of memory\n");
    std::exit(1);
  }
  return static_cast<float*>(p);
}

Limits measure_limits() {
  Limits lim;
  const aiayn::Isa isa = aiayn::active_isa();
  const int64_t bytes = int64_t{512} << 20;
  const int64_t n = bytes / 4;
  float* buf = alloc_floats(n);
  for (int64_t i = 0; i < n; ++i) buf[i] = 1.0f;
  for (int i = 0; i < 2; ++i) {
    const int nt = kThreadCounts[i];
    aiayn::set_threads(nt);
    if (isa != aiayn::Isa::scalar) {
      const int64_t iters = 100000, tasks = 32 * nt;  // ~1 ms per task
      const bool z = aiayn::at_least(isa, aiayn::Isa::avx512);
      const double lanes = z ? 16 : 8;
      std::vector<double> rates;
      for (int r = 0; r < opt.rounds(); ++r) {
        const double t0 = now();
        aiayn::parallel_for(tasks, [&](int64_t, int) {
          g_sink = z ? fma_chains_avx512(iters) : fma_chains_avx2(iters);
        });
        rates.push_back(2.0 * lanes * kChains * static_cast<double>(iters * tasks) / (now() - t0) * 1e-9);
      }
      lim.peak[i] = median(rates);
    }
    // Each instruction: 16 lanes x 2 bf16 products (x 2 flops), or 16 x 4 u8.s8 (x 2 ops).
    if (aiayn::at_least(isa, aiayn::Isa::avx512_bf16)) lim.bf16[i] = chain_rate(nt, dpbf16_chains, 64.0 * kChains);
    if (aiayn::at_least(isa, aiayn::Isa::avx512_vnni)) lim.int8[i] = chain_rate(nt, dpbusd_chains, 128.0 * kChains);
    std::vector<double> rates[2];
    parallel_read(buf, n, 1);
    for (int r = 0; r < opt.rounds(); ++r) {
      for (int v = 0; v < 2; ++v) {
        const double t0 = now();
        parallel_read(buf, n, v == 0 ? 1 : 4);
        rates[v].push_back(static_cast<double>(bytes) / (now() - t0) * 1e-9);
      }
    }
    lim.bw[i] = std::max(median(rates[0]), median(rates[1]));
  }
  std::free(buf);
  return lim;
}

int64_t l3_bytes() {
  FILE* f = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  int64_t kib = 32 * 1024;
  if (f) {
    long v = 0;
    if (std::fscanf(f, "%ldK", &v) == 1 && v > 0) kib = v;
    std::fclose(f);
  }
  return kib * 1024;
}

void fill_random(float* p, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) p[i] = dist(rng);
}

// Max |a - b| / (1 + max |b|): a sanity check that contenders compute the same thing.
double rel_diff(const float* a, const float* b, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    m = std::max(m, static_cast<double>(std::fabs(b[i])));
  }
  return d / (1.0 + m);
}

// ---- linear ---------------------------------------------------------------

struct GemmShape {
  int64_t M, N, K;
};

struct GemmCell {  // seconds per call; NaN when the library is missing
  double aiayn = kNaN, dnnl_mm = kNaN, dnnl_sgemm = kNaN, openblas = kNaN;
  double read = kNaN;  // reading the packed weights once (weights > L3 only)
};

struct GemmRow {
  GemmShape s;
  GemmCell t[2];
};

#ifdef AIAYN_HAVE_DNNL
// oneDNN matmul y = x . W^T with the weights reordered once into the layout
// the primitive chooses (format_tag::any), created for the current thread count.
struct DnnlMatmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory src, wei, dst;
  std::string impl;

  DnnlMatmul(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src_md({M, K}, dt::f32, tag::ab), dst_md({M, N}, dt::f32, tag::ab);
    const dnnl::memory::desc any_md({K, N}, dt::f32, tag::any), user_md({K, N}, dt::f32, tag::ba);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::matmul::primitive_desc pd(eng, src_md, any_md, dst_md);
#else
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_md, dst_md), eng);
#endif
    impl = pd.impl_info_str();
    prim = dnnl::matmul(pd);
    src = dnnl::memory(src_md, eng, const_cast<float*>(x));
    dst = dnnl::memory(dst_md, eng, y);
    dnnl::memory user(user_md, eng, const_cast<float*>(w));
    wei = dnnl::memory(pd.weights_desc(), eng);
    dnnl::reorder(user, wei).execute(strm, user, wei);
    strm.wait();
  }
  void run() {
    prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    strm.wait();
  }
};
#endif

std::string g_dnnl_impl;  // implementations oneDNN picked, for the header

GemmRow bench_gemm(const GemmShape& s, int64_t l3) {
  GemmRow row{s, {}};
  std::vector<float> w(static_cast<size_t>(s.N * s.K)), x(static_cast<size_t>(s.M * s.K));
  std::vector<float> y(static_cast<size_t>(s.M * s.N)), y_ref(y.size());
  fill_random(w.data(), static_cast<int64_t>(w.size()), 1);
  fill_random(x.data(), static_cast<int64_t>(x.size()), 2);
  aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), s.N, s.K);
  if (pw == nullptr) {
    std::fprintf(stderr, "out of memory\n");
    std::exit(1);
  }
  for (int i = 0; i < 2; ++i) {
    set_all_threads(kThreadCounts[i]);
    std::vector<Contender> cs;
    std::vector<double*> slots;
    cs.push_back({[&] { aiayn::linear(x.data(), s.M, s.K, *pw, nullptr, aiayn::Activation::none,
                                      nullptr, y.data(), s.N); }});
    slots.push_back(&row.t[i].aiayn);
#ifdef AIAYN_HAVE_DNNL
    DnnlMatmul mm(x.data(), w.data(), y_ref.data(), s.M, s.N, s.K);
    if (g_dnnl_impl.find(mm.impl) == std::string::npos) g_dnnl_impl += (g_dnnl_impl.empty() ? "" : ", ") + mm.impl;
    cs.push_back({[&] { mm.run(); }});
    slots.push_back(&row.t[i].dnnl_mm);
    cs.push_back({[&] { dnnl_sgemm('N', 'T', s.M, s.N, s.K, 1.0f, x.data(), s.K, w.data(), s.K, 0.0f,
                                   y_ref.data(), s.N); }});
    slots.push_back(&row.t[i].dnnl_sgemm);
#endif
#ifdef AIAYN_HAVE_OPENBLAS
    cs.push_back({[&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.M, s.N, s.K, 1.0f, x.data(),
                                    s.K, w.data(), s.K, 0.0f, y_ref.data(), s.N); },
                  0.2});
    slots.push_back(&row.t[i].openblas);
#endif
    if (static_cast<int64_t>(pw->bytes) > l3) {
      // The bandwidth reference measured in the same rounds: DRAM bandwidth
      // on this shared machine drifts by tens of percent within minutes.
      add_read_contenders(cs, static_cast<const float*>(pw->data), static_cast<int64_t>(pw->bytes / 4));
    }
    const std::vector<double> t = time_contenders(cs);
    for (size_t c = 0; c < slots.size(); ++c) *slots[c] = t[c];
    if (t.size() > slots.size()) row.t[i].read = std::min(t[slots.size()], t[slots.size() + 1]);
    if (!std::isnan(row.t[i].dnnl_mm) || !std::isnan(row.t[i].openblas)) {
      const double d = rel_diff(y.data(), y_ref.data(), static_cast<int64_t>(y.size()));
      if (d > 1e-5) std::fprintf(stderr, "warning: (%lld,%lld,%lld) aiayn differs from the reference by %.2e\n",
                                 static_cast<long long>(s.M), static_cast<long long>(s.N),
                                 static_cast<long long>(s.K), d);
    }
  }
  aiayn::linear_free(pw);
  return row;
}

double gflops(const GemmShape& s, double t) { return 2.0 * static_cast<double>(s.M * s.N * s.K) / t * 1e-9; }
double best_dnnl(const GemmCell& c) { return std::fmin(c.dnnl_mm, c.dnnl_sgemm); }  // fmin skips NaN

void print_num(double v, const char* fmt, int width) {
  if (std::isnan(v)) {
    std::printf("%*s", width, "n/a");
  } else {
    std::printf(fmt, width, v);
  }
}

void print_gemm_table(const std::vector<GemmRow>& rows, const Limits& lim, int64_t l3) {
  std::printf("\nlinear: GFLOP/s; /oneDNN = aiayn speed / the faster oneDNN variant (matmul with\n"
              "prepacked weights, or dnnl_sgemm); W GB/s = N*K*4 bytes per call (M <= 8); %%bw = of the\n"
              "DRAM read rate measured at the start; %%read = of reading the same packed weights once,\n"
              "timed in the same rounds (weights > L3)\n");
  for (int i = 0; i < 2; ++i) {
    std::printf("\nlinear, %d thread%s (peak %.1f GFLOP/s, DRAM read %.1f GB/s)\n", kThreadCounts[i],
                i ? "s" : "", lim.peak[i], lim.bw[i]);
    std::printf("%5s %6s %5s | %7s %6s | %7s %7s %8s | %7s %7s | %7s %7s %6s %6s\n", "M", "N", "K", "aiayn",
                "%peak", "dnn-mm", "dnn-sg", "OpenBLAS", "/oneDNN", "/OBLAS", "W GB/s", "dnnGB/s", "%bw", "%read");
    for (const GemmRow& r : rows) {
      const GemmCell& c = r.t[i];
      const double wb = static_cast<double>(r.s.N * r.s.K * 4);
      std::printf("%5lld %6lld %5lld | ", static_cast<long long>(r.s.M), static_cast<long long>(r.s.N),
                  static_cast<long long>(r.s.K));
      print_num(gflops(r.s, c.aiayn), "%*.1f", 7);
      print_num(100.0 * gflops(r.s, c.aiayn) / lim.peak[i], " %*.1f", 6);
      std::printf(" |");
      print_num(gflops(r.s, c.dnnl_mm), " %*.1f", 7);
      print_num(gflops(r.s, c.dnnl_sgemm), " %*.1f", 7);
      print_num(gflops(r.s, c.openblas), " %*.1f", 8);
      std::printf(" |");
      print_num(best_dnnl(c) / c.aiayn, " %*.2f", 7);
      print_num(c.openblas / c.aiayn, " %*.2f", 7);
      std::printf(" |");
      if (r.s.M <= 8) {
        print_num(wb / c.aiayn * 1e-9, " %*.1f", 7);
        print_num(wb / best_dnnl(c) * 1e-9, " %*.1f", 7);
        if (wb > l3) {
          print_num(100.0 * wb / c.aiayn * 1e-9 / lim.bw[i], " %*.1f", 6);
          print_num(100.0 * c.read / c.aiayn, " %*.1f", 6);
        } else {
          std::printf(" %6s", "(L3)");
        }
      }
      std::printf("\n");
    }
  }
  std::printf("\nlinear scaling, aiayn 2 threads / 1 thread\n");
  for (const GemmRow& r : rows) {
    std::printf("  (%lld,%lld,%lld) %.2fx\n", static_cast<long long>(r.s.M), static_cast<long long>(r.s.N),
                static_cast<long long>(r.s.K), r.t[0].aiayn / r.t[1].aiayn);
  }
}

// ---- linear with bf16 / int8 weights ---------------------------------------

constexpr int kDtContenders = 5;  // aiayn fp32, bf16, int8; oneDNN bf16, int8
const char* const kDtNames[kDtContenders] = {"aiayn_fp32", "aiayn_bf16", "aiayn_int8", "onednn_bf16", "onednn_int8"};

struct DtRow {
  GemmShape s;
  double t[2][kDtContenders];  // seconds per call, NaN when not run
  double read[2][3];           // reading each aiayn packed copy once (weights > L3)
  size_t bytes[3];             // packed bytes per dtype
};

#ifdef AIAYN_HAVE_DNNL
// oneDNN matmul y = x . W^T in bf16 (x, W bf16; y f32) or int8 (x u8, W s8,
// y f32 with per-channel output scales), weights reordered once into the
// layout the primitive picks. x is given already converted.
struct DnnlLowp {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory src, wei, dst;
  std::string impl;

  DnnlLowp(bool int8, const void* x, const void* w, float* y, int64_t M, int64_t N, int64_t K) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dt xt = int8 ? dt::u8 : dt::bf16, wt = int8 ? dt::s8 : dt::bf16;
    const dnnl::memory::desc src_md({M, K}, xt, tag::ab), dst_md({M, N}, dt::f32, tag::ab);
    const dnnl::memory::desc any_md({K, N}, wt, tag::any), user_md({K, N}, wt, tag::ba);
    dnnl::primitive_attr attr;
#if DNNL_VERSION_MAJOR >= 3
    if (int8) attr.set_scales_mask(DNNL_ARG_WEIGHTS, 1 << 1);
    dnnl::matmul::primitive_desc pd(eng, src_md, any_md, dst_md, attr);
#else
    if (int8) attr.set_output_scales(1 << 1, std::vector<float>(static_cast<size_t>(N), 1e-4f));
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_md, dst_md), attr, eng);
#endif
    impl = pd.impl_info_str();
    prim = dnnl::matmul(pd);
    src = dnnl::memory(src_md, eng, const_cast<void*>(x));
    dst = dnnl::memory(dst_md, eng, y);
    dnnl::memory user(user_md, eng, const_cast<void*>(w));
    wei = dnnl::memory(pd.weights_desc(), eng);
    dnnl::reorder(user, wei).execute(strm, user, wei);
    strm.wait();
#if DNNL_VERSION_MAJOR >= 3
    if (int8) {
      scales = dnnl::memory({{N}, dt::f32, tag::a}, eng);
      std::fill_n(static_cast<float*>(scales.get_data_handle()), N, 1e-4f);
    }
#endif
  }
  void run() {
#if DNNL_VERSION_MAJOR >= 3
    if (scales) {
      prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst},
                          {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, scales}});
      strm.wait();
      return;
    }
#endif
    prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    strm.wait();
  }
  dnnl::memory scales;
};
#endif

std::string g_dnnl_lowp_impl;

DtRow bench_dtypes(const GemmShape& s, int64_t l3) {
  DtRow row{s, {}, {}, {}};
  for (auto& t : row.t) std::fill(t, t + kDtContenders, kNaN);
  for (auto& r : row.read) std::fill(r, r + 3, kNaN);
  std::vector<float> w(static_cast<size_t>(s.N * s.K)), x(static_cast<size_t>(s.M * s.K));
  std::vector<float> y(static_cast<size_t>(s.M * s.N)), y_ref(y.size());
  fill_random(w.data(), static_cast<int64_t>(w.size()), 1);
  fill_random(x.data(), static_cast<int64_t>(x.size()), 2);
  const aiayn::DType dtypes[3] = {aiayn::DType::fp32, aiayn::DType::bf16, aiayn::DType::int8};
  aiayn::PackedWeights* pw[3];
  for (int d = 0; d < 3; ++d) {
    pw[d] = aiayn::linear_pack(w.data(), s.N, s.K, dtypes[d]);
    if (pw[d] == nullptr) {
      std::fprintf(stderr, "out of memory\n");
      std::exit(1);
    }
    row.bytes[d] = pw[d]->bytes;
  }
#ifdef AIAYN_HAVE_DNNL
  // oneDNN's operands, converted once: bf16 by truncation and u8 / s8 by a
  // plain scale (the speed, not the numerics, is compared here).
  std::vector<uint16_t> xb(x.size()), wb(w.size());
  std::vector<uint8_t> xu(x.size());
  std::vector<int8_t> ws(w.size());
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    xb[i] = static_cast<uint16_t>(u >> 16);
    xu[i] = static_cast<uint8_t>(128 + std::lrint(x[i] * 127));
  }
  for (size_t i = 0; i < w.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &w[i], 4);
    wb[i] = static_cast<uint16_t>(u >> 16);
    ws[i] = static_cast<int8_t>(std::lrint(w[i] * 127));
  }
#endif
  for (int i = 0; i < 2; ++i) {
    set_all_threads(kThreadCounts[i]);
    std::vector<Contender> cs;
    std::vector<double*> slots;
    for (int d = 0; d < 3; ++d) {
      aiayn::PackedWeights* p = pw[d];
      cs.push_back({[&, p] { aiayn::linear(x.data(), s.M, s.K, *p, nullptr, aiayn::Activation::none, nullptr,
                                           y.data(), s.N); }});
      slots.push_back(&row.t[i][d]);
    }
#ifdef AIAYN_HAVE_DNNL
    const bool has_bf16 = aiayn::at_least(aiayn::best_isa(), aiayn::Isa::avx512_bf16);
    std::unique_ptr<DnnlLowp> mb, mi;
    if (has_bf16) {
      mb = std::make_unique<DnnlLowp>(false, xb.data(), wb.data(), y_ref.data(), s.M, s.N, s.K);
      cs.push_back({[&] { mb->run(); }});
      slots.push_back(&row.t[i][3]);
    }
    mi = std::make_unique<DnnlLowp>(true, xu.data(), ws.data(), y_ref.data(), s.M, s.N, s.K);
    cs.push_back({[&] { mi->run(); }});
    slots.push_back(&row.t[i][4]);
    for (const DnnlLowp* m : {mb.get(), mi.get()}) {
      if (m && g_dnnl_lowp_impl.find(m->impl) == std::string::npos) {
        g_dnnl_lowp_impl += (g_dnnl_lowp_impl.empty() ? "" : ", ") + m->impl;
      }
    }
#endif
    const size_t first_read = cs.size();
    const bool big = static_cast<int64_t>(pw[0]->bytes) > l3;  // (the int8 copy may still half fit)
    if (big) {
      for (int d = 0; d < 3; ++d) add_read_contenders(cs, static_cast<const float*>(pw[d]->data),
                                                      static_cast<int64_t>(pw[d]->bytes / 4));
    }
    const std::vector<double> t = time_contenders(cs);
    for (size_t c = 0; c < slots.size(); ++c) *slots[c] = t[c];
    if (big) {
      for (int d = 0; d < 3; ++d) row.read[i][d] = std::min(t[first_read + 2 * d], t[first_read + 2 * d + 1]);
    }
  }
  for (auto* p : pw) aiayn::linear_free(p);
  return row;
}

void print_dtype_table(const std::vector<DtRow>& rows, const Limits& lim, int64_t l3) {
  std::printf("\nlinear by weight dtype: GFLOP/s (int8: GOP/s); %%pk = of the dtype's peak (fp32 FMA,\n"
              "vdpbf16ps, vpdpbusd); /f32 = speed-up over aiayn fp32; /dnn = aiayn / oneDNN same dtype;\n"
              "GB/s = packed weight bytes per call (M <= 8); %%rd = of reading the same bytes once (fp32 copy > L3)\n");
  for (int i = 0; i < 2; ++i) {
    std::printf("\n%d thread%s (peak fp32 %.1f, bf16 %.1f GFLOP/s, int8 %.1f GOP/s; DRAM %.1f GB/s)\n",
                kThreadCounts[i], i ? "s" : "", lim.peak[i], lim.bf16[i], lim.int8[i], lim.bw[i]);
    std::printf("%5s %6s %5s | %6s %5s | %6s %5s %5s %5s | %6s %5s %5s %5s | %6s %6s | %6s %6s %6s | %5s %5s %5s\n",
                "M", "N", "K", "fp32", "%pk", "bf16", "%pk", "/f32", "/dnn", "int8", "%pk", "/f32", "/dnn", "dnnbf",
                "dnni8", "GB/s32", "GB/s16", "GB/s8", "%rd32", "%rd16", "%rd8");
    for (const DtRow& r : rows) {
      const double* t = r.t[i];
      const double peaks[3] = {lim.peak[i], lim.bf16[i], lim.int8[i]};
      std::printf("%5lld %6lld %5lld |", static_cast<long long>(r.s.M), static_cast<long long>(r.s.N),
                  static_cast<long long>(r.s.K));
      for (int d = 0; d < 3; ++d) {
        print_num(gflops(r.s, t[d]), " %*.1f", 6);
        print_num(100.0 * gflops(r.s, t[d]) / peaks[d], " %*.1f", 5);
        if (d > 0) {
          print_num(t[0] / t[d], " %*.2f", 5);
          print_num(t[2 + d] / t[d], " %*.2f", 5);
        }
        std::printf(" |");
      }
      print_num(gflops(r.s, t[3]), " %*.1f", 6);
      print_num(gflops(r.s, t[4]), " %*.1f", 6);
      std::printf(" |");
      for (int d = 0; d < 3; ++d) {
        if (r.s.M <= 8) print_num(static_cast<double>(r.bytes[d]) / t[d] * 1e-9, " %*.1f", 6);
        else std::printf(" %6s", "");
      }
      std::printf(" |");
      for (int d = 0; d < 3; ++d) {
        if (r.s.M <= 8 && static_cast<int64_t>(r.bytes[0]) > l3) print_num(100.0 * r.read[i][d] / t[d], " %*.1f", 5);
      }
      std::printf("\n");
    }
  }
}

// ---- attention ------------------------------------------------------------

aiayn::AttentionArgs bthd_args(const float* q, const float* k, const float* v, float* out, int64_t B,
                               int64_t T, int64_t H, int64_t Dh, bool causal) {
  aiayn::AttentionArgs a;
  a.q = q;
  a.k = k;
  a.v = v;
  a.out = out;
  const aiayn::AttentionStrides st{T * H * Dh, H * Dh, Dh};  // [B, T, H, Dh]
  a.q_strides = a.k_strides = a.v_strides = a.out_strides = st;
  a.B = B;
  a.Tq = a.Tk = T;
  a.H = H;
  a.Dh = Dh;
  a.causal = causal;
  a.scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  return a;
}

enum class Lib { aiayn, dnnl, openblas };
const char* lib_name(Lib l) { return l == Lib::aiayn ? "aiayn-linear" : l == Lib::dnnl ? "oneDNN-sgemm" : "OpenBLAS"; }

// Unfused attention over [1, T, H, Dh]: per head S = scale Q K^T, masked
// softmax, O = S V; heads split over aiayn's pool, each GEMM single-threaded.
// aiayn::linear needs its operand packed: K_h and V_h^T are packed per call.
struct Unfused {
  Lib lib;
  int64_t T, H, Dh;
  const float *q, *k, *v;
  float* out;
  bool causal;
  std::vector<std::vector<float>> scratch;  // per thread: S [T][T], then copies

  void head(int64_t h, int thread) {
    const int64_t ld = H * Dh;
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    float* S = scratch[static_cast<size_t>(thread)].data();
    const float *qh = q + h * Dh, *kh = k + h * Dh, *vh = v + h * Dh;
    float* oh = out + h * Dh;
    switch (lib) {
#ifdef AIAYN_HAVE_DNNL
      case Lib::dnnl:
        omp_set_num_threads(1);  // this pool thread's own OpenMP setting
        dnnl_sgemm('N', 'T', T, T, Dh, scale, qh, ld, kh, ld, 0.0f, S, T);
        break;
#endif
#ifdef AIAYN_HAVE_OPENBLAS
      case Lib::openblas:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dh, scale, qh, ld, kh, ld, 0.0f, S, T);
        break;
#endif
      default: {
        float* c = S + T * T;  // [T][Dh] copies, then V^T [Dh][T]
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < Dh; ++d) c[t * Dh + d] = kh[t * ld + d];
        aiayn::PackedWeights* pk = aiayn::linear_pack(c, T, Dh);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < Dh; ++d) c[t * Dh + d] = qh[t * ld + d] * scale;
        aiayn::linear(c, T, Dh, *pk, nullptr, aiayn::Activation::none, nullptr, S, T);
        aiayn::linear_free(pk);
      }
    }
    if (causal) {
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = i + 1; j < T; ++j) S[i * T + j] = -__builtin_inff();
    }
    aiayn::softmax(S, T, T, S);  // inline: nested in a pool task
    switch (lib) {
#ifdef AIAYN_HAVE_DNNL
      case Lib::dnnl:
        dnnl_sgemm('N', 'N', T, Dh, T, 1.0f, S, T, vh, ld, 0.0f, oh, ld);
        break;
#endif
#ifdef AIAYN_HAVE_OPENBLAS
      case Lib::openblas:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, T, 1.0f, S, T, vh, ld, 0.0f, oh, ld);
        break;
#endif
      default: {
        float* c = S + T * T;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < Dh; ++d) c[d * T + t] = vh[t * ld + d];
        aiayn::PackedWeights* pv = aiayn::linear_pack(c, Dh, T);
        aiayn::linear(S, T, T, *pv, nullptr, aiayn::Activation::none, nullptr, oh, ld);
        aiayn::linear_free(pv);
      }
    }
  }

  void run() {
    if (scratch.size() < static_cast<size_t>(aiayn::threads())) {
      scratch.assign(static_cast<size_t>(aiayn::threads()), std::vector<float>(static_cast<size_t>(T * T + T * Dh)));
    }
#ifdef AIAYN_HAVE_OPENBLAS
    if (lib == Lib::openblas) openblas_set_num_threads(1);
#endif
    aiayn::parallel_for(H, [&](int64_t h, int thread) { head(h, thread); });
  }
};

std::vector<Lib> unfused_libs() {
  std::vector<Lib> libs;
#ifdef AIAYN_HAVE_DNNL
  libs.push_back(Lib::dnnl);
#endif
#ifdef AIAYN_HAVE_OPENBLAS
  libs.push_back(Lib::openblas);
#endif
  libs.push_back(Lib::aiayn);
  return libs;
}

struct PrefillRow {
  int64_t T;
  bool causal;
  double fused[2];
  double unfused[2];  // the fastest library's
  Lib best[2];
};

std::vector<PrefillRow> bench_prefill(const std::vector<int64_t>& Ts) {
  constexpr int64_t H = 8, Dh = 64;
  std::vector<PrefillRow> rows;
  for (const int64_t T : Ts) {
    std::vector<float> q(static_cast<size_t>(T * H * Dh)), k(q.size()), v(q.size()), o(q.size()), o_ref(q.size());
    fill_random(q.data(), T * H * Dh, 3);
    fill_random(k.data(), T * H * Dh, 4);
    fill_random(v.data(), T * H * Dh, 5);
    for (const bool causal : {false, true}) {
      PrefillRow row{T, causal, {}, {}, {}};
      const aiayn::AttentionArgs a = bthd_args(q.data(), k.data(), v.data(), o.data(), 1, T, H, Dh, causal);
      const std::vector<Lib> libs = unfused_libs();
      std::vector<Unfused> un;
      for (Lib l : libs) un.push_back({l, T, H, Dh, q.data(), k.data(), v.data(), o_ref.data(), causal, {}});
      for (int i = 0; i < 2; ++i) {
        set_all_threads(kThreadCounts[i]);
        std::vector<Contender> cs{{[&] { aiayn::attention(a); }}};
        for (Unfused& u : un) cs.push_back({[&u] { u.run(); }, u.lib == Lib::openblas ? 0.2 : 0.02});
        const std::vector<double> t = time_contenders(cs);
        row.fused[i] = t[0];
        row.unfused[i] = kNaN;
        for (size_t u = 0; u < un.size(); ++u) {
          if (!(t[u + 1] >= row.unfused[i])) {
            row.unfused[i] = t[u + 1];
            row.best[i] = un[u].lib;
          }
        }
        const double d = rel_diff(o.data(), o_ref.data(), T * H * Dh);
        if (d > 1e-4) std::fprintf(stderr, "warning: attention T=%lld differs from unfused by %.2e\n",
                                   static_cast<long long>(T), d);
      }
      rows.push_back(row);
    }
  }
  return rows;
}

struct DecodeRow {
  int64_t B, Tk;
  double hot[2], hot_read[2], cold[2], cold_read[2];
};

// q = 1 over a compact cache [B, H, Tk, Dh] (K then V): the bytes a decode
// step reads are one contiguous range, so "reading the cache once" is
// parallel_read over it.
std::vector<DecodeRow> bench_decode(const std::vector<int64_t>& Bs, const std::vector<int64_t>& Tks) {
  constexpr int64_t H = 8, Dh = 64;
  const int64_t ring_floats = (int64_t{256} << 20) / 4;
  float* ring = alloc_floats(ring_floats);
  fill_random(ring, ring_floats, 6);
  std::vector<DecodeRow> rows;
  for (const int64_t B : Bs) {
    std::vector<float> q(static_cast<size_t>(B * H * Dh)), o(q.size());
    fill_random(q.data(), B * H * Dh, 7);
    for (const int64_t Tk : Tks) {
      DecodeRow row{B, Tk, {}, {}, {}, {}};
      const int64_t half = B * H * Tk * Dh, layer = 2 * half;
      const int64_t layers = std::max<int64_t>(1, ring_floats / layer);
      int64_t next = 0;
      auto args = [&](int64_t l) {
        aiayn::AttentionArgs a;
        a.q = q.data();
        a.k = ring + l * layer;
        a.v = ring + l * layer + half;
        a.out = o.data();
        a.q_strides = a.out_strides = {H * Dh, H * Dh, Dh};  // [B, 1, H, Dh]
        a.k_strides = a.v_strides = {H * Tk * Dh, Dh, Tk * Dh};  // [B, H, Tk, Dh]
        a.B = B;
        a.Tq = 1;
        a.Tk = Tk;
        a.H = H;
        a.Dh = Dh;
        a.scale = 0.125f;
        return a;
      };
      const aiayn::AttentionArgs hot = args(0);
      for (int i = 0; i < 2; ++i) {
        set_all_threads(kThreadCounts[i]);
        std::vector<Contender> cs{{[&] { aiayn::attention(hot); }, 0.0},
                                  {[&] { aiayn::attention(args(next)); next = (next + 1) % layers; }, 0.0}};
        for (const int chains : {1, 4}) {
          cs.push_back({[&, chains] { parallel_read(ring, layer, chains); }, 0.0});
          cs.push_back({[&, chains] { parallel_read(ring + next * layer, layer, chains); next = (next + 1) % layers; }, 0.0});
        }
        const std::vector<double> t = time_contenders(cs);
        row.hot[i] = t[0];
        row.cold[i] = t[1];
        row.hot_read[i] = std::min(t[2], t[4]);
        row.cold_read[i] = std::min(t[3], t[5]);
      }
      rows.push_back(row);
    }
  }
  std::free(ring);
  return rows;
}

void print_attention(const std::vector<PrefillRow>& pre, const std::vector<DecodeRow>& dec, const Limits& lim) {
  for (int i = 0; i < 2 && !pre.empty(); ++i) {
    std::printf("\nattention prefill, B=1 H=8 Dh=64, %d thread%s (ms; unfused = fastest of %s)\n",
                kThreadCounts[i], i ? "s" : "", [] {
                  static std::string s;
                  s.clear();
                  for (Lib l : unfused_libs()) s += std::string(s.empty() ? "" : ", ") + lib_name(l);
                  return s.c_str();
                }());
    std::printf("%5s %7s | %9s %8s | %9s %13s | %9s %9s\n", "T", "causal", "fused", "GFLOP/s", "unfused",
                "(library)", "unf/fused", "nc/causal");
    for (size_t r = 0; r < pre.size(); ++r) {
      const PrefillRow& p = pre[r];
      const double T = static_cast<double>(p.T);
      const double flops = 4.0 * 8 * 64 * (p.causal ? T * (T + 1) / 2 : T * T);
      std::printf("%5lld %7s | %9.3f %8.1f | %9.3f %13s | %9.2f", static_cast<long long>(p.T),
                  p.causal ? "yes" : "no", p.fused[i] * 1e3, flops / p.fused[i] * 1e-9, p.unfused[i] * 1e3,
                  lib_name(p.best[i]), p.unfused[i] / p.fused[i]);
      if (p.causal && r > 0 && pre[r - 1].T == p.T) {
        std::printf(" %9.2f", pre[r - 1].fused[i] / p.fused[i]);
      }
      std::printf("\n");
    }
  }
  for (int i = 0; i < 2 && !dec.empty(); ++i) {
    std::printf("\nattention decode q=1, H=8 Dh=64, %d thread%s (us; read = reading the K+V bytes once; "
                "cold: caches cycled over 256 MiB, DRAM %.1f GB/s)\n",
                kThreadCounts[i], i ? "s" : "", lim.bw[i]);
    std::printf("%3s %5s %9s | %8s %8s %7s | %8s %8s %7s %7s\n", "B", "Tk", "KV bytes", "hot", "read", "ratio",
                "cold", "read", "ratio", "GB/s");
    for (const DecodeRow& d : dec) {
      const double bytes = 2.0 * static_cast<double>(d.B * 8 * d.Tk * 64 * 4);
      std::printf("%3lld %5lld %8.2fM | %8.1f %8.1f %7.2f | %8.1f %8.1f %7.2f %7.1f\n", static_cast<long long>(d.B),
                  static_cast<long long>(d.Tk), bytes / (1 << 20), d.hot[i] * 1e6, d.hot_read[i] * 1e6,
                  d.hot[i] / d.hot_read[i], d.cold[i] * 1e6, d.cold_read[i] * 1e6, d.cold[i] / d.cold_read[i],
                  bytes / d.cold[i] * 1e-9);
    }
  }
}

// ---- JSON -----------------------------------------------------------------

void json_num(FILE* f, const char* key, double v, bool comma = true) {
  if (std::isnan(v)) {
    std::fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
  } else {
    std::fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
  }
}

void write_json(const Limits& lim, const std::vector<GemmRow>& gemm, const std::vector<DtRow>& dts,
                const std::vector<PrefillRow>& pre,
                const std::vector<DecodeRow>& dec, const std::string& dnnl_version, const std::string& openblas) {
  const size_t slash = opt.json.find_last_of('/');
  if (slash != std::string::npos) mkdir(opt.json.substr(0, slash).c_str(), 0755);  // bench/results is git-ignored
  FILE* f = std::fopen(opt.json.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", opt.json.c_str());
    return;
  }
  std::fprintf(f, "{\n  \"isa\": \"%s\", \"quick\": %s, \"onednn\": \"%s\", \"onednn_impl\": \"%s\", \"openblas\": \"%s\",\n",
               aiayn::isa_name(aiayn::active_isa()), opt.quick ? "true" : "false", dnnl_version.c_str(),
               g_dnnl_impl.c_str(), openblas.c_str());
  std::fprintf(f, "  \"limits\": {");
  json_num(f, "peak_gflops_1t", lim.peak[0]);
  json_num(f, "peak_gflops_2t", lim.peak[1]);
  json_num(f, "dram_read_gbs_1t", lim.bw[0]);
  json_num(f, "dram_read_gbs_2t", lim.bw[1]);
  json_num(f, "bf16_peak_gflops_1t", lim.bf16[0]);
  json_num(f, "bf16_peak_gflops_2t", lim.bf16[1]);
  json_num(f, "int8_peak_gops_1t", lim.int8[0]);
  json_num(f, "int8_peak_gops_2t", lim.int8[1], false);
  std::fprintf(f, "},\n  \"linear\": [\n");
  for (size_t r = 0; r < gemm.size(); ++r) {
    const GemmRow& g = gemm[r];
    std::fprintf(f, "    {\"M\": %lld, \"N\": %lld, \"K\": %lld", static_cast<long long>(g.s.M),
                 static_cast<long long>(g.s.N), static_cast<long long>(g.s.K));
    for (int i = 0; i < 2; ++i) {
      char key[64];
      const GemmCell& c = g.t[i];
      std::fprintf(f, ", ");
      const char* names[] = {"aiayn", "onednn_matmul", "onednn_sgemm", "openblas", "weight_read"};
      const double ts[] = {c.aiayn, c.dnnl_mm, c.dnnl_sgemm, c.openblas, c.read};
      for (int n = 0; n < 5; ++n) {
        std::snprintf(key, sizeof key, "%s_us_%dt", names[n], kThreadCounts[i]);
        json_num(f, key, ts[n] * 1e6, n < 4);
      }
    }
    std::fprintf(f, "}%s\n", r + 1 < gemm.size() ? "," : "");
  }
  std::fprintf(f, "  ],\n  \"linear_dtypes\": [\n");
  for (size_t r = 0; r < dts.size(); ++r) {
    const DtRow& g = dts[r];
    std::fprintf(f, "    {\"M\": %lld, \"N\": %lld, \"K\": %lld, \"bytes_fp32\": %zu, \"bytes_bf16\": %zu, \"bytes_int8\": %zu",
                 static_cast<long long>(g.s.M), static_cast<long long>(g.s.N), static_cast<long long>(g.s.K), g.bytes[0],
                 g.bytes[1], g.bytes[2]);
    for (int i = 0; i < 2; ++i) {
      for (int c = 0; c < kDtContenders; ++c) {
        char key[64];
        std::snprintf(key, sizeof key, "%s_us_%dt", kDtNames[c], kThreadCounts[i]);
        std::fprintf(f, ", ");
        json_num(f, key, g.t[i][c] * 1e6, false);
      }
    }
    std::fprintf(f, "}%s\n", r + 1 < dts.size() ? "," : "");
  }
  std::fprintf(f, "  ],\n  \"attention_prefill\": [\n");
  for (size_t r = 0; r < pre.size(); ++r) {
    const PrefillRow& p = pre[r];
    std::fprintf(f, "    {\"B\": 1, \"H\": 8, \"Dh\": 64, \"T\": %lld, \"causal\": %s, ", static_cast<long long>(p.T),
                 p.causal ? "true" : "false");
    for (int i = 0; i < 2; ++i) {
      char key[64];
      std::snprintf(key, sizeof key, "fused_ms_%dt", kThreadCounts[i]);
      json_num(f, key, p.fused[i] * 1e3);
      std::snprintf(key, sizeof key, "unfused_ms_%dt", kThreadCounts[i]);
      json_num(f, key, p.unfused[i] * 1e3);
      std::fprintf(f, "\"unfused_gemm_%dt\": \"%s\"%s", kThreadCounts[i], lib_name(p.best[i]), i ? "" : ", ");
    }
    std::fprintf(f, "}%s\n", r + 1 < pre.size() ? "," : "");
  }
  std::fprintf(f, "  ],\n  \"attention_decode\": [\n");
  for (size_t r = 0; r < dec.size(); ++r) {
    const DecodeRow& d = dec[r];
    std::fprintf(f, "    {\"B\": %lld, \"H\": 8, \"Dh\": 64, \"Tk\": %lld, ", static_cast<long long>(d.B),
                 static_cast<long long>(d.Tk));
    for (int i = 0; i < 2; ++i) {
      char key[64];
      const int n = kThreadCounts[i];
      std::snprintf(key, sizeof key, "hot_us_%dt", n);
      json_num(f, key, d.hot[i] * 1e6);
      std::snprintf(key, sizeof key, "hot_read_us_%dt", n);
      json_num(f, key, d.hot_read[i] * 1e6);
      std::snprintf(key, sizeof key, "cold_us_%dt", n);
      json_num(f, key, d.cold[i] * 1e6);
      std::snprintf(key, sizeof key, "cold_read_us_%dt", n);
      json_num(f, key, d.cold_read[i] * 1e6, i == 0);
    }
    std::fprintf(f, "}%s\n", r + 1 < dec.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
  std::printf("\nwrote %s\n", opt.json.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      opt.quick = true;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      opt.only = argv[++i];
    } else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      opt.json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_native [--quick] [--only linear|dtypes|prefill|decode] [--json PATH]\n");
      return 2;
    }
  }
  if (opt.json.empty()) {
    opt.json = std::string(AIAYN_SOURCE_DIR) + (opt.quick ? "/bench/results/native-quick.json" : "/bench/results/native.json");
  }
  if (const char* err = aiayn::isa_env_error()) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  std::string dnnl_ver = "n/a", openblas = "n/a";
#ifdef AIAYN_HAVE_DNNL
  const dnnl_version_t* dv = dnnl_version();
  dnnl_ver = std::to_string(dv->major) + "." + std::to_string(dv->minor) + "." + std::to_string(dv->patch);
#endif
#ifdef AIAYN_HAVE_OPENBLAS
  openblas = openblas_get_corename();
#endif
  std::printf("aiayn isa=%s\n", aiayn::isa_name(aiayn::active_isa()));
  std::printf("oneDNN: %s\n", dnnl_ver == "n/a" ? "not found (apt-get install libdnnl-dev)" : dnnl_ver.c_str());
  std::printf("OpenBLAS: %s\n", openblas == "n/a" ? "not found (apt-get install libopenblas-dev)" : openblas.c_str());

  const Limits lim = measure_limits();
  std::printf("measured: FMA peak %.1f / %.1f GFLOP/s, DRAM read %.1f / %.1f GB/s (1 / 2 threads)\n", lim.peak[0],
              lim.peak[1], lim.bw[0], lim.bw[1]);
  std::printf("measured: vdpbf16ps %.1f / %.1f GFLOP/s, vpdpbusd %.1f / %.1f GOP/s (1 / 2 threads)\n", lim.bf16[0],
              lim.bf16[1], lim.int8[0], lim.int8[1]);

  const GemmShape shapes[] = {{1, 512, 512},   {1, 2048, 512},  {1, 32000, 512},   {2, 2048, 512},
                              {4, 2048, 512},  {8, 2048, 512},  {4, 32000, 512},   {8, 32000, 512},
                              {16, 512, 512},  {64, 2048, 512}, {128, 512, 512},   {128, 2048, 512},
                              {128, 512, 2048}, {1024, 1024, 1024}};
  const auto section = [](const char* name) { return opt.only.empty() || opt.only == name; };
  std::vector<GemmRow> gemm;
  if (section("linear")) {
    for (const GemmShape& s : shapes) gemm.push_back(bench_gemm(s, l3_bytes()));
    std::printf("\noneDNN matmul implementation: %s\n", g_dnnl_impl.empty() ? "n/a" : g_dnnl_impl.c_str());
    print_gemm_table(gemm, lim, l3_bytes());
  }
  // The base model's shapes (D 512, F 2048, V 58101): decode M = 1, 8, prefill M = 1024.
  const GemmShape dt_shapes[] = {{1, 2048, 512}, {1, 512, 2048}, {1, 58101, 512}, {8, 2048, 512}, {8, 512, 2048},
                                 {8, 58101, 512}, {1024, 512, 512}, {1024, 2048, 512}, {1024, 512, 2048}};
  std::vector<DtRow> dts;
  if (section("dtypes")) {
    for (const GemmShape& s : dt_shapes) dts.push_back(bench_dtypes(s, l3_bytes()));
    std::printf("\noneDNN bf16/int8 matmul implementation: %s\n", g_dnnl_lowp_impl.empty() ? "n/a" : g_dnnl_lowp_impl.c_str());
    print_dtype_table(dts, lim, l3_bytes());
  }
  std::vector<PrefillRow> pre;
  if (section("prefill")) pre = bench_prefill({128, 512, 2048});
  std::vector<DecodeRow> dec;
  if (section("decode")) dec = bench_decode({1, 16}, {32, 128, 512, 2048});
  print_attention(pre, dec, lim);
  if (opt.only.empty()) write_json(lim, gemm, dts, pre, dec, dnnl_ver, openblas);
  return 0;
}
