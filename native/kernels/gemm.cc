// Linear layer (gemm.h): weight packing, blocking, ISA dispatch and threading.
// Compiled with baseline flags; the register tiles live in gemm_<isa>.cc.
//
// Packed weights: [ceil(N/nr)][K][nr] floats, zero-padded in N, 64-byte
// aligned; nr is the panel width of the ISA active at packing time (scalar 8,
// avx2 16, avx512 64), recorded with the data so linear() can dispatch on it.
//
// Blocking (Goto/BLIS with the roles of the operands as in y = x . W^T):
// - the depth is split into nk = ceil(K / kKcMax) blocks of equal size (the
//   last one shorter); per depth block a task sweeps its row tiles, and for
//   each row tile (mr x kc of x, in L1) all its panels (nc x kc of packed W,
//   sized to stay in L2).
// - small M (decode): panels outside row tiles, and a group of panels goes
//   through all its depth blocks before the next group, so every packed
//   panel is streamed from memory once, front to back; threads split N.
// - larger M: tasks are (row range, panel range) rectangles; with several
//   threads there are enough of them for the dynamic scheduler to balance.
//
// Batch invariance: y[r, n] is the same function of row r of x whatever M,
// the other rows, the thread count or the task split. The depth blocks depend
// on K only (not on M), and every micro-kernel computes each output element
// as one fp32 FMA chain over a depth block in depth order, starting from
// zero, then adds it to the previous blocks' sum held in y (then bias,
// activation, residual). Tiles never split the depth into interleaved partial
// sums to hide FMA latency: narrow row tiles cover more panels instead. So a
// request's logits do not change when the serving engine batches it with
// others (tested bit for bit in test/batch-invariance.test.ts).
#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "gemm_kernels.h"
#include "threadpool.h"

