// Argument helpers for the binding. The TypeScript layer validates everything
// with precise messages; these are the cheap re-checks that keep a wrong call
// from reading or writing out of bounds. They throw, never crash.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "../kernels/ops.h"

namespace aiayn_addon {

inline void check_count(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() != n) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + " expects " + std::to_string(n) +
                                               " arguments, got " + std::to_string(info.Length()));
  }
}

// A non-negative integer argument no larger than `max`.
inline int64_t get_int(const Napi::CallbackInfo& info, size_t i, const char* name,
                       int64_t min = 0, int64_t max = INT32_MAX) {
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || v < static_cast<double>(min) ||
      v > static_cast<double>(max)) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in [" +
                                                std::to_string(min) + ", " + std::to_string(max) +
                                                "], got " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

inline float get_float(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v)) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be finite");
  }
  return static_cast<float>(v);
}

inline bool get_bool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  }
  return info[i].As<Napi::Boolean>().Value();
}

template <typename T, napi_typedarray_type Type>
T* typed_view(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min_length,
              bool nullable, const char* type_name) {
  if (nullable && (info[i].IsNull() || info[i].IsUndefined())) return nullptr;
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Type) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a " + type_name);
  }
  auto array = info[i].As<Napi::TypedArrayOf<T>>();
  if (static_cast<int64_t>(array.ElementLength()) < min_length) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must have at least " +
                                                std::to_string(min_length) + " elements, got " +
                                                std::to_string(array.ElementLength()));
  }
  return array.Data();
}

// A Float32Array with at least `min_length` elements (null allowed when `nullable`).
inline float* get_f32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min_length,
                      bool nullable = false) {
  return typed_view<float, napi_float32_array>(info, i, name, min_length, nullable, "Float32Array");
}

inline int32_t* get_i32(const Napi::CallbackInfo& info, size_t i, const char* name,
                        int64_t min_length, bool nullable = false) {
  return typed_view<int32_t, napi_int32_array>(info, i, name, min_length, nullable, "Int32Array");
}

// The largest aiayn::Activation code (activation.h).
constexpr int64_t kActivationMax = 4;

// Whether two byte ranges share memory.
inline bool overlap(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  const auto* pa = static_cast<const char*>(a);
  const auto* pb = static_cast<const char*>(b);
  return pa < pb + b_bytes && pb < pa + a_bytes;
}

// y may be x itself (same start, n floats) or apart from it, never partly over it.
inline void check_same_or_apart(Napi::Env env, const float* y, const float* x, int64_t n, const char* what) {
  if (x != nullptr && x != y && overlap(x, n * 4, y, n * 4)) {
    throw Napi::RangeError::New(env, std::string("y must be ") + what + " itself or not share memory with it");
  }
}

inline void check_apart(Napi::Env env, const void* y, int64_t y_bytes, const void* x, int64_t x_bytes,
                        const char* what) {
  if (x != nullptr && overlap(x, x_bytes, y, y_bytes)) {
    throw Napi::RangeError::New(env, std::string("the output must not share memory with ") + what);
  }
}

// An embedding table [V, D] of `dtype` (0 fp32: Float32Array, 1 bf16: Uint16Array
// of bits, 2 int8: Int8Array with `scales`, a Float32Array [V]); `bytes` the
// table's own size, for the overlap checks.
struct TableView {
  aiayn::EmbeddingTable table;
  int64_t bytes = 0;
};

inline TableView table_view(const Napi::CallbackInfo& info, size_t i_table, size_t i_dtype, size_t i_scales,
                            int64_t V, int64_t D, const char* name) {
  TableView v;
  const int64_t dtype = info.Length() > i_dtype ? get_int(info, i_dtype, "tableDType", 0, aiayn::kDTypeMax) : 0;
  v.table.dtype = static_cast<aiayn::DType>(dtype);
  switch (v.table.dtype) {
    case aiayn::DType::bf16:
      v.table.data = typed_view<uint16_t, napi_uint16_array>(info, i_table, name, V * D, false, "Uint16Array");
      v.bytes = V * D * 2;
      break;
    case aiayn::DType::int8:
      v.table.data = typed_view<int8_t, napi_int8_array>(info, i_table, name, V * D, false, "Int8Array");
      v.table.row_scale = info.Length() > i_scales ? get_f32(info, i_scales, "rowScales", V, true) : nullptr;
      if (v.table.row_scale == nullptr) throw Napi::TypeError::New(info.Env(), "an int8 table needs rowScales");
      v.bytes = V * D;
      break;
    default:
      v.table.data = get_f32(info, i_table, name, V * D);
      v.bytes = V * D * 4;
  }
  return v;
}

// Packed linear weights alive in the process (all worker_threads): their bytes
// and number, for info(). The exact figure a leak check needs: V8's external
// memory (which AdjustExternalMemory feeds) is not it on every Node version.
struct PackedTotals {
  int64_t bytes;
  int64_t count;
};
PackedTotals packed_totals();

// Registers each binding file's exports.
void init_linear(Napi::Env env, Napi::Object exports);
void init_attention(Napi::Env env, Napi::Object exports);
void init_ops(Napi::Env env, Napi::Object exports);
void init_decoder_step(Napi::Env env, Napi::Object exports);

}  // namespace aiayn_addon
