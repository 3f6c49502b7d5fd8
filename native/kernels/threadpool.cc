#include "threadpool.h"

#include "cpu.h"

#if AIAYN_X86
#include <xmmintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace aiayn {
namespace {

// Denormal inputs and results flush to zero on pool threads (the kernels'
// contract, and the slow path of denormal arithmetic avoided): on x86 MXCSR's
// FTZ | DAZ, on aarch64 FPCR.FZ, which covers both. fp_mode() reads the
// calling thread's mode, so the JavaScript thread's is restored after a job.
#if AIAYN_X86
using FpMode = unsigned;
FpMode fp_mode() { return _mm_getcsr(); }
void set_fp_mode(FpMode m) { _mm_setcsr(m); }
constexpr FpMode kFlushDenormals = 0x8040;
void spin_pause() { _mm_pause(); }
#elif AIAYN_ARM64
using FpMode = uint64_t;
FpMode fp_mode() {
  uint64_t v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}
void set_fp_mode(FpMode m) { __asm__ volatile("msr fpcr, %0" : : "r"(m)); }
constexpr FpMode kFlushDenormals = uint64_t{1} << 24;  // FPCR.FZ
void spin_pause() { __asm__ volatile("yield"); }
#else
using FpMode = unsigned;
FpMode fp_mode() { return 0; }
void set_fp_mode(FpMode) {}
constexpr FpMode kFlushDenormals = 0;
void spin_pause() {}
#endif

// Workers spin this many pause loops (tens of microseconds) before sleeping, so
// back-to-back small kernels (decode) do not pay a futex wake-up each.
constexpr int kSpinIterations = 20000;

thread_local bool tl_in_task = false;

int read_int_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return -1;
  int v = -1;
  if (std::fscanf(f, "%d", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

#if defined(__linux__)
// Cores this process may run on, counting SMT siblings once (sysfs topology).
int physical_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  std::set<std::pair<int, int>> cores;
  int logical = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    ++logical;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    const int pkg = read_int_file(base + "physical_package_id");
    const int core = read_int_file(base + "core_id");
    if (pkg < 0 || core < 0) return std::max(1, logical);
    cores.emplace(pkg, core);
  }
  return std::max<int>(1, static_cast<int>(cores.size()));
}
#else
int physical_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
#endif

// pthread's condition variable rather than std::condition_variable: libstdc++
// 12 versions the latter's wait() as GLIBCXX_3.4.30, so a prebuild using it
// would not load where the system's libstdc++ is older (Debian 11, RHEL 9,
// Amazon Linux 2023). std::mutex is a pthread mutex in libstdc++ and libc++.
class CondVar {
 public:
  CondVar() { pthread_cond_init(&c_, nullptr); }
  ~CondVar() { pthread_cond_destroy(&c_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  void wait(std::unique_lock<std::mutex>& lock) { pthread_cond_wait(&c_, lock.mutex()->native_handle()); }
  void notify_all() { pthread_cond_broadcast(&c_); }

 private:
  pthread_cond_t c_;
};

class Pool {
 public:
  explicit Pool(int n) { start(n); }

  int size() const { return size_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    if (n == size()) return;
    stop();
    start(n);
  }

  void run(int64_t ntasks, TaskFn fn, void* ctx, int max_threads) {
    const FpMode saved = fp_mode();
    set_fp_mode(saved | kFlushDenormals);
    std::unique_lock<std::mutex> job_lock(job_mutex_, std::defer_lock);
    if (!tl_in_task && ntasks > 1 && size() > 1 && max_threads != 1) job_lock.lock();
    if (!job_lock.owns_lock() || size() == 1) {
      const bool nested = tl_in_task;
      tl_in_task = true;
      for (int64_t t = 0; t < ntasks; ++t) fn(ctx, t, 0);
      tl_in_task = nested;
      set_fp_mode(saved);
      return;
    }
    // Close the previous job to late claimers first (its claim word changes
    // generation), then describe this one, then wake the workers.
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    claim_.store(gen << 32, std::memory_order_release);
    fn_ = fn;
    ctx_ = ctx;
    max_threads_.store(max_threads, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    ntasks_.store(ntasks, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.store(gen, std::memory_order_release);
    }
    cv_.notify_all();
    tl_in_task = true;
    work(gen, 0);
    tl_in_task = false;
    // Wait only for tasks others have claimed: a worker that has not woken yet
    // finds nothing left and never holds this job up.
    while (done_.load(std::memory_order_acquire) < ntasks) spin_pause();
    set_fp_mode(saved);
  }

 private:
  // Claims and runs tasks of job `gen` until none are left. A claim is a CAS on
  // (generation << 32 | next task), so a late worker holding an old generation
  // can never claim a task of a newer job; a successful claim also keeps the
  // job (and so fn_ and ctx_) alive until that task is done.
  // Reading ntasks_ with acquire orders it after the claim word of its job, so
  // a CAS after seeing a new count cannot succeed on the old job's word.
  void work(uint64_t gen, int thread) {
    const int max_threads = max_threads_.load(std::memory_order_relaxed);
    if (max_threads > 0 && thread >= max_threads) return;
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((c >> 32) != (gen & 0xFFFFFFFFu)) return;
      const int64_t t = static_cast<int64_t>(c & 0xFFFFFFFFu);
      if (t >= ntasks_.load(std::memory_order_acquire)) return;
      if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        continue;
      }
      fn_(ctx_, t, thread);
      done_.fetch_add(1, std::memory_order_release);
      c = claim_.load(std::memory_order_acquire);
    }
  }

  // `seen` is the generation at creation: a job posted before this thread
  // first runs must still count as new to it.
  void worker(int thread, uint64_t seen) {
    set_fp_mode(fp_mode() | kFlushDenormals);
    tl_in_task = true;
    for (;;) {
      uint64_t g = seen;
      for (int i = 0; i < kSpinIterations && g == seen; ++i) {
        spin_pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        while (generation_.load(std::memory_order_acquire) == seen && !quit_.load(std::memory_order_relaxed)) {
          cv_.wait(lock);
        }
        g = generation_.load(std::memory_order_acquire);
      }
      if (quit_.load(std::memory_order_acquire)) return;
      seen = g;
      work(g, thread);
    }
  }

  void start(int n) {
    size_.store(n, std::memory_order_relaxed);
    quit_.store(false, std::memory_order_relaxed);
    const uint64_t now = generation_.load(std::memory_order_relaxed);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, now] { worker(i, now); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex job_mutex_;  // one parallel_for at a time
  std::mutex mutex_;      // guards sleeping and quit_
  CondVar cv_;
  std::vector<std::thread> workers_;
  std::atomic<int> size_{1};
  // Atomic: a worker that leaves its spin on a new job reads it without the mutex.
  std::atomic<bool> quit_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  // generation << 32 | next task index
  std::atomic<int64_t> done_{0};    // tasks of the current job finished
  std::atomic<int> max_threads_{0};  // threads that may take part (0: all)
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int64_t> ntasks_{0};  // read before a claim; the CAS rejects a stale one
};

// Never destroyed: worker threads must not be joined from static destructors
// while Node tears the process down.
Pool& pool() {
  static Pool* p = new Pool(default_threads());
  return *p;
}

}  // namespace

namespace {

// AIAYN_THREADS as a count, 0 when unset, -1 when malformed.
int threads_from_env() {
  const char* env = std::getenv("AIAYN_THREADS");
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  if (end == env || *end != '\0' || v < 1 || v > 1024) return -1;
  return static_cast<int>(v);
}

}  // namespace

int default_threads() {
  const int n = threads_from_env();
  return n > 0 ? n : physical_cores();
}

const char* threads_env_error() {
  return threads_from_env() < 0 ? "AIAYN_THREADS must be an integer in [1, 1024]" : nullptr;
}

int threads() { return pool().size(); }

void set_threads(int n) { pool().resize(std::max(1, n)); }

void parallel_for_raw(int64_t ntasks, TaskFn fn, void* ctx, int max_threads) {
  // The claim word counts tasks in 32 bits: run giant jobs in chunks.
  constexpr int64_t kChunk = int64_t{1} << 30;
  if (ntasks <= kChunk) {
    if (ntasks > 0) pool().run(ntasks, fn, ctx, max_threads);
    return;
  }
  struct Offset {
    TaskFn fn;
    void* ctx;
    int64_t base;
  };
  for (int64_t base = 0; base < ntasks; base += kChunk) {
    Offset o{fn, ctx, base};
    pool().run(std::min(kChunk, ntasks - base),
               [](void* p, int64_t task, int thread) {
                 const auto* off = static_cast<Offset*>(p);
                 off->fn(off->ctx, off->base + task, thread);
               },
               &o, max_threads);
  }
}

}  // namespace aiayn
