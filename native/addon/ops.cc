// Bindings for the row ops: layernorm, rmsnorm, glu, softmax, logSoftmax, argmax, topK, embedding.
#include <napi.h>

#include <string>

#include "../kernels/ops.h"
#include "../kernels/topk.h"
#include "args.h"

namespace aiayn_addon {
namespace {

// layernorm(x, residual | null, gamma, beta, eps, rows, D, y)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  check_count(info, 8, "layernorm");
  const int64_t rows = get_int(info, 5, "rows", 1);
  const int64_t D = get_int(info, 6, "D", 1);
  const float* x = get_f32(info, 0, "x", rows * D);
  const float* residual = get_f32(info, 1, "residual", rows * D, true);
  const float* gamma = get_f32(info, 2, "gamma", D);
  const float* beta = get_f32(info, 3, "beta", D);
  const float eps = get_float(info, 4, "eps");
  float* y = get_f32(info, 7, "y", rows * D);
  Napi::Env env = info.Env();
  check_same_or_apart(env, y, x, rows * D, "x");
  check_same_or_apart(env, y, residual, rows * D, "residual");
  check_apart(env, y, rows * D * 4, gamma, D * 4, "gamma");
  check_apart(env, y, rows * D * 4, beta, D * 4, "beta");
  aiayn::layernorm(x, residual, gamma, beta, eps, rows, D, y);
  return info.Env().Undefined();
}

// rmsnorm(x, residual | null, gamma, eps, rows, D, y)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  check_count(info, 7, "rmsnorm");
  const int64_t rows = get_int(info, 4, "rows", 1);
  const int64_t D = get_int(info, 5, "D", 1);
  const float* x = get_f32(info, 0, "x", rows * D);
  const float* residual = get_f32(info, 1, "residual", rows * D, true);
  const float* gamma = get_f32(info, 2, "gamma", D);
  const float eps = get_float(info, 3, "eps");
  float* y = get_f32(info, 6, "y", rows * D);
  Napi::Env env = info.Env();
  check_same_or_apart(env, y, x, rows * D, "x");
  check_same_or_apart(env, y, residual, rows * D, "residual");
  check_apart(env, y, rows * D * 4, gamma, D * 4, "gamma");
  aiayn::rmsnorm(x, residual, gamma, eps, rows, D, y);
  return env.Undefined();
}

// glu(x [rows*2F], rows, F, activation: 0..4 (aiayn::Activation), y [rows*F])
Napi::Value Glu(const Napi::CallbackInfo& info) {
  check_count(info, 5, "glu");
  const int64_t rows = get_int(info, 1, "rows", 1);
  const int64_t F = get_int(info, 2, "F", 1);
  const auto act = static_cast<aiayn::Activation>(get_int(info, 3, "activation", 0, kActivationMax));
  const float* x = get_f32(info, 0, "x", rows * 2 * F);
  float* y = get_f32(info, 4, "y", rows * F);
  check_apart(info.Env(), y, rows * F * 4, x, rows * 2 * F * 4, "x");
  aiayn::glu(x, rows, F, act, y);
  return info.Env().Undefined();
}

// softmax(x, rows, N, y) and logSoftmax(x, rows, N, y)
template <void (*Op)(const float*, int64_t, int64_t, float*)>
Napi::Value RowOp(const Napi::CallbackInfo& info) {
  check_count(info, 4, "softmax");
  const int64_t rows = get_int(info, 1, "rows", 1);
  const int64_t N = get_int(info, 2, "N", 1);
  const float* x = get_f32(info, 0, "x", rows * N);
  float* y = get_f32(info, 3, "y", rows * N);
  check_same_or_apart(info.Env(), y, x, rows * N, "x");
  Op(x, rows, N, y);
  return info.Env().Undefined();
}

// argmax(x, rows, N, out: Int32Array [rows])
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  check_count(info, 4, "argmax");
  const int64_t rows = get_int(info, 1, "rows", 1);
  const int64_t N = get_int(info, 2, "N", 1);
  const float* x = get_f32(info, 0, "x", rows * N);
  int32_t* out = get_i32(info, 3, "out", rows);
  check_apart(info.Env(), out, rows * 4, x, rows * N * 4, "x");
  aiayn::argmax(x, rows, N, out);
  return info.Env().Undefined();
}

// topK(x, rows, N, k, logSoftmax, values: Float32Array [rows*k], indices: Int32Array [rows*k])
Napi::Value TopK(const Napi::CallbackInfo& info) {
  check_count(info, 7, "topK");
  Napi::Env env = info.Env();
  const int64_t rows = get_int(info, 1, "rows", 1);
  const int64_t N = get_int(info, 2, "N", 1);
  const int64_t k = get_int(info, 3, "k", 1, N);
  const bool log_softmax = get_bool(info, 4, "logSoftmax");
  const float* x = get_f32(info, 0, "x", rows * N);
  float* values = get_f32(info, 5, "values", rows * k);
  int32_t* indices = get_i32(info, 6, "indices", rows * k);
  check_apart(env, values, rows * k * 4, x, rows * N * 4, "x");
  check_apart(env, indices, rows * k * 4, x, rows * N * 4, "x");
  check_apart(env, indices, rows * k * 4, values, rows * k * 4, "values");
  aiayn::topk(x, rows, N, k, log_softmax, values, indices);
  return env.Undefined();
}

