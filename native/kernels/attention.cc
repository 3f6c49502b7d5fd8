// Attention dispatch and threading (baseline flags; no ISA code here).
//
// Picks the kernel set for active_isa() and splits the work over the pool:
//   prefill (Tq > kDecodeMaxTq): one task per (b, h, block of query rows),
//     the block size being the ISA's (64 rows for AVX-512); tasks of one
//     (b, h) are consecutive, heaviest causal block first;
//   decode (Tq <= kDecodeMaxTq): per (b, h, query row), the visible keys are
//     cut into 1..4 chunks whose bounds depend on the number of visible keys
//     alone (chunks_of); each chunk's online-softmax state (max, sum,
//     unnormalised output) comes from the kernel, and the states are merged
//     in chunk order. When there are fewer rows than threads the chunks of a
//     row run as tasks of their own (split KV), otherwise one task does a
//     row's chunks in turn; either way the same states are merged by the same
//     code in the same order.
// Batch invariance: a row's output depends only on its own q, K, V and
// visible length (kv_lengths[b], causal), never on B, the other rows, Tk
// beyond its visible keys, or the thread count: the chunking is fixed, and
// prefill blocks never mix batch rows. (Before, split KV was chosen when
// B*H < threads, so a row was summed differently alone than in a batch.)
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
// Decode chunks: a row of E visible keys is cut into min(kMaxChunks,
// max(1, E / kMinChunkKeys)) chunks of equal length (a multiple of 64, every
// kernel's key block, so chunks start block-aligned; the last one shorter).
// Every chunk restarts the kernel (its first key block is fetched cold, the
// states are merged), measured at 3-6 % of a row with 256-key chunks
// (bench:native decode, B = 16, Tk = 512 and 2048, 1 thread); with chunks of
// at least 1024 keys a row under 2048 keys is one chunk, as one kernel call,
// and longer rows pay about 1 %, while a long cache still splits up to
// kMaxChunks ways when there are fewer rows than threads (B * H small on a
// machine with many cores; never for H = 8 on this 2-core one).
constexpr int64_t kMinChunkKeys = 1024;
constexpr int64_t kMaxChunks = 4;
constexpr int64_t kLine = 16;  // floats per cache line

struct Kernels {
  AttentionPrefillScratchFn* prefill_scratch;
  AttentionDecodeScratchFn* decode_scratch;
  AttentionPrefillFn* prefill;
  AttentionDecodeFn* decode;
  int64_t qblock;
  bool base2;  // decode states are in the log2 domain
};

// Chosen once; every ISA level >= avx512 runs the avx512 kernels, every ARM
// level the neon ones (fp32 attention has no wider path).
Kernels select_kernels() {
  const Isa isa = active_isa();
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) {
    return {f32_attention_prefill_scratch__avx512, f32_attention_decode_scratch__avx512,
            f32_attention_prefill__avx512, f32_attention_decode__avx512, kAttnQBlockAvx512, true};
  }
  if (at_least(isa, Isa::avx2)) {
    return {f32_attention_prefill_scratch__avx2, f32_attention_decode_scratch__avx2, f32_attention_prefill__avx2,
            f32_attention_decode__avx2, kAttnQBlockAvx2, true};
  }
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) {
    return {f32_attention_prefill_scratch__neon, f32_attention_decode_scratch__neon, f32_attention_prefill__neon,
            f32_attention_decode__neon, kAttnQBlockNeon, true};
  }
#endif
  return {f32_attention_prefill_scratch__scalar, f32_attention_decode_scratch__scalar, f32_attention_prefill__scalar,
          f32_attention_decode__scalar, kAttnQBlockScalar, false};
}

