// Row-wise and elementwise ops. Rows are contiguous; "y may alias x" means
// in-place is allowed. All use fp32 accumulation and the kernel thread pool.
#pragma once

#include <cstdint>

#include "activation.h"
#include "dtype.h"

namespace aiayn {

// y[r,:] = (z - mean(z)) / sqrt(var(z) + eps) * gamma + beta, z = x[r,:] + residual[r,:]
// (residual may be null; biased variance, as PyTorch). y may alias x or residual.
void layernorm(const float* x, const float* residual, const float* gamma, const float* beta,
               float eps, int64_t rows, int64_t D, float* y);

// y[r,:] = z * (1 / sqrt(mean(z^2) + eps)) * gamma, z = x[r,:] + residual[r,:]
// (T5's LayerNorm: no mean subtraction, no bias; residual may be null). y may
// alias x or residual.
void rmsnorm(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
             int64_t D, float* y);

// y[r,:] = act(x[r, 0:F]) * x[r, F:2F] (gated activation; x: [rows, 2F],
// y: [rows, F]). y must not overlap x.
void glu(const float* x, int64_t rows, int64_t F, Activation act, float* y);

// y[r,:] = softmax(x[r,:]); y may alias x. A row of all -inf gives zeros.
void softmax(const float* x, int64_t rows, int64_t N, float* y);

// y[r,:] = log_softmax(x[r,:]); y may alias x. A row of all -inf gives -inf.
void log_softmax(const float* x, int64_t rows, int64_t N, float* y);

// out[r] = index of the maximum of x[r,:], the first one on ties; NaN counts
// as larger than any number (as torch.argmax).
void argmax(const float* x, int64_t rows, int64_t N, int32_t* out);

// y[b,t,:] = table[ids[b,t],:] * scale + positions[off(b) + t,:]
// ids: [B,T], each in [0, V) (the caller checks); table: [V,D];
// positions: [P,D], or null for no positions (the offsets are then unused);
// off(b) = pos_offsets[b] when pos_offsets ([B]) is given (continuous
// batching: rows at different positions), else pos_offset. The caller checks
// 0 <= off(b) and off(b) + T <= P. Each row is computed on its own, so a row's
// result does not depend on the other rows or on the offsets of other rows.
// pos_ids ([B,T], only with positions; overrides pos_offset and pos_offsets):
// per-token position rows, as M2M100/NLLB number positions over non-pad
// tokens: y[b,t,:] = table[ids[b,t],:] * scale + positions[pos_ids[b,t],:], and
// a negative pos_ids[b,t] means no position (y = table[ids[b,t],:] * scale, no
// add). The caller checks pos_ids[b,t] < P.
void embedding(const int32_t* ids, int64_t B, int64_t T, const float* table, int64_t V, int64_t D,
               float scale, const float* positions, int64_t pos_offset,
               const int32_t* pos_offsets, const int32_t* pos_ids, float* y);

// An embedding table [V, D] in any stored dtype: fp32 values, bf16 bits, or
// int8 values with one scale per row (value = fp32(q * row_scale[v]), as an
// int8 linear layer's output rows: gemm.h).
struct EmbeddingTable {
  DType dtype = DType::fp32;
  const void* data = nullptr;        // [V, D] float, uint16_t or int8_t
  const float* row_scale = nullptr;  // int8: [V]
};

// embedding() above over a table in any dtype: the looked-up value, then
// * scale, then + the position row, each rounded to fp32. Every ISA runs the
// same scalar loops for bf16 and int8 (a lookup reads D values a token).
void embedding(const int32_t* ids, int64_t B, int64_t T, const EmbeddingTable& table, int64_t V,
               int64_t D, float scale, const float* positions, int64_t pos_offset,
               const int32_t* pos_offsets, const int32_t* pos_ids, float* y);

}  // namespace aiayn
