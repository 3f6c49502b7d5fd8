// Binding for fused attention over strided [B, T, H, Dh] views.
#include <napi.h>

#include "../kernels/attention.h"
#include "args.h"

namespace aiayn_addon {
namespace {

// Elements a strided view spans: the last element's offset + 1.
int64_t span(int64_t B, int64_t T, int64_t H, int64_t Dh, const aiayn::AttentionStrides& s) {
  if (T == 0) return 0;
  return (B - 1) * s.batch + (T - 1) * s.time + (H - 1) * s.head + Dh;
}

bool overlap(const float* a, int64_t na, const float* b, int64_t nb) {
  return a < b + nb && b < a + na;
}

// attention(q, k, v, out, B, Tq, Tk, H, Dh, qsb, qst, qsh, ksb, kst, ksh,
//           kvLengths: Int32Array | null, causal, scale)
// q and out share the q strides, k and v the kv strides.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  check_count(info, 18, "attention");
  Napi::Env env = info.Env();
  aiayn::AttentionArgs a;
  a.B = get_int(info, 4, "B", 1);
  a.Tq = get_int(info, 5, "Tq", 1);
  a.Tk = get_int(info, 6, "Tk", 0);
  a.H = get_int(info, 7, "H", 1);
  a.Dh = get_int(info, 8, "Dh", 1);
  a.q_strides = {get_int(info, 9, "q stride B", 0, INT64_MAX >> 8), get_int(info, 10, "q stride T"),
                 get_int(info, 11, "q stride H")};
  a.k_strides = {get_int(info, 12, "kv stride B", 0, INT64_MAX >> 8), get_int(info, 13, "kv stride T"),
                 get_int(info, 14, "kv stride H")};
  a.v_strides = a.k_strides;
  a.out_strides = a.q_strides;
  const int64_t q_span = span(a.B, a.Tq, a.H, a.Dh, a.q_strides);
  const int64_t kv_span = span(a.B, a.Tk, a.H, a.Dh, a.k_strides);
  a.q = get_f32(info, 0, "q", q_span);
  a.k = get_f32(info, 1, "k", kv_span);
  a.v = get_f32(info, 2, "v", kv_span);
  a.out = get_f32(info, 3, "out", q_span);
  if (overlap(a.out, q_span, a.q, q_span) || overlap(a.out, q_span, a.k, kv_span) ||
      overlap(a.out, q_span, a.v, kv_span)) {
    throw Napi::RangeError::New(env, "out must not share memory with q, k or v");
  }
  a.kv_lengths = get_i32(info, 15, "kvLengths", a.B, true);
  if (a.kv_lengths != nullptr) {
    for (int64_t b = 0; b < a.B; ++b) {
      if (a.kv_lengths[b] < 0 || a.kv_lengths[b] > a.Tk) {
        throw Napi::RangeError::New(env, "kvLengths entries must be in [0, Tk]");
      }
    }
  }
  a.causal = get_bool(info, 16, "causal");
  a.scale = get_float(info, 17, "scale");
  aiayn::attention(a);
  return env.Undefined();
}

}  // namespace

void init_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
}

}  // namespace aiayn_addon
