// Binding for linear layers: PackedLinear owns weights packed once into the
// kernel's panel format (reported to V8 as external memory, freed by dispose()
// or the finalizer); linear() runs Y = act(X W^T + b) into a caller's buffer.
#include <napi.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "../kernels/gemm.h"
#include "args.h"
#include "state.h"

namespace aiayn_addon {
namespace {

std::atomic<int64_t> packed_bytes{0};
std::atomic<int64_t> packed_count{0};

class PackedLinear : public Napi::ObjectWrap<PackedLinear> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PackedLinear",
                       {InstanceMethod<&PackedLinear::Dispose>("dispose"),
                        InstanceMethod<&PackedLinear::Unpack>("unpack"),
                        InstanceAccessor<&PackedLinear::Bytes>("bytes"),
                        InstanceAccessor<&PackedLinear::DTypeCode>("dtype"),
                        InstanceAccessor<&PackedLinear::Disposed>("disposed")});
  }

  // new PackedLinear(weight: Float32Array [N*K] | Uint16Array [N*K] (raw bf16 bits, dtype 1 only),
  //                  N, K, bias: Float32Array [N] | null, dtype?: 0 fp32 | 1 bf16 | 2 int8 (default 0))
  explicit PackedLinear(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PackedLinear>(info) {
    if (info.Length() != 4 && info.Length() != 5) {
      throw Napi::TypeError::New(info.Env(), "PackedLinear expects 4 or 5 arguments, got " + std::to_string(info.Length()));
    }
    const int64_t N = get_int(info, 1, "N", 1);
    const int64_t K = get_int(info, 2, "K", 1);
    const auto dtype = static_cast<aiayn::DType>(info.Length() == 5 ? get_int(info, 4, "dtype", 0, aiayn::kDTypeMax) : 0);
    const float* bias = get_f32(info, 3, "bias", N, true);
    if (dtype == aiayn::DType::int8 && K > aiayn::kInt8MaxK) {
      throw Napi::RangeError::New(info.Env(), "K must be at most " + std::to_string(aiayn::kInt8MaxK) +
                                                  " for int8 weights (int32 sums), got " + std::to_string(K));
    }
    const bool bits = dtype == aiayn::DType::bf16 && info[0].IsTypedArray() &&
                      info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
    if (bits) {
      const uint16_t* w = typed_view<uint16_t, napi_uint16_array>(info, 0, "weight", N * K, false, "Uint16Array");
      packed_ = aiayn::linear_pack_bf16(w, N, K);
    } else {
      const float* w = typed_view<float, napi_float32_array>(
          info, 0, "weight", N * K, false,
          dtype == aiayn::DType::bf16 ? "Float32Array or a Uint16Array of bf16 bits" : "Float32Array");
      packed_ = aiayn::linear_pack(w, N, K, dtype);
    }
    if (packed_ == nullptr) throw Napi::Error::New(info.Env(), "out of memory packing linear weights");
    dtype_ = dtype;
    if (bias != nullptr) {
      bias_ = static_cast<float*>(std::malloc(sizeof(float) * N));
      if (bias_ == nullptr) {
        aiayn::linear_free(packed_);
        packed_ = nullptr;
        throw Napi::Error::New(info.Env(), "out of memory copying the bias");
      }
      std::memcpy(bias_, bias, sizeof(float) * N);
    }
    external_ = static_cast<int64_t>(packed_->bytes) + (bias ? N * 4 : 0);
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_);
    packed_bytes += external_;
    ++packed_count;
  }

  ~PackedLinear() override { Release(Env()); }

  // Null once disposed.
  const aiayn::PackedWeights* weights() const { return packed_; }
  const float* bias() const { return bias_; }
  LinearSlots slots() const { return {&packed_, &bias_}; }

 private:
  void Release(Napi::Env env) {
    if (packed_ == nullptr) return;
    aiayn::linear_free(packed_);
    std::free(bias_);
    packed_ = nullptr;
    bias_ = nullptr;
    Napi::MemoryManagement::AdjustExternalMemory(env, -external_);
    packed_bytes -= external_;
    --packed_count;
    external_ = 0;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

  // unpack(weight: Float32Array [N*K], bias: Float32Array [N] | null): the packed
  // weights back in nn.Linear layout (so a model need not keep its own copy),
  // dequantised to fp32 (bf16 widened; int8 as q * s).
  Napi::Value Unpack(const Napi::CallbackInfo& info) {
    check_count(info, 2, "unpack");
    if (packed_ == nullptr) throw Napi::Error::New(info.Env(), "weights were disposed");
    const int64_t N = packed_->N;
    float* w = get_f32(info, 0, "weight", N * packed_->K);
    float* bias = get_f32(info, 1, "bias", N, true);
    if (bias != nullptr && bias_ == nullptr) throw Napi::Error::New(info.Env(), "these weights have no bias");
    aiayn::linear_unpack(*packed_, w);
    if (bias != nullptr) std::memcpy(bias, bias_, sizeof(float) * N);
    return info.Env().Undefined();
  }

  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(external_));
  }

  // 0 fp32, 1 bf16, 2 int8 (as given to the constructor); kept after dispose().
  Napi::Value DTypeCode(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<int>(dtype_));
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), packed_ == nullptr);
  }

  aiayn::PackedWeights* packed_ = nullptr;
  aiayn::DType dtype_ = aiayn::DType::fp32;
  float* bias_ = nullptr;
  int64_t external_ = 0;
};

PackedLinear* get_packed(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(addon_state(env).packed_linear.Value())) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a PackedLinear");
  }
  PackedLinear* p = PackedLinear::Unwrap(value.As<Napi::Object>());
  if (p->weights() == nullptr) throw Napi::Error::New(env, std::string(name) + " were disposed");
  return p;
}

// linear(x: Float32Array [M*K], M, weights: PackedLinear, activation: 0..4 (aiayn::Activation),
//        residual: Float32Array [M*N] | null, y: Float32Array [M*N])
Napi::Value Linear(const Napi::CallbackInfo& info) {
  check_count(info, 6, "linear");
  Napi::Env env = info.Env();
  const int64_t M = get_int(info, 1, "M", 1);
  const PackedLinear* p = get_packed(env, info[2], "weights");
  const aiayn::PackedWeights& w = *p->weights();
  const auto act = static_cast<aiayn::Activation>(get_int(info, 3, "activation", 0, kActivationMax));
  const float* x = get_f32(info, 0, "x", M * w.K);
  const float* residual = get_f32(info, 4, "residual", M * w.N, true);
  float* y = get_f32(info, 5, "y", M * w.N);
  const int64_t nx = M * w.K, ny = M * w.N;
  if (overlap(x, nx * 4, y, ny * 4)) throw Napi::RangeError::New(env, "y must not share memory with x");
  if (residual != nullptr && overlap(residual, ny * 4, y, ny * 4) &&
      (residual != y || act != aiayn::Activation::none)) {
    throw Napi::RangeError::New(env, "residual may be y itself only without an activation");
  }
  try {
    aiayn::linear(x, M, w.K, w, p->bias(), act, residual, y, w.N);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory for the linear layer's scratch (converted x)");
  }
  return info.Env().Undefined();
}

}  // namespace

PackedTotals packed_totals() { return {packed_bytes.load(), packed_count.load()}; }

LinearSlots linear_slots(Napi::Env env, Napi::Value value, const char* name) {
  return get_packed(env, value, name)->slots();
}

void init_linear(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = PackedLinear::Define(env);
  addon_state(env).packed_linear = Napi::Persistent(ctor);
  exports.Set("PackedLinear", ctor);
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
}

}  // namespace aiayn_addon