// embedding(ids, B, T, table, V, D, scale, positions | null, P, positionOffset, y
//           [, positionOffsets: Int32Array [B] | null [, positionIds: Int32Array [B*T] | null
//           [, tableDType: 0 fp32 | 1 bf16 | 2 int8 [, rowScales: Float32Array [V] | null]]]])
// positionIds (per token, negative = no position) needs positions and excludes positionOffsets;
// table is a Float32Array, or the Uint16Array / Int8Array of tableDType (see table_view).
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11 || info.Length() > 15) {
    throw Napi::TypeError::New(env, "embedding expects 11 to 15 arguments, got " + std::to_string(info.Length()));
  }
  const int64_t B = get_int(info, 1, "B", 1);
  const int64_t T = get_int(info, 2, "T", 1);
  const int64_t V = get_int(info, 4, "V", 1);
  const int64_t D = get_int(info, 5, "D", 1);
  const int32_t* ids = get_i32(info, 0, "ids", B * T);
  const TableView table = table_view(info, 3, 13, 14, V, D, "table");
  const float scale = get_float(info, 6, "scale");
  const int64_t P = get_int(info, 8, "P", 0);
  const int64_t offset = get_int(info, 9, "positionOffset", 0);
  const float* positions = get_f32(info, 7, "positions", P * D, true);
  float* y = get_f32(info, 10, "y", B * T * D);
  const int32_t* offsets = info.Length() >= 12 ? get_i32(info, 11, "positionOffsets", B, true) : nullptr;
  const int32_t* pos_ids = info.Length() >= 13 ? get_i32(info, 12, "positionIds", B * T, true) : nullptr;
  if (pos_ids != nullptr && positions == nullptr) {
    throw Napi::RangeError::New(env, "positionIds needs positions");
  }
  if (pos_ids != nullptr && offsets != nullptr) {
    throw Napi::RangeError::New(env, "positionIds and positionOffsets are mutually exclusive, got both");
  }
  if (positions != nullptr && offsets == nullptr && pos_ids == nullptr && offset + T > P) {
    throw Napi::RangeError::New(env, "positionOffset + T exceeds the rows of positions");
  }
  // ids, offsets and position ids are checked here and read again by the kernel:
  // y must not be able to change them.
  check_apart(env, y, B * T * D * 4, ids, B * T * 4, "ids");
  check_apart(env, y, B * T * D * 4, offsets, B * 4, "positionOffsets");
  check_apart(env, y, B * T * D * 4, pos_ids, B * T * 4, "positionIds");
  check_apart(env, y, B * T * D * 4, table.table.data, table.bytes, "table");
  check_apart(env, y, B * T * D * 4, table.table.row_scale, V * 4, "rowScales");
  check_apart(env, y, B * T * D * 4, positions, P * D * 4, "positions");
  for (int64_t i = 0; i < B * T; ++i) {
    if (ids[i] < 0 || ids[i] >= V) throw Napi::RangeError::New(env, "ids must be in [0, V)");
  }
  if (positions != nullptr && offsets != nullptr) {
    for (int64_t b = 0; b < B; ++b) {
      if (offsets[b] < 0 || offsets[b] + T > P) {
        throw Napi::RangeError::New(env, "positionOffsets must be in [0, P - T]");
      }
    }
  }
  if (pos_ids != nullptr) {
    for (int64_t i = 0; i < B * T; ++i) {
      if (pos_ids[i] >= P) throw Napi::RangeError::New(env, "positionIds must be < P (negative for no position)");
    }
  }
  aiayn::embedding(ids, B, T, table.table, V, D, scale, positions, offset, offsets, pos_ids, y);
  return env.Undefined();
}

}  // namespace

void init_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("layernorm", Napi::Function::New(env, LayerNorm, "layernorm"));
  exports.Set("rmsnorm", Napi::Function::New(env, RmsNorm, "rmsnorm"));
  exports.Set("glu", Napi::Function::New(env, Glu, "glu"));
  exports.Set("softmax", Napi::Function::New(env, RowOp<aiayn::softmax>, "softmax"));
  exports.Set("logSoftmax", Napi::Function::New(env, RowOp<aiayn::log_softmax>, "logSoftmax"));
  exports.Set("argmax", Napi::Function::New(env, Argmax, "argmax"));
  exports.Set("topK", Napi::Function::New(env, TopK, "topK"));
  exports.Set("embedding", Napi::Function::New(env, Embedding, "embedding"));
}

}  // namespace aiayn_addon
