// Linear layer (gemm.h): weight packing, blocking, ISA dispatch and threading.
// Compiled with baseline flags; the register tiles live in gemm_<isa>.cc.
//
// Packed weights: fp32 [ceil(N/nr)][K][nr] floats, zero-padded in N, 64-byte
// aligned; nr is the panel width of the ISA active at packing time (scalar 8,
// avx2 16, avx512 64, neon 16), recorded with the data so linear() can dispatch on it.
// bf16 and int8: [ceil(N/16)][groups][16] 32-bit depth groups (gemm.h), the
// same bytes for every ISA; the ISA at packing time picks the kernel table
// (dt_kernels: BLIS's context, per ISA x dtype).
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
// bf16 / int8 calls first convert x (bf16 pairs, or int8 quantisation per
// row) into a scratch buffer of the calling thread that grows and is reused,
// split by rows over the pool, then run the same blocking over the converted
// rows. int8 never splits the depth (its int32 sum is exact only whole).
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
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "gemm_kernels.h"
#include "quant.h"
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
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) return kPanelGroupAvx512;
  if (at_least(isa, Isa::avx2)) return kPanelGroupAvx2;
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) return kPanelGroupNeon;
#endif
  return 1;
}

int64_t panel_width(Isa isa) {
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) return kNrAvx512;
  if (at_least(isa, Isa::avx2)) return kNrAvx2;
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) return kNrNeon;
#endif
  return kNrScalar;
}

BlockFn block_fn(Isa isa) {
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) return linear_block_avx512;
  if (at_least(isa, Isa::avx2)) return linear_block_avx2;
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) return linear_block_neon;
#endif
  return linear_block_scalar;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How linear() splits y into tasks (see the top): small M, panels only, in
// whole groups; larger M, (row range, panel range) rectangles whose panels
// (`unit_bytes` of packed weights per group and depth block) fit the L2 block.
struct TaskGrid {
  int64_t M, mr, mtiles, panels, group, units;
  int64_t nm, nn;

  TaskGrid(int64_t M_, int64_t mr_, int64_t panels_, int64_t group_, bool small, int64_t nt, int64_t unit_bytes)
      : M(M_), mr(mr_), mtiles(ceil_div(M_, mr_)), panels(panels_), group(group_), units(ceil_div(panels_, group_)) {
    if (small) {
      nm = 1;
      nn = nt > 1 ? std::min(units, nt * kTasksPerThread) : 1;
      return;
    }
    nn = ceil_div(units, std::max<int64_t>(1, kPanelBlockBytes / unit_bytes));
    nm = ceil_div(mtiles, ceil_div(kMcMax, mr));
    if (nt > 1 && nm * nn < nt * kTasksPerThread) nm = std::min(mtiles, ceil_div(nt * kTasksPerThread, nn));
  }

  // Rows [r0, r1) and panels [p0, p1) of `task`; false when it is empty.
  bool rect(int64_t task, int64_t& r0, int64_t& r1, int64_t& p0, int64_t& p1) const {
    const int64_t im = task / nn, in = task % nn;
    r0 = std::min(M, mtiles * im / nm * mr);
    r1 = std::min(M, mtiles * (im + 1) / nm * mr);
    p0 = std::min(panels, units * in / nn * group);
    p1 = std::min(panels, units * (in + 1) / nn * group);
    return r0 < r1 && p0 < p1;
  }
};

const char* fp32_kernel_name(Isa isa) {
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) return "f32_gemm_6x64__avx512";
  if (at_least(isa, Isa::avx2)) return "f32_gemm_6x16__avx2";
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) return "f32_gemm_6x16__neon";
#endif
  return "f32_gemm_1x8__scalar";
}

// bf16 or int8.
DtKernels dt_kernels(Isa isa, DType dtype) {
#if AIAYN_X86
  if (dtype == DType::bf16 && at_least(isa, Isa::avx512_bf16)) return dt_kernels_avx512bf16(dtype);
  if (dtype == DType::int8 && at_least(isa, Isa::avx512_vnni)) return dt_kernels_avx512vnni(dtype);
  if (at_least(isa, Isa::avx512)) return dt_kernels_avx512(dtype);
  if (at_least(isa, Isa::avx2)) return dt_kernels_avx2(dtype);
#elif AIAYN_ARM64
  if (dtype == DType::bf16 && at_least(isa, Isa::neon_i8mm_bf16)) return dt_kernels_neonbf16(dtype);
  if (dtype == DType::int8 && at_least(isa, Isa::neon_i8mm_bf16)) return dt_kernels_neoni8mm(dtype);
  if (dtype == DType::int8 && at_least(isa, Isa::neon_dotprod)) return dt_kernels_neondot(dtype);
  if (at_least(isa, Isa::neon)) return dt_kernels_neon(dtype);
#endif
  return dt_kernels_scalar(dtype);
}

