// Per-ISA attention entry points, called by attention.cc (which owns masking
// ranges, threading and the merge of split-KV partial states). Declarations
// only: this header is included by TUs compiled with different ISA flags.
//
// f32_attention_prefill__<isa>(a, b, h, i0, i1, scratch)
//   Writes out rows [i0, i1) of (batch b, head h), i1 - i0 <= the ISA's q
//   block, applying the causal / kv_lengths masks itself. `scratch` is
//   64-byte aligned, f32_attention_prefill_scratch__<isa>(a) floats, private
//   to the caller.
// f32_attention_decode__<isa>(a, b, h, i, j0, j1, acc, ml, scratch)
//   Online-softmax state of query row i over keys [j0, j1), 0 <= j0 < j1
//   <= Tk; the caller has already cut the range to the visible keys.
//   ml[0] = max score, ml[1] = sum of exp(score - ml[0]), acc[0..Dh) = the
//   unnormalised sum of exp(score - ml[0]) v. The SIMD kernels keep scores in
//   the log2 domain (scale * log2(e) folded into q, exp2), the scalar one in
//   the natural domain (attention.cc merges accordingly). `acc` (Dh rounded
//   up to 16 floats) and `scratch` (f32_attention_decode_scratch__<isa>(Dh) floats) are
//   64-byte aligned.
// Both add the position bias (attention.h) when a.position_bias is set, the
// SIMD kernels as bias * log2(e) in the log2 domain; a score depends only on
// (b, h, i, j), never on the block or chunk it is computed in.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attention.h"

namespace aiayn {

// Query rows per prefill call.
constexpr int64_t kAttnQBlockScalar = 16;
constexpr int64_t kAttnQBlockAvx2 = 32;
constexpr int64_t kAttnQBlockAvx512 = 64;
constexpr int64_t kAttnQBlockNeon = 16;

using AttentionPrefillScratchFn = size_t(const AttentionArgs& a);
using AttentionDecodeScratchFn = size_t(int64_t Dh);
using AttentionPrefillFn = void(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1,
                                float* scratch);
using AttentionDecodeFn = void(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t j1,
                               float* acc, float* ml, float* scratch);

// The kernels of each ISA, named XNNPACK's way: the scalar reference in
// attention_scalar.cc, the SIMD ones attention_impl.h instantiated.
AttentionPrefillScratchFn f32_attention_prefill_scratch__scalar, f32_attention_prefill_scratch__avx2,
    f32_attention_prefill_scratch__avx512, f32_attention_prefill_scratch__neon;
AttentionDecodeScratchFn f32_attention_decode_scratch__scalar, f32_attention_decode_scratch__avx2,
    f32_attention_decode_scratch__avx512, f32_attention_decode_scratch__neon;
AttentionPrefillFn f32_attention_prefill__scalar, f32_attention_prefill__avx2, f32_attention_prefill__avx512, f32_attention_prefill__neon;
AttentionDecodeFn f32_attention_decode__scalar, f32_attention_decode__avx2, f32_attention_decode__avx512, f32_attention_decode__neon;

}  // namespace aiayn
