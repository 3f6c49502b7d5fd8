// Binding for the fused decoder step (kernels/decoder_step.h): a
// DecoderStepPlan is built once per model from its packed linear layers and
// parameters, and step() runs one decoder step over a batch of rows in one
// call. The plan holds references to the PackedLinear objects and re-reads
// their weights at each step (a disposed one is an Error, not a dangling
// pointer); norm parameters and the position-bias table are copied; the
// embedding table (any dtype, with its int8 scales) and the position table
// are referenced and checked still attached.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "../kernels/decoder_step.h"
#include "args.h"
#include "state.h"

namespace aiayn_addon {
namespace {

// A typed array held by reference: its data is read through the pointer
// taken at construction, as long as the array still has it.
struct HeldArray {
  Napi::Reference<Napi::TypedArray> ref;
  const void* data = nullptr;
  size_t bytes = 0;
};

const void* data_of(const Napi::TypedArray& a) {
  return static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

HeldArray held(const Napi::TypedArray& a) { return {Napi::Persistent(a), data_of(a), a.ByteLength()}; }

class DecoderStepPlan : public Napi::ObjectWrap<DecoderStepPlan> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DecoderStepPlan",
                       {InstanceMethod<&DecoderStepPlan::Step>("step"),
                        InstanceMethod<&DecoderStepPlan::Dispose>("dispose"),
                        InstanceAccessor<&DecoderStepPlan::Disposed>("disposed")});
  }