// Rows of x converted per call below this many elements stay on one task.
constexpr int64_t kPrepParallelMin = 32 * 1024;

// The calling thread's conversion buffer, grown on demand, 64-byte aligned.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  uint8_t* get(size_t bytes) {
    if (bytes > size_) {
      std::free(p_);
      p_ = nullptr;
      size_ = 0;
      void* mem = nullptr;
      if (posix_memalign(&mem, 64, bytes) != 0) throw std::bad_alloc();
      p_ = static_cast<uint8_t*>(mem);
      size_ = bytes;
    }
    return p_;
  }

 private:
  uint8_t* p_ = nullptr;
  size_t size_ = 0;
};

// Allocates a PackedWeights with `data_bytes` of panels (+ the int8 scale and
// qsum arrays of `cols` each); null without memory.
PackedWeights* alloc_packed(int64_t data_bytes, int64_t cols, bool int8) {
  const int64_t extra = int8 ? 2 * ceil_div(cols * 4, 64) * 64 : 0;
  const size_t bytes = static_cast<size_t>(data_bytes + extra);
  void* mem = nullptr;
  if (posix_memalign(&mem, 64, bytes) != 0) return nullptr;
  auto* p = new (std::nothrow) PackedWeights;
  if (p == nullptr) {
    std::free(mem);
    return nullptr;
  }
  p->data = mem;
  p->bytes = bytes;
  if (int8) {
    p->scale = reinterpret_cast<float*>(static_cast<uint8_t*>(mem) + data_bytes);
    p->qsum = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(mem) + data_bytes + extra / 2);
  }
  return p;
}

// bf16 or int8 weights: the layout's sizes, or null when they overflow.
PackedWeights* alloc_dt(int64_t N, int64_t K, DType dtype) {
  if (N < 1 || K < 1 || (dtype == DType::int8 && K > kInt8MaxK)) return nullptr;
  const int64_t kg = dtype == DType::bf16 ? 2 : 4;
  const int64_t panels = ceil_div(N, kNrDt), groups = ceil_div(K, kg);
  if (groups > INT64_MAX / 64 / panels) return nullptr;
  PackedWeights* p = alloc_packed(panels * groups * 64, panels * kNrDt, dtype == DType::int8);
  if (p == nullptr) return nullptr;
  p->N = N;
  p->K = K;
  p->dtype = dtype;
  p->isa = active_isa();
  p->nr = kNrDt;
  p->kg = kg;
  return p;
}

// Runs fn(n) for every packed column n in [0, panels * kNrDt), split over the pool.
template <typename F>
void for_columns(int64_t cols, const F& fn) {
  const int64_t ntasks = std::max<int64_t>(1, std::min(cols / kNrDt, static_cast<int64_t>(threads()) * kTasksPerThread));
  parallel_for(ntasks, [&](int64_t task, int) {
    for (int64_t n = cols * task / ntasks; n < cols * (task + 1) / ntasks; ++n) fn(n);
  });
}

// bf16 element (n, k) of a dtype layout with `groups` depth groups.
int64_t bf16_index(int64_t n, int64_t k, int64_t groups) {
  return (((n / kNrDt) * groups + k / 2) * kNrDt + n % kNrDt) * 2 + k % 2;
}

int64_t int8_index(int64_t n, int64_t k, int64_t groups) {
  return (((n / kNrDt) * groups + k / 4) * kNrDt + n % kNrDt) * 4 + k % 4;
}

// bf16 weights from fp32 (round) or from raw bits; `get(n, k)` gives the bits.
template <typename Get>
PackedWeights* pack_bf16(int64_t N, int64_t K, const Get& get) {
  PackedWeights* p = alloc_dt(N, K, DType::bf16);
  if (p == nullptr) return nullptr;
  const int64_t groups = ceil_div(K, 2);
  auto* dst = static_cast<uint16_t*>(p->data);
  for_columns(ceil_div(N, kNrDt) * kNrDt, [&](int64_t n) {
    for (int64_t k = 0; k < 2 * groups; ++k) dst[bf16_index(n, k, groups)] = n < N && k < K ? get(n, k) : 0;
  });
  return p;
}

