// kernel_tests: every public kernel (native/kernels/*.h) against plain double
// loops over edge shapes, on every ISA path this CPU has, with 1-3 threads.
//
//   kernel_tests            runs itself once per ISA level of its architecture
//                           (AIAYN_ISA=scalar, avx2, ... or scalar, neon, ...:
//                           the dispatch is chosen once per process, cpu.cc),
//                           skipping, visibly, the levels the CPU lacks
//   kernel_tests --isa X [--guard]
//                           one ISA in this process (what the parent runs,
//                           for each ISA with heap buffers, then with guard
//                           pages: check.h)
// Exits non-zero when any case fails or a child dies (a sanitizer report
// aborts it: tools/sanitize.sh sets halt_on_error).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <new>

#include "check.h"
#include "cpu.h"
#include "threadpool.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace kt {

// The case running, named when a sanitizer report ends the process.
const std::string* current_case = nullptr;

bool guard_pages = false;

namespace {
size_t page_bytes() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
size_t data_pages(size_t bytes) { return (bytes + page_bytes() - 1) / page_bytes(); }
}  // namespace

void* guarded_alloc(size_t bytes) {
  const size_t page = page_bytes(), pages = data_pages(bytes);
  void* mem = mmap(nullptr, (pages + 1) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  char* guard = static_cast<char*>(mem) + pages * page;
  if (mprotect(guard, page, PROT_NONE) != 0) throw std::bad_alloc();
  return guard - bytes;
}

void guarded_free(void* p, size_t bytes) {
  const size_t page = page_bytes(), pages = data_pages(bytes);
  munmap(static_cast<char*>(p) + bytes - pages * page, (pages + 1) * page);
}

Results& results() {
  static Results r;
  return r;
}

std::string fmt(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

Case::Case(std::string name) : name_(std::move(name)) { current_case = &name_; }

void Case::close(const char* what, int64_t i, double got, double want, double tol) {
  const bool ok = got == want || (std::isnan(want) ? std::isnan(got) : std::fabs(got - want) <= tol);
  if (ok) return;
  if (++mismatches_ <= 3) {
    std::printf("  %s: %s[%lld] = %.9g, expected %.9g (|err| %.3g > tol %.3g)\n", name_.c_str(),
                what, static_cast<long long>(i), got, want, std::fabs(got - want), tol);
  }
}

void Case::equal(const char* what, int64_t i, int64_t got, int64_t want) {
  if (got == want) return;
  if (++mismatches_ <= 3) {
    std::printf("  %s: %s[%lld] = %lld, expected %lld\n", name_.c_str(), what,
                static_cast<long long>(i), static_cast<long long>(got),
                static_cast<long long>(want));
  }
}

void Case::fail(const std::string& message) {
  ++mismatches_;
  std::printf("  %s: %s\n", name_.c_str(), message.c_str());
}

Case::~Case() {
  current_case = nullptr;
  if (mismatches_ == 0) {
    ++results().passed;
  } else {
    ++results().failed;
    std::printf("FAIL %s (%d mismatches)\n", name_.c_str(), mismatches_);
  }
}

double activate_ref(double v, int act) {
  switch (act) {
    case 1: return v > 0 ? v : 0;
    case 2: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case 3: return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case 4: return v / (1 + std::exp(-v));
    default: return v;
  }
}

const char* activation_name(int act) {
  static const char* names[] = {"none", "relu", "gelu", "gelu_tanh", "silu"};
  return names[act];
}

}  // namespace kt

namespace {

void report_case() {
  if (kt::current_case != nullptr) std::printf("FAIL %s (sanitizer report)\n", kt::current_case->c_str());
  std::fflush(stdout);
}

int run_one(const char* isa, bool guard) {
  kt::guard_pages = guard;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(report_case);
#endif
  const char* active = aiayn::isa_name(aiayn::active_isa());
  if (aiayn::isa_env_error() != nullptr || std::strcmp(active, isa) != 0) {
    std::printf("kernel_tests: cannot run isa %s (%s)\n", isa,
                aiayn::isa_env_error() ? aiayn::isa_env_error() : "AIAYN_ISA not set to it");
    return 2;
  }
  kt::test_gemm();
  kt::test_gemm_dt();
  kt::test_attention();
  kt::test_ops();
  kt::test_topk();
  kt::test_threadpool();
  kt::test_decoder_step();
  const kt::Results& r = kt::results();
  // The parent reads this line.
  std::printf("isa %s%s: %lld passed, %lld failed\n", isa, guard ? " (guard pages)" : "",
              static_cast<long long>(r.passed), static_cast<long long>(r.failed));
  return r.failed == 0 ? 0 : 1;
}

// Runs `self --isa isa [--guard]` with AIAYN_ISA=isa; adds its counts. False
// if it failed or died.
bool run_child(const char* self, const char* isa, bool guard, long long* passed, long long* failed) {
  setenv("AIAYN_ISA", isa, 1);
  const std::string command = std::string("'") + self + "' --isa " + isa + (guard ? " --guard" : "");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[1024];
  long long p = -1, f = -1;
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    std::fputs(line, stdout);
    std::fflush(stdout);
    const char* counts = std::strchr(line, ':');
    long long lp, lf;
    if (std::strncmp(line, "isa ", 4) == 0 && counts != nullptr &&
        std::sscanf(counts, ": %lld passed, %lld failed", &lp, &lf) == 2) {
      p = lp;
      f = lf;
    }
  }
  const int status = pclose(pipe);
  const bool exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (p < 0) {  // died before its summary (e.g. a sanitizer report): one failure
    std::printf("isa %s%s: no summary (exit status %d)\n", isa, guard ? " (guard pages)" : "", status);
    *failed += 1;
    return false;
  }
  *passed += p;
  *failed += f;
  return exited_ok && f == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if ((argc == 3 || (argc == 4 && std::strcmp(argv[3], "--guard") == 0)) &&
      std::strcmp(argv[1], "--isa") == 0) {
    return run_one(argv[2], argc == 4);
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: kernel_tests [--isa LEVEL [--guard]] (LEVEL: scalar, avx2, avx512, avx512_vnni, "
                         "avx512_bf16 on x86-64; scalar, neon, neon_dotprod, neon_i8mm_bf16 on aarch64)\n");
    return 2;
  }
  // The path of this binary (a shell resolving /proc/self/exe would find itself).
  char path[4096];
  const ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
  const std::string self = len > 0 ? std::string(path, static_cast<size_t>(len)) : argv[0];
  const aiayn::Isa best = aiayn::best_isa();
  long long passed = 0, failed = 0;
  bool ok = true;
  std::string ran, skipped;
  int nlevels = 0;
  const aiayn::Isa* levels = aiayn::isa_levels(&nlevels);
  for (int i = 0; i < nlevels; ++i) {
    const aiayn::Isa isa = levels[i];
    const char* name = aiayn::isa_name(isa);
    if (!aiayn::at_least(best, isa)) {
      std::printf("kernel_tests: SKIP isa %s (this CPU's best is %s)\n", name,
                  aiayn::isa_name(best));
      skipped += std::string(" ") + name;
      continue;
    }
    for (bool guard : {false, true}) {
      std::printf("== kernel_tests --isa %s%s\n", name, guard ? " --guard" : "");
      ok = run_child(self.c_str(), name, guard, &passed, &failed) && ok;
    }
    ran += std::string(ran.empty() ? "" : " ") + name;
  }
  std::printf("kernel_tests: %lld cases passed, %lld failed (isa: %s%s%s)\n", passed, failed,
              ran.c_str(), skipped.empty() ? "" : "; skipped:", skipped.c_str());
  return ok && failed == 0 ? 0 : 1;
}
