// Linear layer with pre-packed weights: Y[M,N] = act(X[M,K] · W[N,K]^T + bias).
//
// W is in PyTorch nn.Linear layout ([out, in], row-major). linear_pack copies it
// once into a panel format (64-byte aligned); the original can then be freed.
// linear() dispatches to the ISA the weights were packed under, packs A per
// call when M is large, and splits work over the kernel thread pool.
// Batch invariant: row r of y is bit-identical whatever M, the other rows of x
// and the thread count (for given weights, ISA and K; see gemm.cc).
//
// Three weight dtypes (issue #12's contract; the TypeScript reference follows
// the same one):
// - fp32: [ceil(N/NR)][K][NR] panels of the packing ISA (NR 8, 16 or 64).
//   fp32 accumulation; results differ from a sequential dot product only by
//   summation order (|err| <= ~K * eps * sum|x*w|).
// - bf16: Wb = bf16(W) (round to nearest even, NaN kept quiet, denormals
//   flushed), [ceil(N/16)][ceil(K/2)][16][2] (k pairs, zero-padded), the same
//   bytes on every ISA. Each call rounds x the same way; y = act(sum_k
//   bf16(x) Wb + bias) + residual with fp32 sums (the products are exact),
//   in depth order with the odd element of each pair first (vdpbf16ps's
//   order), the same bits on every ISA.
// - int8: per output column n, a = max_k |W[n,k]|, s_n = a / 127, q[n,k] =
//   clamp(rne(W[n,k] * (127 / a)), -127, 127) (a == 0: s_n = 0, q = 0; a not
//   finite: s_n = NaN, q = 0); [ceil(N/16)][ceil(K/4)][16][4] (k quads) plus
//   s_n and 128 * sum_k q[n,k]. Each call quantises every row m of x the same
//   way (t_m = max|x_m| / 127; a row holding inf or NaN gives NaN outputs) and
//   y = act(fp32(sum_k qx q) * fp32(t_m s_n) + bias) + residual, the integer
//   sum exact in int32 on every ISA. K <= kInt8MaxK keeps it in range.
#pragma once

#include <cstddef>
#include <cstdint>

#include "activation.h"
#include "cpu.h"
#include "dtype.h"

namespace aiayn {

// 127 * 127 * K must fit int32.
constexpr int64_t kInt8MaxK = 131072;

struct PackedWeights {
  int64_t N = 0;
  int64_t K = 0;
  DType dtype = DType::fp32;
  Isa isa = Isa::scalar;       // the ISA active when packed: picks the kernels
  int64_t nr = 1;              // panel width (columns)
  int64_t kg = 1;              // depth elements per 32-bit group (1, 2 or 4)
  void* data = nullptr;        // the panels, 64-byte aligned
  float* scale = nullptr;      // int8: s_n [panels * nr]; else null
  int32_t* qsum = nullptr;     // int8: 128 * sum_k q[n,k] [panels * nr]; else null
  size_t bytes = 0;            // everything allocated for data, scale and qsum
};

// Returns null when memory cannot be allocated. N, K >= 1 (int8: K <= kInt8MaxK).
PackedWeights* linear_pack(const float* w, int64_t N, int64_t K, DType dtype = DType::fp32);
// bf16 weights given as raw bf16 bits (a bf16 checkpoint), packed without widening.
PackedWeights* linear_pack_bf16(const uint16_t* w, int64_t N, int64_t K);
void linear_free(PackedWeights* p);

// The inverse of linear_pack: writes W [N, K] (nn.Linear layout) back, as
// fp32: exactly for fp32, the bf16 values widened, or q[n,k] * s_n for int8.
void linear_unpack(const PackedWeights& p, float* w);

// The name of the micro-kernel linear() runs for `dtype` on the active ISA
// (XNNPACK style, e.g. "bf16_f32_gemm_6x64__avx512bf16").
const char* linear_kernel_name(DType dtype);

// y = act(x W^T + bias) + residual.
// x: [M, K] with row stride ldx >= K; y: [M, N] with row stride ldy >= N;
// bias: [N] or null; residual: [M, N] with row stride ldy, or null. y must not
// overlap x; residual may be y itself (in place) only when act is none,
// otherwise it must not overlap y. M >= 0.
void linear(const float* x, int64_t M, int64_t ldx, const PackedWeights& w, const float* bias,
            Activation act, const float* residual, float* y, int64_t ldy);

}  // namespace aiayn
