// Internal per-ISA entry points behind ops.h (declarations only: this header is
// included by TUs compiled with different -m flags, so it must define nothing).
//
// Each function processes `rows` contiguous rows single-threaded, with the
// same contract as the matching op in ops.h; ops.cc picks the ISA and splits
// rows over the thread pool. The avx2/avx512 variants may only be called when
// active_isa() allows them.
//
// embedding_rows_*: token rows [r0, r1) of the flattened [B,T] id array; row r
// uses position row off + r % T, off = pos_offsets ? pos_offsets[r / T] : pos_offset,
// unless pos_ids ([B*T]) is given: then row r uses position row pos_ids[r], and a
// negative pos_ids[r] means no position (the add is skipped, y = e * scale).
#pragma once

#include <cstdint>

#include "activation.h"

namespace aiayn {

void layernorm_rows_scalar(const float* x, const float* residual, const float* gamma,
                           const float* beta, float eps, int64_t rows, int64_t D, float* y);
void layernorm_rows_avx2(const float* x, const float* residual, const float* gamma,
                         const float* beta, float eps, int64_t rows, int64_t D, float* y);
void layernorm_rows_avx512(const float* x, const float* residual, const float* gamma,
                           const float* beta, float eps, int64_t rows, int64_t D, float* y);

void rmsnorm_rows_scalar(const float* x, const float* residual, const float* gamma, float eps,
                         int64_t rows, int64_t D, float* y);
void rmsnorm_rows_avx2(const float* x, const float* residual, const float* gamma, float eps,
                       int64_t rows, int64_t D, float* y);
void rmsnorm_rows_avx512(const float* x, const float* residual, const float* gamma, float eps,
                         int64_t rows, int64_t D, float* y);

void glu_rows_scalar(const float* x, int64_t rows, int64_t F, Activation act, float* y);
void glu_rows_avx2(const float* x, int64_t rows, int64_t F, Activation act, float* y);
void glu_rows_avx512(const float* x, int64_t rows, int64_t F, Activation act, float* y);

void softmax_rows_scalar(const float* x, int64_t rows, int64_t N, float* y);
void softmax_rows_avx2(const float* x, int64_t rows, int64_t N, float* y);
void softmax_rows_avx512(const float* x, int64_t rows, int64_t N, float* y);

// log_softmax_stats_*: the statistics of one row that log_softmax_rows_* uses
// (y = (x - max) - lse): *max = the row's maximum and, unless that is -inf
// (the row is all -inf: y = -inf), *lse = log(sum(exp(x - max))). topk's
// logSoftmax option calls the same function, so its values equal log_softmax's
// bit for bit on each ISA.
void log_softmax_stats_scalar(const float* x, int64_t N, float* max, float* lse);
void log_softmax_stats_avx2(const float* x, int64_t N, float* max, float* lse);
void log_softmax_stats_avx512(const float* x, int64_t N, float* max, float* lse);

void log_softmax_rows_scalar(const float* x, int64_t rows, int64_t N, float* y);
void log_softmax_rows_avx2(const float* x, int64_t rows, int64_t N, float* y);
void log_softmax_rows_avx512(const float* x, int64_t rows, int64_t N, float* y);

void argmax_rows_scalar(const float* x, int64_t rows, int64_t N, int32_t* out);
void argmax_rows_avx2(const float* x, int64_t rows, int64_t N, int32_t* out);
void argmax_rows_avx512(const float* x, int64_t rows, int64_t N, int32_t* out);

void embedding_rows_scalar(const int32_t* ids, int64_t r0, int64_t r1, int64_t T,
                           const float* table, int64_t D, float scale, const float* positions,
                           int64_t pos_offset, const int32_t* pos_offsets,
                           const int32_t* pos_ids, float* y);
void embedding_rows_avx2(const int32_t* ids, int64_t r0, int64_t r1, int64_t T,
                         const float* table, int64_t D, float scale, const float* positions,
                         int64_t pos_offset, const int32_t* pos_offsets,
                         const int32_t* pos_ids, float* y);
void embedding_rows_avx512(const int32_t* ids, int64_t r0, int64_t r1, int64_t T,
                           const float* table, int64_t D, float scale, const float* positions,
                           int64_t pos_offset, const int32_t* pos_offsets,
                           const int32_t* pos_ids, float* y);

}  // namespace aiayn
