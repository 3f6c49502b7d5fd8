// Attention dispatch and threading (baseline flags; no ISA code here).
//
// Picks the kernel set for active_isa() and splits the work over the pool:
//   prefill (Tq > kDecodeMaxTq): one task per (b, h, block of query rows),
//     the block size being the ISA's (64 rows for AVX-512); tasks of one
//     (b, h) are consecutive, heaviest causal block first;
//   decode (Tq <= kDecodeMaxTq): one task per (b, h, query row); when there are
//     fewer rows than threads, the visible keys are split into chunks whose
//     partial softmax states (max, sum, unnormalised output) are merged here.
// Per-thread scratch lives in one per-call buffer, each slice 64-byte aligned
// and padded to whole cache lines. Masks and layout: see attention.h.
#include "attention.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "attention_kernels.h"
#include "cpu.h"
#include "threadpool.h"

namespace aiayn {
namespace {

constexpr int64_t kDecodeMaxTq = 4;
constexpr int64_t kMinKeysPerSplit = 256;  // below this a split costs more than it saves
constexpr int64_t kLine = 16;              // floats per cache line

struct Kernels {
  size_t (*prefill_scratch)(int64_t Dh);
  size_t (*decode_scratch)(int64_t Dh);
  void (*prefill)(const AttentionArgs&, int64_t, int64_t, int64_t, int64_t, float*);
  void (*decode)(const AttentionArgs&, int64_t, int64_t, int64_t, int64_t, int64_t, float*, float*,
                 float*);
  int64_t qblock;
  bool base2;  // decode states are in the log2 domain
};

const Kernels& kernels() {
  static const Kernels scalar{attention_prefill_scratch_floats_scalar,
                              attention_decode_scratch_floats_scalar,
                              attention_prefill_block_scalar,
                              attention_decode_row_scalar,
                              kAttnQBlockScalar,
                              false};
  static const Kernels avx2{attention_prefill_scratch_floats_avx2,
                            attention_decode_scratch_floats_avx2,
                            attention_prefill_block_avx2,
                            attention_decode_row_avx2,
                            kAttnQBlockAvx2,
                            true};
  static const Kernels avx512{attention_prefill_scratch_floats_avx512,
                              attention_decode_scratch_floats_avx512,
                              attention_prefill_block_avx512,
                              attention_decode_row_avx512,
                              kAttnQBlockAvx512,
                              true};
  switch (active_isa()) {
    case Isa::avx512: return avx512;
    case Isa::avx2: return avx2;
    default: return scalar;
  }
}

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// 64-byte aligned slices of one allocation.
class Slices {
 public:
  Slices(int64_t count, int64_t floats) : stride_(round_up(floats > 0 ? floats : 1, kLine)) {
    mem_.resize(static_cast<size_t>(count * stride_ + kLine));
    const uintptr_t p = reinterpret_cast<uintptr_t>(mem_.data());
    base_ = mem_.data() + ((64 - p % 64) % 64) / sizeof(float);
  }
  float* at(int64_t i) { return base_ + i * stride_; }

