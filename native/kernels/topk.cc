// topk (topk.h): ISA dispatch, row splitting over the thread pool, and the
// selection heap every ISA kernel feeds (topk_kernels.h). Baseline flags.
//
// The heap lives in the row's output slots (no scratch, no allocation): a
// binary heap of (value, index) pairs with the worst pair at slot 0, ordered
// by the int32 key of the value and then by the index. A kernel offers only
// the candidates whose key beats the current worst (vectorised compare), so
// for k << N the heap sees about k ln(N/k) offers per row of random data, and
// the pass over the row runs at the speed of the compare. topk_finish is a
// heap sort in place, leaving the pairs best first.
#include "topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu.h"
#include "threadpool.h"
#include "topk_kernels.h"

namespace aiayn {
namespace {

// As ops.cc: below this many elements a pool hand-off costs more than the
// work; the smallest block of elements worth a task of its own.
constexpr int64_t kParallelMin = 16 * 1024;
constexpr int64_t kTaskMin = 8 * 1024;

// Every ISA level >= avx512 runs the avx512 kernel, every ARM level the neon
// one (fp32 has no wider path).
TopkFn* select_kernel() {
  const Isa isa = active_isa();
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) return f32_topk__avx512;
  if (at_least(isa, Isa::avx2)) return f32_topk__avx2;
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) return f32_topk__neon;
#endif
  return f32_topk__scalar;
}

// Pair a ranks below pair b: a lower key, or the same key at a higher index.
inline bool worse(int32_t ka, int32_t ia, int32_t kb, int32_t ib) {
  return ka < kb || (ka == kb && ia > ib);
}

// Moves (v, key, i) down from slot `pos` of the heap [0, n) to its place.
void sift_down(TopkRow& row, int64_t pos, int64_t n, float v, int32_t key, int32_t i) {
  for (;;) {
    int64_t c = 2 * pos + 1;
    if (c >= n) break;
    int32_t kc = topk_key(row.values[c]);
    if (c + 1 < n) {
      const int32_t kr = topk_key(row.values[c + 1]);
      if (worse(kr, row.indices[c + 1], kc, row.indices[c])) {
        ++c;
        kc = kr;
      }
    }
    if (!worse(kc, row.indices[c], key, i)) break;
    row.values[pos] = row.values[c];
    row.indices[pos] = row.indices[c];
    pos = c;
  }
  row.values[pos] = v;
  row.indices[pos] = i;
}

}  // namespace

int32_t topk_key(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const uint32_t a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) return kTopkKeyNaN;
  return bits >> 31 ? -static_cast<int32_t>(a) : static_cast<int32_t>(a);
}

int32_t topk_offer(TopkRow& row, float v, int32_t i) {
  const int32_t key = topk_key(v);
  if (row.size < row.k) {
    // Append, then move up while worse than the parent.
    int64_t pos = row.size++;
    while (pos > 0) {
      const int64_t p = (pos - 1) / 2;
      if (!worse(key, i, topk_key(row.values[p]), row.indices[p])) break;
      row.values[pos] = row.values[p];
      row.indices[pos] = row.indices[p];
      pos = p;
    }
    row.values[pos] = v;
    row.indices[pos] = i;
    return row.size == row.k ? topk_key(row.values[0]) : kTopkAcceptAll;
  }
  const int32_t worst = topk_key(row.values[0]);
  if (key <= worst) return worst;  // equal keys: i is the higher index, so it loses
  sift_down(row, 0, row.size, v, key, i);
  return topk_key(row.values[0]);
}

void topk_finish(TopkRow& row) {
  for (int64_t end = row.size - 1; end > 0; --end) {
    const float v = row.values[end];
    const int32_t i = row.indices[end];
    row.values[end] = row.values[0];  // the worst left goes last
    row.indices[end] = row.indices[0];
    sift_down(row, 0, end, v, topk_key(v), i);
  }
}

void topk_all_neg_inf(TopkRow& row) {
  for (int64_t j = 0; j < row.k; ++j) {
    row.values[j] = -INFINITY;
    row.indices[j] = static_cast<int32_t>(j);
  }
  row.size = row.k;
}

void topk(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
          int32_t* indices) {
  if (rows <= 0 || N <= 0 || k <= 0) return;
  static TopkFn* const fn = select_kernel();
  int64_t blocks = 1;
  if (rows > 1 && rows * N >= kParallelMin) {
    const int64_t nt = threads();
    if (nt > 1) blocks = std::max<int64_t>(1, std::min({rows, nt * 4, rows * N / kTaskMin}));
  }
  // Every call goes through the pool (inline for one task), as the other ops:
  // log_softmax's statistics then see the same FTZ/DAZ state as that op.
  parallel_for(blocks, [&](int64_t b, int) {
    const int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
    fn(x + r0 * N, r1 - r0, N, k, log_softmax, values + r0 * k, indices + r0 * k);
  });
}

}  // namespace aiayn