PackedWeights* pack_int8(const float* w, int64_t N, int64_t K) {
  PackedWeights* p = alloc_dt(N, K, DType::int8);
  if (p == nullptr) return nullptr;
  const int64_t groups = ceil_div(K, 4);
  auto* dst = static_cast<int8_t*>(p->data);
  const int64_t cols = ceil_div(N, kNrDt) * kNrDt;
  std::vector<int8_t> rows(static_cast<size_t>(cols * K));
  for_columns(cols, [&](int64_t n) {
    int8_t* q = rows.data() + n * K;
    if (n < N) {
      const float s = quantize_q8(w + n * K, K, q);
      p->scale[n] = std::isnan(s) ? NAN : s;
    } else {
      std::fill(q, q + K, int8_t{0});
      p->scale[n] = 0.0f;
    }
    int32_t sum = 0;
    for (int64_t k = 0; k < 4 * groups; ++k) {
      const int8_t v = k < K ? q[k] : 0;
      dst[int8_index(n, k, groups)] = v;
      sum += v;
    }
    p->qsum[n] = 128 * sum;
  });
  return p;
}

void linear_dt(const float* x, int64_t M, int64_t ldx, const PackedWeights& w, const float* bias,
               Activation act, const float* residual, float* y, int64_t ldy) {
  const DtKernels kern = dt_kernels(w.isa, w.dtype);
  const int64_t N = w.N, K = w.K;
  const int64_t groups = ceil_div(K, w.kg);
  const int64_t ldo = ceil_div(groups * kern.xbytes, 64) * 64;
  thread_local Scratch scratch;
  uint8_t* xq = scratch.get(static_cast<size_t>(M * ldo + M * 4));
  float* xscale = reinterpret_cast<float*>(xq + M * ldo);
  const int64_t prep_tasks = M * K >= kPrepParallelMin ? std::min<int64_t>(M, threads() * kTasksPerThread) : 1;
  parallel_for(prep_tasks, [&](int64_t t, int) {
    const int64_t r0 = M * t / prep_tasks, r1 = M * (t + 1) / prep_tasks;
    if (r1 > r0) kern.prep(x + r0 * ldx, ldx, r1 - r0, K, xq + r0 * ldo, ldo, xscale + r0);
  });

  const int64_t group = kern.group;
  const int64_t nt = M * N * K >= kParallelMinMacs ? threads() : 1;
  const bool small = M <= kSmallM;
  // Depth blocks of at most kKcMax elements (bf16; whole groups), K alone decides.
  const int64_t nk = w.dtype == DType::int8 ? 1 : ceil_div(K, kKcMax);
  const int64_t kc = ceil_div(groups, nk);  // groups per depth block
  const TaskGrid grid(M, kern.mr, ceil_div(N, kNrDt), group, small, nt, kc * 64 * group);
  const bool in_place = residual == y;
  const auto* wdata = static_cast<const uint32_t*>(w.data);
  parallel_for(grid.nm * grid.nn, [&](int64_t task, int) {
    int64_t r0, r1, p0, p1;
    if (!grid.rect(task, r0, r1, p0, p1)) return;
    DtBlock blk;
    blk.ldx = ldo;
    blk.panel_stride = groups * kNrDt;
    blk.m = r1 - r0;
    blk.ldy = ldy;
    blk.panel_outer = small;
    blk.act = act;
    blk.xscale = xscale + r0;
    auto run = [&](int64_t q0, int64_t q1, int64_t ik) {
      const int64_t g0 = ik * kc, g1 = std::min(groups, g0 + kc);
      blk.x = xq + r0 * ldo + g0 * kern.xbytes;
      blk.b = wdata + q0 * groups * kNrDt + g0 * kNrDt;
      blk.kg = g1 - g0;
      blk.n = std::min(N, q1 * kNrDt) - q0 * kNrDt;
      blk.y = y + r0 * ldy + q0 * kNrDt;
      blk.bias = bias ? bias + q0 * kNrDt : nullptr;
      blk.residual = residual && !in_place ? residual + r0 * ldy + q0 * kNrDt : nullptr;
      blk.wscale = w.scale ? w.scale + q0 * kNrDt : nullptr;
      blk.wsum = w.qsum ? w.qsum + q0 * kNrDt : nullptr;
      blk.accumulate = ik > 0 || in_place;
      blk.finish = ik == nk - 1;
      kern.block(blk);
    };
    if (small) {
      for (int64_t q0 = p0; q0 < p1; q0 += group) {
        for (int64_t ik = 0; ik < nk; ++ik) run(q0, std::min(p1, q0 + group), ik);
      }
    } else {
      for (int64_t ik = 0; ik < nk; ++ik) run(p0, p1, ik);
    }
  });
}

}  // namespace