 private:
  int64_t stride_;
  std::vector<float> mem_;
  float* base_;
};

// One past the last key query row i of batch row b sees (may be <= 0).
int64_t visible_end(const AttentionArgs& a, int64_t b, int64_t i) {
  int64_t end = a.kv_lengths ? a.kv_lengths[b] : a.Tk;
  if (a.causal && i + (a.Tk - a.Tq) + 1 < end) end = i + (a.Tk - a.Tq) + 1;
  return end;
}

float* out_row(const AttentionArgs& a, int64_t b, int64_t i, int64_t h) {
  return a.out + b * a.out_strides.batch + i * a.out_strides.time + h * a.out_strides.head;
}

void write_normalised(float* out, const float* acc, float l, int64_t Dh) {
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < Dh; ++d) out[d] = acc[d] * inv;
}

void decode(const AttentionArgs& a, const Kernels& kn, int nthreads) {
  const int64_t Dh = a.Dh, H = a.H, Tq = a.Tq;
  const int64_t rows = a.B * Tq * H;
  const int64_t acc_floats = round_up(Dh, kLine);
  const int64_t scr_floats = static_cast<int64_t>(kn.decode_scratch(Dh));
  int64_t splits = 1;
  if (rows < nthreads) {
    splits = (nthreads + rows - 1) / rows;
    if (splits > a.Tk / kMinKeysPerSplit) splits = a.Tk / kMinKeysPerSplit;
    if (splits < 1) splits = 1;
  }
  Slices scratch(nthreads, scr_floats + acc_floats);
  // Rows of one (b, h) are consecutive tasks, so they find its K and V in cache.
  auto locate = [&](int64_t row, int64_t* b, int64_t* i, int64_t* h) {
    *i = row % Tq;
    *h = (row / Tq) % H;
    *b = row / (H * Tq);
  };
  if (splits == 1) {
    parallel_for(rows, [&](int64_t row, int thread) {
      int64_t b, i, h;
      locate(row, &b, &i, &h);
      float* out = out_row(a, b, i, h);
      const int64_t end = visible_end(a, b, i);
      if (end <= 0) {
        std::memset(out, 0, sizeof(float) * Dh);
        return;
      }
      float* acc = scratch.at(thread);
      float ml[2];
      kn.decode(a, b, h, i, 0, end, acc, ml, acc + acc_floats);
      write_normalised(out, acc, ml[1], Dh);
    }, nthreads);
    return;
  }
  // Split KV: part p holds [m, l, pad to a line][acc].
  Slices parts(rows * splits, kLine + acc_floats);
  parallel_for(rows * splits, [&](int64_t task, int thread) {
    const int64_t row = task / splits, s = task % splits;
    int64_t b, i, h;
    locate(row, &b, &i, &h);
    const int64_t end = visible_end(a, b, i);
    const int64_t chunk = round_up((end + splits - 1) / splits, kLine);
    const int64_t j0 = s * chunk;
    const int64_t j1 = j0 + chunk < end ? j0 + chunk : end;
    float* part = parts.at(task);
    if (j0 >= j1) {
      part[0] = -INFINITY;
      part[1] = 0.0f;
      return;
    }
    kn.decode(a, b, h, i, j0, j1, part + kLine, part, scratch.at(thread) + acc_floats);
  }, nthreads);
  parallel_for(rows, [&](int64_t row, int thread) {
    int64_t b, i, h;
    locate(row, &b, &i, &h);
    float* out = out_row(a, b, i, h);
    float m = -INFINITY;
    for (int64_t s = 0; s < splits; ++s) m = std::fmax(m, parts.at(row * splits + s)[0]);
    if (m == -INFINITY) {
      std::memset(out, 0, sizeof(float) * Dh);
      return;
    }
    float* acc = scratch.at(thread);
    float l = 0.0f;
    for (int64_t d = 0; d < Dh; ++d) acc[d] = 0.0f;
    for (int64_t s = 0; s < splits; ++s) {
      const float* part = parts.at(row * splits + s);
      if (part[0] == -INFINITY) continue;
      const float w = kn.base2 ? std::exp2(part[0] - m) : std::exp(part[0] - m);
      l += w * part[1];
      for (int64_t d = 0; d < Dh; ++d) acc[d] += w * part[kLine + d];
    }
    write_normalised(out, acc, l, Dh);
  }, nthreads);
}

void prefill(const AttentionArgs& a, const Kernels& kn, int nthreads) {
  const int64_t nqb = (a.Tq + kn.qblock - 1) / kn.qblock;
  const int64_t bh = a.B * a.H;
  Slices scratch(nthreads, static_cast<int64_t>(kn.prefill_scratch(a.Dh)));
  parallel_for(bh * nqb, [&](int64_t task, int thread) {
    // All blocks of one (b, h) in a row, so its K and V stay in L2; within it
    // the last (under a causal mask the longest) first, so the schedule ends
    // on short tasks.
    const int64_t qb = nqb - 1 - task % nqb;
    const int64_t b = task / nqb / a.H, h = task / nqb % a.H;
    const int64_t i0 = qb * kn.qblock;
    const int64_t i1 = i0 + kn.qblock < a.Tq ? i0 + kn.qblock : a.Tq;
    kn.prefill(a, b, h, i0, i1, scratch.at(thread));
  }, nthreads);
}

}  // namespace

void attention(const AttentionArgs& a) {
  if (a.B <= 0 || a.Tq <= 0 || a.H <= 0 || a.Dh <= 0) return;
  if (a.Tk <= 0) {
    for (int64_t b = 0; b < a.B; ++b)
      for (int64_t i = 0; i < a.Tq; ++i)
        for (int64_t h = 0; h < a.H; ++h) std::memset(out_row(a, b, i, h), 0, sizeof(float) * a.Dh);
    return;
  }
  const Kernels& kn = kernels();
  const int nthreads = threads();
  if (a.Tq <= kDecodeMaxTq) {
    decode(a, kn, nthreads);
  } else {
    prefill(a, kn, nthreads);
  }
}

}  // namespace aiayn
