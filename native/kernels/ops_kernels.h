// Internal per-ISA kernels behind ops.h, named XNNPACK's way
// (f32_<op>__<isa>). Included by TUs compiled with different -m flags, so it
// declares kernels and defines only `static` scalar code (each TU its own copy).
//
// Each kernel processes `rows` contiguous rows single-threaded, with the same
// contract as the matching op in ops.h; ops.cc picks the ISA's table and
// splits rows over the thread pool. The scalar kernels are plain loops
// (ops_scalar.cc), the SIMD ones ops_impl.h instantiated per ISA
// (ops_avx2.cc, ops_avx512.cc, ops_neon.cc); these may only be called when active_isa()
// allows them.
//
// f32_embedding__*: token rows [r0, r1) of the flattened [B,T] id array; row r
// uses position row off + r % T, off = pos_offsets ? pos_offsets[r / T] : pos_offset,
// unless pos_ids ([B*T]) is given: then row r uses position row pos_ids[r], and a
// negative pos_ids[r] means no position (the add is skipped, y = e * scale).
//
// f32_log_softmax_stats__*: the statistics of one row that log_softmax uses
// (y = (x - max) - lse): *max = the row's maximum and, unless that is -inf
// (the row is all -inf: y = -inf), *lse = log(sum(exp(x - max))). topk's
// logSoftmax option calls the same function, so its values equal log_softmax's
// bit for bit on each ISA.
#pragma once

#include <cstdint>

#include "activation.h"
#include "ops.h"

namespace aiayn {

using LayernormFn = void(const float* x, const float* residual, const float* gamma, const float* beta,
                         float eps, int64_t rows, int64_t D, float* y);
using RmsnormFn = void(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
                       int64_t D, float* y);
using GluFn = void(const float* x, int64_t rows, int64_t F, Activation act, float* y);
using RowsFn = void(const float* x, int64_t rows, int64_t N, float* y);  // softmax, log_softmax
using LogSoftmaxStatsFn = void(const float* x, int64_t N, float* max, float* lse);
using ArgmaxFn = void(const float* x, int64_t rows, int64_t N, int32_t* out);
using EmbeddingFn = void(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const float* table, int64_t D,
                         float scale, const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
                         const int32_t* pos_ids, float* y);

LayernormFn f32_layernorm__scalar, f32_layernorm__avx2, f32_layernorm__avx512, f32_layernorm__neon;
RmsnormFn f32_rmsnorm__scalar, f32_rmsnorm__avx2, f32_rmsnorm__avx512, f32_rmsnorm__neon;
GluFn f32_glu__scalar, f32_glu__avx2, f32_glu__avx512, f32_glu__neon;
RowsFn f32_softmax__scalar, f32_softmax__avx2, f32_softmax__avx512, f32_softmax__neon;
LogSoftmaxStatsFn f32_log_softmax_stats__scalar, f32_log_softmax_stats__avx2, f32_log_softmax_stats__avx512, f32_log_softmax_stats__neon;
RowsFn f32_log_softmax__scalar, f32_log_softmax__avx2, f32_log_softmax__avx512, f32_log_softmax__neon;
ArgmaxFn f32_argmax__scalar, f32_argmax__avx2, f32_argmax__avx512, f32_argmax__neon;
EmbeddingFn f32_embedding__scalar, f32_embedding__avx2, f32_embedding__avx512, f32_embedding__neon;

// The position row added to token row r of f32_embedding__*, or null for none.
static inline const float* embedding_position_row(const float* positions, int64_t pos_offset,
                                                  const int32_t* pos_offsets, const int32_t* pos_ids,
                                                  int64_t r, int64_t T, int64_t D) {
  if (positions == nullptr) return nullptr;
  if (pos_ids != nullptr) return pos_ids[r] < 0 ? nullptr : positions + static_cast<int64_t>(pos_ids[r]) * D;
  const int64_t off = pos_offsets ? pos_offsets[r / T] : pos_offset;
  return positions + (off + r % T) * D;
}

// Rows of a bf16 / int8 table (ops.h EmbeddingTable), as f32_embedding__*;
// plain loops on every ISA (a lookup reads D values a token).
void bf16_embedding__scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const EmbeddingTable& table,
                            int64_t D, float scale, const float* positions, int64_t pos_offset,
                            const int32_t* pos_offsets, const int32_t* pos_ids, float* y);
void qc8_embedding__scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T, const EmbeddingTable& table,
                           int64_t D, float scale, const float* positions, int64_t pos_offset,
                           const int32_t* pos_offsets, const int32_t* pos_ids, float* y);

}  // namespace aiayn