const Kernels& kernels() {
  static const Kernels k = select_kernels();
  return k;
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

// Folds the state of the next chunk (ml2 = [max, sum], acc2) into the running
// state (ml, acc) of the chunks before it. The one merge of decode: the same
// code, in chunk order, whichever thread computed each chunk.
void merge_state(float* ml, float* acc, const float* ml2, const float* acc2, int64_t Dh, bool base2) {
  if (ml2[0] == -INFINITY) return;  // saw nothing
  if (ml[0] == -INFINITY) {
    ml[0] = ml2[0];
    ml[1] = ml2[1];
    for (int64_t d = 0; d < Dh; ++d) acc[d] = acc2[d];
    return;
  }
  const float m = ml[0] > ml2[0] ? ml[0] : ml2[0];
  const float w1 = base2 ? std::exp2(ml[0] - m) : std::exp(ml[0] - m);
  const float w2 = base2 ? std::exp2(ml2[0] - m) : std::exp(ml2[0] - m);
  ml[0] = m;
  ml[1] = ml[1] * w1 + ml2[1] * w2;
  for (int64_t d = 0; d < Dh; ++d) acc[d] = acc[d] * w1 + acc2[d] * w2;
}

// How a row of `end` visible keys is chunked: a function of `end` alone.
int64_t chunks_of(int64_t end) {
  const int64_t n = end / kMinChunkKeys;
  return n < 1 ? 1 : n > kMaxChunks ? kMaxChunks : n;
}
int64_t chunk_keys(int64_t end) { return round_up((end + chunks_of(end) - 1) / chunks_of(end), 64); }

void decode(const AttentionArgs& a, const Kernels& kn, int nthreads) {
  const int64_t Dh = a.Dh, H = a.H, Tq = a.Tq;
  const int64_t rows = a.B * Tq * H;
  const int64_t acc_floats = round_up(Dh, kLine);
  const int64_t scr_floats = static_cast<int64_t>(kn.decode_scratch(Dh));
  // Rows of one (b, h) are consecutive tasks, so they find its K and V in cache.
  auto locate = [&](int64_t row, int64_t* b, int64_t* i, int64_t* h) {
    *i = row % Tq;
    *h = (row / Tq) % H;
    *b = row / (H * Tq);
  };
  // Chunk c of a row covers keys [c * len, (c + 1) * len) cut to the visible end.
  auto run_chunk = [&](int64_t b, int64_t h, int64_t i, int64_t end, int64_t c, float* ml,
                       float* acc, float* scr) {
    const int64_t len = chunk_keys(end);
    const int64_t j0 = c * len;
    const int64_t j1 = j0 + len < end ? j0 + len : end;
    if (j0 >= j1) {  // possible only past the end when len was rounded up
      ml[0] = -INFINITY;
      ml[1] = 0.0f;
      return;
    }
    kn.decode(a, b, h, i, j0, j1, acc, ml, scr);
  };
  // Scheduling only (the result is the same either way): split KV when there
  // are fewer rows than threads and some row has more than one chunk.
  const int64_t max_chunks = chunks_of(a.Tk);
  if (rows >= nthreads || max_chunks == 1) {
    // Per thread: the running state [m, l, pad][acc], a chunk's acc, kernel scratch.
    Slices scratch(nthreads, kLine + 2 * acc_floats + scr_floats);
    parallel_for(rows, [&](int64_t row, int thread) {
      int64_t b, i, h;
      locate(row, &b, &i, &h);
      float* out = out_row(a, b, i, h);
      const int64_t end = visible_end(a, b, i);
      if (end <= 0) {
        std::memset(out, 0, sizeof(float) * Dh);
        return;
      }
      float* ml = scratch.at(thread);
      float* acc = ml + kLine;
      float* part = acc + acc_floats;
      float* scr = part + acc_floats;
      float part_ml[2];
      run_chunk(b, h, i, end, 0, ml, acc, scr);
      for (int64_t c = 1; c < chunks_of(end); ++c) {
        run_chunk(b, h, i, end, c, part_ml, part, scr);
        merge_state(ml, acc, part_ml, part, Dh, kn.base2);
      }
      write_normalised(out, acc, ml[1], Dh);
    }, nthreads);
    return;
  }
  // Split KV: part (row, c) holds [m, l, pad to a line][acc]; chunks past a
  // row's visible end are not computed and not merged.
  Slices parts(rows * max_chunks, kLine + acc_floats);
  Slices scratch(nthreads, scr_floats);
  parallel_for(rows * max_chunks, [&](int64_t task, int thread) {
    const int64_t row = task / max_chunks, c = task % max_chunks;
    int64_t b, i, h;
    locate(row, &b, &i, &h);
    const int64_t end = visible_end(a, b, i);
    if (c >= chunks_of(end)) return;
    float* part = parts.at(task);
    run_chunk(b, h, i, end, c, part, part + kLine, scratch.at(thread));
  }, nthreads);
  parallel_for(rows, [&](int64_t row, int) {
    int64_t b, i, h;
    locate(row, &b, &i, &h);
    float* out = out_row(a, b, i, h);
    const int64_t end = visible_end(a, b, i);
    if (end <= 0) {
      std::memset(out, 0, sizeof(float) * Dh);
      return;
    }
    // The running state is chunk 0's part itself.
    float* ml = parts.at(row * max_chunks);
    for (int64_t c = 1; c < chunks_of(end); ++c) {
      const float* part = parts.at(row * max_chunks + c);
      merge_state(ml, ml + kLine, part, part + kLine, Dh, kn.base2);
    }
    write_normalised(out, ml + kLine, ml[1], Dh);
  }, nthreads);
}

void prefill(const AttentionArgs& a, const Kernels& kn, int nthreads) {
  const int64_t nqb = (a.Tq + kn.qblock - 1) / kn.qblock;
  const int64_t bh = a.B * a.H;
  Slices scratch(nthreads, static_cast<int64_t>(kn.prefill_scratch(a)));
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
