// Per-ISA attention entry points, called by attention.cc (which owns masking
// ranges, threading and the merge of split-KV partial states). Declarations
// only: this header is included by TUs compiled with different ISA flags.
//
// prefill_block(a, b, h, i0, i1, scratch)
//   Writes out rows [i0, i1) of (batch b, head h), i1 - i0 <= the ISA's q
//   block, applying the causal / kv_lengths masks itself. `scratch` is
//   64-byte aligned, prefill_scratch_floats(a) floats, private to the caller.
// decode_row(a, b, h, i, j0, j1, acc, ml, scratch)
//   Online-softmax state of query row i over keys [j0, j1), 0 <= j0 < j1
//   <= Tk; the caller has already cut the range to the visible keys.
//   ml[0] = max score, ml[1] = sum of exp(score - ml[0]), acc[0..Dh) = the
//   unnormalised sum of exp(score - ml[0]) v. The SIMD kernels keep scores in
//   the log2 domain (scale * log2(e) folded into q, exp2), the scalar one in
//   the natural domain (attention.cc merges accordingly). `acc` (Dh rounded
//   up to 16 floats) and `scratch` (decode_scratch_floats(Dh) floats) are
//   64-byte aligned.
// Both add the position bias (attention.h) when a.position_bias is set, the
// SIMD kernels as bias * log2(e) in the log2 domain; a score depends only on
// (b, h, i, j), never on the block or chunk it is computed in.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attention.h"

namespace aiayn {

constexpr int64_t kAttnQBlockScalar = 16;
constexpr int64_t kAttnQBlockAvx2 = 32;
constexpr int64_t kAttnQBlockAvx512 = 64;

size_t attention_prefill_scratch_floats_scalar(const AttentionArgs& a);
size_t attention_decode_scratch_floats_scalar(int64_t Dh);
void attention_prefill_block_scalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
                                    int64_t i1, float* scratch);
void attention_decode_row_scalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                                 int64_t j0, int64_t j1, float* acc, float* ml, float* scratch);

size_t attention_prefill_scratch_floats_avx2(const AttentionArgs& a);
size_t attention_decode_scratch_floats_avx2(int64_t Dh);
void attention_prefill_block_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
                                  int64_t i1, float* scratch);
void attention_decode_row_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                               int64_t j0, int64_t j1, float* acc, float* ml, float* scratch);

size_t attention_prefill_scratch_floats_avx512(const AttentionArgs& a);
size_t attention_decode_scratch_floats_avx512(int64_t Dh);
void attention_prefill_block_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
                                    int64_t i1, float* scratch);
void attention_decode_row_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                                 int64_t j0, int64_t j1, float* acc, float* ml, float* scratch);

}  // namespace aiayn
