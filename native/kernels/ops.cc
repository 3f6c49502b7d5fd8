// Row-wise ops (ops.h): ISA dispatch and row splitting over the thread pool.
//
// Compiled with baseline flags. The per-ISA kernels (ops_kernels.h) each handle
// a contiguous block of rows; every row is computed by the same code whatever
// the split, so results do not depend on the thread count. Accuracy is that of
// the kernels (see ops_scalar.cc and ops_impl.h).
//
// Every call goes through parallel_for, even with one task (it then runs
// inline): that keeps FTZ/DAZ on for all sizes, so small and large calls agree
// on denormals and never hit the slow denormal path. (Denormal inputs thus read
// as zero: argmax treats them as ties with 0.)
#include "ops.h"

#include <algorithm>

#include "cpu.h"
#include "ops_kernels.h"
#include "threadpool.h"

namespace aiayn {
namespace {

// Below this many elements a pool hand-off costs more than the work (a decode
// step: 1..16 rows of 512 stays on the calling thread).
constexpr int64_t kParallelMin = 16 * 1024;
// Smallest block of elements worth a task of its own.
constexpr int64_t kTaskMin = 8 * 1024;

// The kernels of one ISA, chosen once (every level above avx512 runs the
// avx512 kernels and every ARM level the neon ones: the fp32 ops have no
// wider path).
struct OpsTable {
  LayernormFn* layernorm;
  RmsnormFn* rmsnorm;
  GluFn* glu;
  RowsFn* softmax;
  RowsFn* log_softmax;
  ArgmaxFn* argmax;
  EmbeddingFn* embedding;
};

OpsTable select_table() {
  const Isa isa = active_isa();
#if AIAYN_X86
  if (at_least(isa, Isa::avx512)) {
    return {f32_layernorm__avx512, f32_rmsnorm__avx512, f32_glu__avx512, f32_softmax__avx512,
            f32_log_softmax__avx512, f32_argmax__avx512, f32_embedding__avx512};
  }
  if (at_least(isa, Isa::avx2)) {
    return {f32_layernorm__avx2, f32_rmsnorm__avx2, f32_glu__avx2, f32_softmax__avx2, f32_log_softmax__avx2,
            f32_argmax__avx2, f32_embedding__avx2};
  }
#elif AIAYN_ARM64
  if (at_least(isa, Isa::neon)) {
    return {f32_layernorm__neon, f32_rmsnorm__neon, f32_glu__neon, f32_softmax__neon, f32_log_softmax__neon,
            f32_argmax__neon, f32_embedding__neon};
  }
#endif
  return {f32_layernorm__scalar, f32_rmsnorm__scalar, f32_glu__scalar, f32_softmax__scalar,
          f32_log_softmax__scalar, f32_argmax__scalar, f32_embedding__scalar};
}

const OpsTable& kernels() {
  static const OpsTable t = select_table();
  return t;
}

// Calls fn(r0, r1) over blocks of rows covering [0, rows). Splits only when
// there is enough work; a few tasks per thread balance uneven progress.
template <typename F>
void for_row_blocks(int64_t rows, int64_t cols, const F& fn) {
  if (rows <= 0 || cols <= 0) return;
  int64_t blocks = 1;
  if (rows > 1 && rows * cols >= kParallelMin) {
    const int64_t nt = threads();
    if (nt > 1) blocks = std::max<int64_t>(1, std::min({rows, nt * 4, rows * cols / kTaskMin}));
  }
  parallel_for(blocks, [&](int64_t b, int) {
    fn(rows * b / blocks, rows * (b + 1) / blocks);
  });
}

}  // namespace

void layernorm(const float* x, const float* residual, const float* gamma, const float* beta,
               float eps, int64_t rows, int64_t D, float* y) {
  const auto fn = kernels().layernorm;
  for_row_blocks(rows, D, [&](int64_t r0, int64_t r1) {
    fn(x + r0 * D, residual ? residual + r0 * D : nullptr, gamma, beta, eps, r1 - r0, D,
       y + r0 * D);
  });
}

void rmsnorm(const float* x, const float* residual, const float* gamma, float eps, int64_t rows,
             int64_t D, float* y) {
  const auto fn = kernels().rmsnorm;
  for_row_blocks(rows, D, [&](int64_t r0, int64_t r1) {
    fn(x + r0 * D, residual ? residual + r0 * D : nullptr, gamma, eps, r1 - r0, D, y + r0 * D);
  });
}

void glu(const float* x, int64_t rows, int64_t F, Activation act, float* y) {
  const auto fn = kernels().glu;
  for_row_blocks(rows, 2 * F, [&](int64_t r0, int64_t r1) {
    fn(x + r0 * 2 * F, r1 - r0, F, act, y + r0 * F);
  });
}

void softmax(const float* x, int64_t rows, int64_t N, float* y) {
  const auto fn = kernels().softmax;
  for_row_blocks(rows, N, [&](int64_t r0, int64_t r1) { fn(x + r0 * N, r1 - r0, N, y + r0 * N); });
}

void log_softmax(const float* x, int64_t rows, int64_t N, float* y) {
  const auto fn = kernels().log_softmax;
  for_row_blocks(rows, N, [&](int64_t r0, int64_t r1) { fn(x + r0 * N, r1 - r0, N, y + r0 * N); });
}

void argmax(const float* x, int64_t rows, int64_t N, int32_t* out) {
  const auto fn = kernels().argmax;
  for_row_blocks(rows, N, [&](int64_t r0, int64_t r1) { fn(x + r0 * N, r1 - r0, N, out + r0); });
}

void embedding(const int32_t* ids, int64_t B, int64_t T, const float* table, int64_t V, int64_t D,
               float scale, const float* positions, int64_t pos_offset,
               const int32_t* pos_offsets, const int32_t* pos_ids, float* y) {
  (void)V;  // the caller has range-checked ids, offsets and position ids
  const auto fn = kernels().embedding;
  for_row_blocks(B * T, D, [&](int64_t r0, int64_t r1) {
    fn(ids, r0, r1, T, table, D, scale, positions, pos_offset, pos_offsets, pos_ids, y);
  });
}

void embedding(const int32_t* ids, int64_t B, int64_t T, const EmbeddingTable& table, int64_t V, int64_t D,
               float scale, const float* positions, int64_t pos_offset, const int32_t* pos_offsets,
               const int32_t* pos_ids, float* y) {
  if (table.dtype == DType::fp32) {
    embedding(ids, B, T, static_cast<const float*>(table.data), V, D, scale, positions, pos_offset, pos_offsets, pos_ids, y);
    return;
  }
  const auto fn = table.dtype == DType::bf16 ? bf16_embedding__scalar : qc8_embedding__scalar;
  for_row_blocks(B * T, D, [&](int64_t r0, int64_t r1) {
    fn(ids, r0, r1, T, table, D, scale, positions, pos_offset, pos_offsets, pos_ids, y);
  });
}

}  // namespace aiayn
