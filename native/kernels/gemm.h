// Linear layer with pre-packed weights: Y[M,N] = act(X[M,K] · W[N,K]^T + bias).
//
// W is in PyTorch nn.Linear layout ([out, in], row-major). linear_pack copies it
// once into the active ISA's panel format ([ceil(N/NR)][K][NR], zero-padded,
// 64-byte aligned); the original can then be freed. linear() dispatches to the
// ISA the weights were packed for, packs A per call when M is large, and splits
// work over the kernel thread pool. Accumulation is fp32; results differ from a
// sequential dot product only by summation order (|err| <= ~K * eps * sum|x*w|).
// Batch invariant: row r of y is bit-identical whatever M, the other rows of x
// and the thread count (for given weights, ISA and K; see gemm.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "activation.h"
#include "cpu.h"

namespace aiayn {

struct PackedWeights {
  int64_t N = 0;
  int64_t K = 0;
  Isa isa = Isa::scalar;  // whose micro-kernel layout `data` is in
  int64_t nr = 1;         // panel width
  float* data = nullptr;  // 64-byte aligned
  size_t bytes = 0;
};

// Returns null when memory cannot be allocated. N, K >= 1.
PackedWeights* linear_pack(const float* w, int64_t N, int64_t K);
void linear_free(PackedWeights* p);

// The inverse of linear_pack: writes W [N, K] (nn.Linear layout) back, exactly.
void linear_unpack(const PackedWeights& p, float* w);

// y = act(x W^T + bias) + residual.
// x: [M, K] with row stride ldx >= K; y: [M, N] with row stride ldy >= N;
// bias: [N] or null; residual: [M, N] with row stride ldy, or null. y must not
// overlap x; residual may be y itself (in place) only when act is none,
// otherwise it must not overlap y. M >= 0.
void linear(const float* x, int64_t M, int64_t ldx, const PackedWeights& w, const float* bias,
            Activation act, const float* residual, float* y, int64_t ldy);

}  // namespace aiayn