namespace aiayn {
namespace {

constexpr int64_t kKcMax = 512;
// Bytes of packed panels one task sweeps per depth block: about half of L2.
constexpr int64_t kPanelBlockBytes = 512 * 1024;
// Rows per task at most (x block of 192 x 512 floats = 384 KiB, read once per
// panel block).
constexpr int64_t kMcMax = 192;
// Below this many multiply-adds a single task beats a pool hand-off.
constexpr int64_t kParallelMinMacs = 1 << 17;
// Tasks per thread wanted for dynamic balancing.
constexpr int64_t kTasksPerThread = 4;
// Packed weights at least this big (an L3 of this machine class) cannot stay
// cached between calls: blk.stream, the decode tiles tuned for DRAM reads.
constexpr size_t kStreamBytes = size_t{32} << 20;

using BlockFn = void (*)(const GemmBlock&);

// Panels a task's range is a multiple of (the widest one-row tile).
int64_t panel_group(Isa isa) {
  if (at_least(isa, Isa::avx512)) return kPanelGroupAvx512;
  if (at_least(isa, Isa::avx2)) return kPanelGroupAvx2;
  return 1;
}

int64_t panel_width(Isa isa) {
  if (at_least(isa, Isa::avx512)) return kNrAvx512;
  if (at_least(isa, Isa::avx2)) return kNrAvx2;
  return kNrScalar;
}

BlockFn block_fn(Isa isa) {
  if (at_least(isa, Isa::avx512)) return linear_block_avx512;
  if (at_least(isa, Isa::avx2)) return linear_block_avx2;
  return linear_block_scalar;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

PackedWeights* linear_pack(const float* w, int64_t N, int64_t K) {
  if (N < 1 || K < 1) return nullptr;
  const Isa isa = active_isa();
  const int64_t nr = panel_width(isa);
  const int64_t panels = ceil_div(N, nr);
  if (K > INT64_MAX / static_cast<int64_t>(sizeof(float)) / (panels * nr)) return nullptr;
  const size_t bytes = static_cast<size_t>(panels * K * nr) * sizeof(float);
  void* mem = nullptr;
  if (posix_memalign(&mem, 64, bytes) != 0) return nullptr;
  auto* p = new (std::nothrow) PackedWeights;
  if (p == nullptr) {
    std::free(mem);
    return nullptr;
  }
  float* dst = static_cast<float*>(mem);
  // Transpose in depth chunks so both the rows of W and the panel stay cached;
  // panels are independent, so they are split over the pool.
  constexpr int64_t kChunk = 64;
  const int64_t ntasks = std::min(panels, static_cast<int64_t>(threads()) * kTasksPerThread);
  parallel_for(ntasks, [&](int64_t task, int) {
    for (int64_t pi = panels * task / ntasks; pi < panels * (task + 1) / ntasks; ++pi) {
      float* panel = dst + pi * K * nr;
      const int64_t cols = std::min(nr, N - pi * nr);
      for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
        const int64_t k1 = std::min(K, k0 + kChunk);
        for (int64_t j = 0; j < nr; ++j) {
          if (j < cols) {
            const float* src = w + (pi * nr + j) * K;
            for (int64_t k = k0; k < k1; ++k) panel[k * nr + j] = src[k];
          } else {
            for (int64_t k = k0; k < k1; ++k) panel[k * nr + j] = 0.0f;
          }
        }
      }
    }
  });
  p->N = N;
  p->K = K;
  p->isa = isa;
  p->nr = nr;
  p->data = dst;
  p->bytes = bytes;
  return p;
}

void linear_unpack(const PackedWeights& p, float* w) {
  const int64_t N = p.N, K = p.K, nr = p.nr;
  for (int64_t n = 0; n < N; ++n) {
    const float* panel = p.data + (n / nr) * K * nr + n % nr;
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = panel[k * nr];
  }
}

void linear_free(PackedWeights* p) {
  if (p == nullptr) return;
  std::free(p->data);
  delete p;
}

void linear(const float* x, int64_t M, int64_t ldx, const PackedWeights& w, const float* bias,
            Activation act, const float* residual, float* y, int64_t ldy) {
  if (M <= 0) return;
  const int64_t N = w.N, K = w.K, nr = w.nr;
  const BlockFn fn = block_fn(w.isa);
  const int64_t mr = w.isa == Isa::scalar ? 1 : kMrSimd;
  const int64_t panels = ceil_div(N, nr);
  const int64_t group = panel_group(w.isa);
  const int64_t units = ceil_div(panels, group);  // tasks split N in whole groups of panels
  const int64_t mtiles = ceil_div(M, mr);
  const int64_t nt = M * N * K >= kParallelMinMacs ? threads() : 1;

  const bool small = M <= kSmallM;
  const int64_t nk = ceil_div(K, kKcMax);  // K alone decides: see batch invariance above
  const int64_t kc = ceil_div(K, nk);
  int64_t nm, nn;
  if (small) {
    nm = 1;
    nn = nt > 1 ? std::min(units, nt * kTasksPerThread) : 1;
  } else {
    const int64_t nc_units = std::max<int64_t>(1, kPanelBlockBytes / (kc * nr * 4 * group));
    nn = ceil_div(units, nc_units);
    nm = ceil_div(mtiles, ceil_div(kMcMax, mr));
    if (nt > 1 && nm * nn < nt * kTasksPerThread) {
      nm = std::min(mtiles, ceil_div(nt * kTasksPerThread, nn));
    }
  }

  // In place (residual is y, no activation): y already holds the residual, so
  // every depth block accumulates onto it and the epilogue adds nothing.
  const bool in_place = residual == y;
  // Every call goes through the pool (inline for one task) so FTZ/DAZ apply.
  parallel_for(nm * nn, [&](int64_t task, int) {
    const int64_t im = task / nn, in = task % nn;
    const int64_t r0 = std::min(M, mtiles * im / nm * mr);
    const int64_t r1 = std::min(M, mtiles * (im + 1) / nm * mr);
    const int64_t p0 = std::min(panels, units * in / nn * group);
    const int64_t p1 = std::min(panels, units * (in + 1) / nn * group);
    if (r0 >= r1 || p0 >= p1) return;
    GemmBlock blk;
    blk.ldx = ldx;
    blk.panel_stride = K * nr;
    blk.m = r1 - r0;
    blk.ldy = ldy;
    blk.panel_outer = small;
    blk.stream = w.bytes >= kStreamBytes;
    blk.act = act;
    // Panels [q0, q1), depth block ik; `next` is where the following call reads.
    auto run = [&](int64_t q0, int64_t q1, int64_t ik, const float* next) {
      const int64_t k0 = ik * kc, k1 = std::min(K, k0 + kc);
      blk.x = x + r0 * ldx + k0;
      blk.b = w.data + q0 * K * nr + k0 * nr;
      blk.next = next;
      blk.kc = k1 - k0;
      blk.n = std::min(N, q1 * nr) - q0 * nr;
      blk.y = y + r0 * ldy + q0 * nr;
      blk.bias = bias ? bias + q0 * nr : nullptr;
      blk.residual = residual && !in_place ? residual + r0 * ldy + q0 * nr : nullptr;
      blk.accumulate = ik > 0 || in_place;
      blk.finish = ik == nk - 1;
      fn(blk);
    };
    if (small) {
      // Decode: one group of panels at a time through all its depth blocks,
      // so each panel is still read front to back, as one stream.
      for (int64_t q0 = p0; q0 < p1; q0 += group) {
        const int64_t q1 = std::min(p1, q0 + group);
        for (int64_t ik = 0; ik < nk; ++ik) {
          const float* next = ik + 1 < nk ? w.data + q0 * K * nr + (ik + 1) * kc * nr
                              : q1 < p1   ? w.data + q1 * K * nr
                                          : nullptr;
          run(q0, q1, ik, next);
        }
      }
    } else {
      for (int64_t ik = 0; ik < nk; ++ik) run(p0, p1, ik, nullptr);
    }
  });
}

}  // namespace aiayn