PackedWeights* linear_pack(const float* w, int64_t N, int64_t K, DType dtype) {
  if (N < 1 || K < 1) return nullptr;
  if (dtype == DType::bf16) return pack_bf16(N, K, [&](int64_t n, int64_t k) { return bf16_bits(w[n * K + k]); });
  if (dtype == DType::int8) return pack_int8(w, N, K);
  const Isa isa = active_isa();
  const int64_t nr = panel_width(isa);
  const int64_t panels = ceil_div(N, nr);
  if (K > INT64_MAX / static_cast<int64_t>(sizeof(float)) / (panels * nr)) return nullptr;
  PackedWeights* p = alloc_packed(panels * K * nr * static_cast<int64_t>(sizeof(float)), 0, false);
  if (p == nullptr) return nullptr;
  float* dst = static_cast<float*>(p->data);
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
  return p;
}

PackedWeights* linear_pack_bf16(const uint16_t* w, int64_t N, int64_t K) {
  if (N < 1 || K < 1) return nullptr;
  return pack_bf16(N, K, [&](int64_t n, int64_t k) { return w[n * K + k]; });
}

void linear_unpack(const PackedWeights& p, float* w) {
  const int64_t N = p.N, K = p.K, nr = p.nr;
  if (p.dtype == DType::bf16) {
    const auto* src = static_cast<const uint16_t*>(p.data);
    const int64_t groups = ceil_div(K, 2);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) w[n * K + k] = bf16_f32(src[bf16_index(n, k, groups)]);
    return;
  }
  if (p.dtype == DType::int8) {
    const auto* src = static_cast<const int8_t*>(p.data);
    const int64_t groups = ceil_div(K, 4);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) w[n * K + k] = static_cast<float>(src[int8_index(n, k, groups)]) * p.scale[n];
    return;
  }
  const auto* data = static_cast<const float*>(p.data);
  for (int64_t n = 0; n < N; ++n) {
    const float* panel = data + (n / nr) * K * nr + n % nr;
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = panel[k * nr];
  }
}

const char* linear_kernel_name(DType dtype) {
  const Isa isa = active_isa();
  return dtype == DType::fp32 ? fp32_kernel_name(isa) : dt_kernels(isa, dtype).name;
}

void linear_free(PackedWeights* p) {
  if (p == nullptr) return;
  std::free(p->data);
  delete p;
}

void linear(const float* x, int64_t M, int64_t ldx, const PackedWeights& w, const float* bias,
            Activation act, const float* residual, float* y, int64_t ldy) {
  if (M <= 0) return;
  if (w.dtype != DType::fp32) {
    linear_dt(x, M, ldx, w, bias, act, residual, y, ldy);
    return;
  }
  const int64_t N = w.N, K = w.K, nr = w.nr;
  const auto* wdata = static_cast<const float*>(w.data);
  const BlockFn fn = block_fn(w.isa);
  const int64_t mr = w.isa == Isa::scalar ? 1 : kMrSimd;
  const int64_t group = panel_group(w.isa);  // tasks split N in whole groups of panels
  const int64_t nt = M * N * K >= kParallelMinMacs ? threads() : 1;

  const bool small = M <= kSmallM;
  const int64_t nk = ceil_div(K, kKcMax);  // K alone decides: see batch invariance above
  const int64_t kc = ceil_div(K, nk);
  const TaskGrid grid(M, mr, ceil_div(N, nr), group, small, nt, kc * nr * 4 * group);

  // In place (residual is y, no activation): y already holds the residual, so
  // every depth block accumulates onto it and the epilogue adds nothing.
  const bool in_place = residual == y;
  // Every call goes through the pool (inline for one task) so FTZ/DAZ apply.
  parallel_for(grid.nm * grid.nn, [&](int64_t task, int) {
    int64_t r0, r1, p0, p1;
    if (!grid.rect(task, r0, r1, p0, p1)) return;
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
      blk.b = wdata + q0 * K * nr + k0 * nr;
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
          const float* next = ik + 1 < nk ? wdata + q0 * K * nr + (ik + 1) * kc * nr
                              : q1 < p1   ? wdata + q1 * K * nr
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
