// Row-wise and elementwise ops. Rows are contiguous; "y may alias x" means
// in-place is allowed. All use fp32 accumulation and the kernel thread pool.
#pragma once

#include <cstdint>

namespace aiayn {

// y[r,:] = (z - mean(z)) / sqrt(var(z) + eps) * gamma + beta, z = x[r,:] + residual[r,:]
// (residual may be null; biased variance, as PyTorch). y may alias x or residual.
void layernorm(const float* x, const float* residual, const float* gamma, const float* beta,
               float eps, int64_t rows, int64_t D, float* y);

// y[r,:] = softmax(x[r,:]); y may alias x. A row of all -inf gives zeros.
void softmax(const float* x, int64_t rows, int64_t N, float* y);

// y[r,:] = log_softmax(x[r,:]); y may alias x. A row of all -inf gives -inf.
void log_softmax(const float* x, int64_t rows, int64_t N, float* y);

// out[r] = index of the maximum of x[r,:], the first one on ties; NaN counts
// as larger than any number (as torch.argmax).
void argmax(const float* x, int64_t rows, int64_t N, int32_t* out);

// y[b,t,:] = table[ids[b,t],:] * scale + positions[pos_offset + t,:]
// ids: [B,T], each in [0, V) (the caller checks); table: [V,D];
// positions: [P,D] with pos_offset + T <= P, or null for no positions.
void embedding(const int32_t* ids, int64_t B, int64_t T, const float* table, int64_t V, int64_t D,
               float scale, const float* positions, int64_t pos_offset, float* y);

}  // namespace aiayn