  // new DecoderStepPlan(spec): see lib/backend/addon.ts (DecoderStepSpec) for its fields.
  explicit DecoderStepPlan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DecoderStepPlan>(info) {
    Napi::Env env = info.Env();
    check_count(info, 1, "DecoderStepPlan");
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "spec must be an object");
    const Napi::Object spec = info[0].As<Napi::Object>();
    aiayn::DecoderStepModel& m = model_;
    m.D = int_field(spec, "D", 1);
    m.H = int_field(spec, "H", 1);
    m.Dh = int_field(spec, "Dh", 1);
    m.F = int_field(spec, "F", 1);
    m.V = int_field(spec, "V", 1);
    m.norm_first = bool_field(spec, "normFirst");
    m.gated = bool_field(spec, "gated");
    m.act = static_cast<aiayn::Activation>(int_field(spec, "activation", 0, kActivationMax));
    m.eps = float_field(spec, "eps");
    m.attention_scale = float_field(spec, "attentionScale");
    m.embedding_scale = float_field(spec, "embeddingScale");
    const int64_t A = m.H * m.Dh;
    m.embedding.dtype = static_cast<aiayn::DType>(int_field(spec, "embeddingDType", 0, aiayn::kDTypeMax));
    embedding_ = hold_table(spec, m.embedding.dtype, m.V * m.D);
    m.embedding.data = embedding_.data;
    if (m.embedding.dtype == aiayn::DType::int8) {
      embedding_scales_ = hold(spec, "embeddingScales", m.V, false);
      m.embedding.row_scale = static_cast<const float*>(embedding_scales_.data);
    }
    positions_ = hold(spec, "positions", 0, true);
    if (positions_.data != nullptr) {
      m.P = static_cast<int64_t>(positions_.bytes / 4) / m.D;
      if (m.P < 1) throw Napi::RangeError::New(env, "spec.positions must hold at least one row of D");
      m.positions = static_cast<const float*>(positions_.data);
    }
    const Napi::Value bias = spec.Get("positionBias");
    if (!bias.IsNull() && !bias.IsUndefined()) {
      m.L = int_field(spec, "L", 1);
      m.position_bias = copy(bias, "spec.positionBias", m.H * (2 * m.L - 1));
    }
    m.embedding_norm = norm(spec.Get("embeddingNorm"), "spec.embeddingNorm", true);
    m.final_norm = norm(spec.Get("finalNorm"), "spec.finalNorm", true);
    generator_ = linear(spec.Get("generator"), "spec.generator", m.V, m.D);
    const Napi::Value layers_value = spec.Get("layers");
    if (!layers_value.IsArray()) throw Napi::TypeError::New(env, "spec.layers must be an array");
    const Napi::Array layers = layers_value.As<Napi::Array>();
    const int64_t F1 = m.gated ? 2 * m.F : m.F;
    for (uint32_t l = 0; l < layers.Length(); ++l) {
      const std::string at = "spec.layers[" + std::to_string(l) + "]";
      if (!layers.Get(l).IsObject()) throw Napi::TypeError::New(env, at + " must be an object");
      const Napi::Object layer = layers.Get(l).As<Napi::Object>();
      LayerSlots s;
      s.self_q = linear(layer.Get("selfQ"), at + ".selfQ", A, m.D);
      s.self_kv = linear(layer.Get("selfKV"), at + ".selfKV", 2 * A, m.D);
      s.self_out = linear(layer.Get("selfOut"), at + ".selfOut", m.D, A);
      s.cross_q = linear(layer.Get("crossQ"), at + ".crossQ", A, m.D);
      s.cross_out = linear(layer.Get("crossOut"), at + ".crossOut", m.D, A);
      s.ff1 = linear(layer.Get("ff1"), at + ".ff1", F1, m.D);
      s.ff2 = linear(layer.Get("ff2"), at + ".ff2", m.D, m.F);
      aiayn::DecoderLayerParams p;
      p.norm1 = norm(layer.Get("norm1"), at + ".norm1", false);
      p.norm2 = norm(layer.Get("norm2"), at + ".norm2", false);
      p.norm3 = norm(layer.Get("norm3"), at + ".norm3", false);
      layer_slots_.push_back(s);
      layers_.push_back(p);
    }
    m.layers = layers_.data();
    m.n_layers = static_cast<int64_t>(layers_.size());
    caches_.resize(layers_.size());
  }

 private:
  struct Linear {
    Napi::ObjectReference ref;
    LinearSlots slots{};
  };
  struct LayerSlots {
    int self_q, self_kv, self_out, cross_q, cross_out, ff1, ff2;  // indices into linears_
  };

  static int64_t int_field(const Napi::Object& spec, const char* name, int64_t min, int64_t max = INT32_MAX) {
    const Napi::Value v = spec.Get(name);
    if (!v.IsNumber()) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) ||
        d > static_cast<double>(max)) {
      throw Napi::RangeError::New(spec.Env(), std::string("spec.") + name + " must be an integer in [" +
                                                  std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return static_cast<int64_t>(d);
  }

  static bool bool_field(const Napi::Object& spec, const char* name) {
    const Napi::Value v = spec.Get(name);
    if (!v.IsBoolean()) throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  static float float_field(const Napi::Object& spec, const char* name) {
    const Napi::Value v = spec.Get(name);
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
      throw Napi::TypeError::New(spec.Env(), std::string("spec.") + name + " must be a finite number");
    }
    return static_cast<float>(v.As<Napi::Number>().DoubleValue());
  }

  static Napi::Float32Array f32(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t min_length) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, name + " must be a Float32Array");
    }
    auto array = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(array.ElementLength()) < min_length) {
      throw Napi::RangeError::New(env, name + " must have at least " + std::to_string(min_length) + " elements, got " +
                                           std::to_string(array.ElementLength()));
    }
    return array;
  }

  HeldArray hold(const Napi::Object& spec, const char* name, int64_t min_length, bool nullable) {
    const Napi::Value v = spec.Get(name);
    if (nullable && (v.IsNull() || v.IsUndefined())) return {};
    return held(f32(spec.Env(), v, std::string("spec.") + name, min_length));
  }

  // spec.embedding [V, D]: a Float32Array, or the bf16 bits (Uint16Array) or int8 values (Int8Array) of `dtype`.
  static HeldArray hold_table(const Napi::Object& spec, aiayn::DType dtype, int64_t n) {
    const Napi::Value v = spec.Get("embedding");
    const napi_typedarray_type type = dtype == aiayn::DType::bf16  ? napi_uint16_array
                                      : dtype == aiayn::DType::int8 ? napi_int8_array
                                                                    : napi_float32_array;
    const char* name = dtype == aiayn::DType::bf16 ? "Uint16Array" : dtype == aiayn::DType::int8 ? "Int8Array" : "Float32Array";
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
      throw Napi::TypeError::New(spec.Env(), std::string("spec.embedding must be a ") + name + " for spec.embeddingDType");
    }
    const Napi::TypedArray array = v.As<Napi::TypedArray>();
    if (static_cast<int64_t>(array.ElementLength()) < n) {
      throw Napi::RangeError::New(spec.Env(), "spec.embedding must have at least " + std::to_string(n) +
                                                  " elements, got " + std::to_string(array.ElementLength()));
    }
    return held(array);
  }

  // A copy of v's first n floats, owned by the plan.
  const float* copy(const Napi::Value& v, const std::string& name, int64_t n) {
    const Napi::Float32Array array = f32(Env(), v, name, n);
    copies_.emplace_back(array.Data(), array.Data() + n);
    return copies_.back().data();
  }

  // [gamma, beta | null] (LayerNorm / RMSNorm), or null for none when `optional`.
  aiayn::NormParams norm(const Napi::Value& v, const std::string& name, bool optional) {
    if (optional && (v.IsNull() || v.IsUndefined())) return {};
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 2) {
      throw Napi::TypeError::New(Env(), name + " must be [gamma, beta | null]");
    }
    const Napi::Array pair = v.As<Napi::Array>();
    aiayn::NormParams p;
    p.gamma = copy(pair.Get(0u), name + "[0]", model_.D);
    if (!pair.Get(1u).IsNull()) p.beta = copy(pair.Get(1u), name + "[1]", model_.D);
    return p;
  }

  // A PackedLinear of shape [N, K]; returns its index in linears_.
  int linear(const Napi::Value& v, const std::string& name, int64_t N, int64_t K) {
    const LinearSlots slots = linear_slots(Env(), v, name.c_str());
    const aiayn::PackedWeights& w = **slots.weights;
    if (w.N != N || w.K != K) {
      throw Napi::RangeError::New(Env(), name + " must be [" + std::to_string(N) + ", " + std::to_string(K) +
                                             "], got [" + std::to_string(w.N) + ", " + std::to_string(w.K) + "]");
    }
    linears_.push_back({Napi::Persistent(v.As<Napi::Object>()), slots});
    return static_cast<int>(linears_.size() - 1);
  }

  // The current weights of linears_[i]: Error if disposed since.
  aiayn::LinearParams params(int i) {
    const LinearSlots& s = linears_[static_cast<size_t>(i)].slots;
    if (*s.weights == nullptr) throw Napi::Error::New(Env(), "a decoder step's weights were disposed");
    return {*s.weights, *s.bias};
  }

  void check_attached(const HeldArray& a, const char* name) {
    if (a.data == nullptr) return;
    const Napi::TypedArray now = a.ref.Value();
    if (data_of(now) != a.data || now.ByteLength() != a.bytes) {
      throw Napi::Error::New(Env(), std::string("the decoder step's ") + name + " table was detached");
    }
  }

  // step(tokens: Int32Array [R], positions: Int32Array [R], positionIds: Int32Array [R] | null,
  //      srcLengths: Int32Array [R], R, Tcap, Scap, self: Float32Array[] (per layer [Bcap, Tcap, 2, H, Dh]),
  //      cross: Float32Array[] (per layer [Bcap, Scap, 2, H, Dh]), logits: Float32Array [R, V])
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_count(info, 10, "step");
    if (disposed_) throw Napi::Error::New(env, "the decoder step plan was disposed");
    const aiayn::DecoderStepModel& m = model_;
    const int64_t A = m.H * m.Dh;
    aiayn::DecoderStepArgs a;
    a.R = get_int(info, 4, "R", 1);
    a.Tcap = get_int(info, 5, "Tcap", 1);
    a.Scap = get_int(info, 6, "Scap", 1);
    a.tokens = get_i32(info, 0, "tokens", a.R);
    a.positions = get_i32(info, 1, "positions", a.R);
    a.position_ids = get_i32(info, 2, "positionIds", a.R, true);
    a.src_lengths = get_i32(info, 3, "srcLengths", a.R);
    a.logits = get_f32(info, 9, "logits", a.R * m.V);
    if (a.position_ids != nullptr && m.positions == nullptr) {
      throw Napi::RangeError::New(env, "positionIds needs a plan with positions");
    }
    for (int64_t r = 0; r < a.R; ++r) {
      const int64_t p = a.positions[r];
      if (a.tokens[r] < 0 || a.tokens[r] >= m.V) throw Napi::RangeError::New(env, "tokens must be in [0, V)");
      if (p < 0 || p + 1 > a.Tcap) throw Napi::RangeError::New(env, "positions must be in [0, Tcap - 1]");
      if (m.position_bias != nullptr && p + 1 > m.L) throw Napi::RangeError::New(env, "positions must be < L");
      if (a.position_ids != nullptr ? a.position_ids[r] >= m.P : m.positions != nullptr && p + 1 > m.P) {
        throw Napi::RangeError::New(env, "a row's position is past the positions table");
      }
      if (a.src_lengths[r] < 0 || a.src_lengths[r] > a.Scap) {
        throw Napi::RangeError::New(env, "srcLengths must be in [0, Scap]");
      }
    }
    const auto buffers = [&](size_t i, const char* name) {
      if (!info[i].IsArray() || info[i].As<Napi::Array>().Length() != caches_.size()) {
        throw Napi::TypeError::New(env, std::string(name) + " must be an array of one Float32Array per layer");
      }
      return info[i].As<Napi::Array>();
    };
    const Napi::Array self = buffers(7, "self");
    const Napi::Array cross = buffers(8, "cross");
    for (uint32_t l = 0; l < caches_.size(); ++l) {
      caches_[l].self = f32(env, self.Get(l), "self[" + std::to_string(l) + "]", a.R * a.Tcap * 2 * A).Data();
      caches_[l].cross = f32(env, cross.Get(l), "cross[" + std::to_string(l) + "]", a.R * a.Scap * 2 * A).Data();
      check_apart(env, a.logits, a.R * m.V * 4, caches_[l].self, a.R * a.Tcap * 2 * A * 4, "the self caches");
    }
    a.caches = caches_.data();
    check_attached(embedding_, "embedding");
    check_attached(embedding_scales_, "embedding scales");
    check_attached(positions_, "positions");
    model_.generator = params(generator_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LayerSlots& s = layer_slots_[l];
      aiayn::DecoderLayerParams& p = layers_[l];
      p.self_q = params(s.self_q);
      p.self_kv = params(s.self_kv);
      p.self_out = params(s.self_out);
      p.cross_q = params(s.cross_q);
      p.cross_out = params(s.cross_out);
      p.ff1 = params(s.ff1);
      p.ff2 = params(s.ff2);
    }
    if (!scratch_.reserve(m, a.R)) throw Napi::Error::New(env, "out of memory for the decoder step's activations");
    aiayn::decoder_step(m, a, scratch_);
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    linears_.clear();
    embedding_ = {};
    embedding_scales_ = {};
    positions_ = {};
    scratch_.release();
    return info.Env().Undefined();
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

  aiayn::DecoderStepModel model_;
  std::vector<aiayn::DecoderLayerParams> layers_;
  std::vector<LayerSlots> layer_slots_;
  std::vector<Linear> linears_;
  int generator_ = 0;
  HeldArray embedding_, embedding_scales_, positions_;
  std::vector<std::vector<float>> copies_;
  std::vector<aiayn::DecoderLayerCache> caches_;
  aiayn::DecoderStepScratch scratch_;
  bool disposed_ = false;
};

}  // namespace

void init_decoder_step(Napi::Env env, Napi::Object exports) {
  exports.Set("DecoderStepPlan", DecoderStepPlan::Define(env));
}

}  // namespace aiayn_addon
