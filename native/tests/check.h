// kernel_tests harness: exact-size buffers, a seeded generator, the double-
// precision reference helpers every test file shares, and the case counter.
//
// Buffers (Vec) hold exactly the elements a kernel may touch, no slack, in
// one of two modes (kernel_tests runs every ISA in both):
//   heap         operator new: under AddressSanitizer any access before or
//                past a tensor is a report (ASan poisons both sides)
//   guard pages  the buffer ends at the last byte before a PROT_NONE page: a
//                masked vector load or store with a wrong mask (which ASan
//                does not instrument) faults past the end; buffers are then
//                only 4-byte aligned, as a Float32Array view may be.
//
// Tolerances compare an fp32 kernel with a double loop, so they are bounds on
// fp32 rounding, in units of u = 2^-24 (the unit roundoff): a sum of n terms
// in any order is within about n u sum|terms| of the exact sum (Higham,
// "Accuracy and Stability of Numerical Algorithms", 3.1); each file states its
// bound next to its cases. A wrong index, a missed tail or a stale lane gives
// errors of the order of the values themselves, far above these bounds.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace kt {

// The mode of every Vec allocation; set once, before any is made.
extern bool guard_pages;
void* guarded_alloc(size_t bytes);
void guarded_free(void* p, size_t bytes);

template <typename T>
struct Alloc {
  using value_type = T;
  Alloc() = default;
  template <typename U>
  Alloc(const Alloc<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(guard_pages ? guarded_alloc(n * sizeof(T)) : ::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) {
    if (guard_pages) guarded_free(p, n * sizeof(T));
    else ::operator delete(p);
  }
  template <typename U>
  bool operator==(const Alloc<U>&) const { return true; }
  template <typename U>
  bool operator!=(const Alloc<U>&) const { return false; }
};
template <typename T>
using Vec = std::vector<T, Alloc<T>>;

constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff

// Counts cases; a failed case prints its name and the first mismatches.
struct Results {
  int64_t passed = 0, failed = 0;
};
Results& results();

// A running case: mismatches are collected by check(), then end() counts it.
class Case {
 public:
  explicit Case(std::string name);
  // got within tol of want, or equal (NaN only where want is NaN).
  void close(const char* what, int64_t i, double got, double want, double tol);
  void equal(const char* what, int64_t i, int64_t got, int64_t want);
  void fail(const std::string& message);
  ~Case();

 private:
  std::string name_;
  int mismatches_ = 0;
};

// xorshift64*: the same stream on every machine and ISA.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  float uniform(float lo, float hi) {  // [lo, hi)
    return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / (1ull << 24)));
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  Vec<float> floats(int64_t n, float lo = -1.0f, float hi = 1.0f) {
    Vec<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }

 private:
  uint64_t s_;
};

// The thread counts every case runs with (1, and the pool's parallel path).
inline const int kThreadCounts[] = {1, 2, 3};

// Double-precision activations (activation.h's definitions).
double activate_ref(double v, int act);
const char* activation_name(int act);
constexpr int kActivations = 5;

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

void test_gemm();
void test_gemm_dt();
void test_attention();
void test_ops();
void test_topk();
void test_threadpool();
void test_decoder_step();

}  // namespace kt
