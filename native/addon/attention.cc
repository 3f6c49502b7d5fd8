// Binding for fused attention over strided [B, T, H, Dh] views.
#include <napi.h>

#include <string>
#include <vector>

#include "../kernels/attention.h"
#include "args.h"

namespace aiayn_addon {
namespace {

// Elements a strided view spans: the last element's offset + 1, computed in
// 128 bits so that hostile strides cannot wrap around a length check.
int64_t span(Napi::Env env, int64_t B, int64_t T, int64_t H, int64_t Dh, const aiayn::AttentionStrides& s) {
  if (T == 0) return 0;
  const __int128 n = static_cast<__int128>(B - 1) * s.batch + static_cast<__int128>(T - 1) * s.time +
                     static_cast<__int128>(H - 1) * s.head + Dh;
  if (n > (static_cast<__int128>(1) << 53)) throw Napi::RangeError::New(env, "strides span more than 2^53 elements");
  return static_cast<int64_t>(n);
}

// attention(q, k, v, out, B, Tq, Tk, H, Dh, qsb, qst, qsh, ksb, kst, ksh,
//           kvLengths: Int32Array | null, causal, scale
//           [, positionBias: Float32Array [H * (2L - 1)] | null, L,
//              queryOffsets: Int32Array [B] | null])
// q has the q strides, k and v the kv strides (each may be a slot of a fused
// projection); out is contiguous [B, Tq, H, Dh].
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 18 && info.Length() != 21) {
    throw Napi::TypeError::New(env, "attention expects 18 or 21 arguments, got " + std::to_string(info.Length()));
  }
  const bool with_bias = info.Length() == 21;
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
  if (static_cast<__int128>(a.B) * a.Tq * a.H * a.Dh > (static_cast<__int128>(1) << 53)) {
    throw Napi::RangeError::New(env, "out would hold more than 2^53 elements");
  }
  a.out_strides = {a.Tq * a.H * a.Dh, a.H * a.Dh, a.Dh};
  const int64_t q_span = span(env, a.B, a.Tq, a.H, a.Dh, a.q_strides);
  const int64_t kv_span = span(env, a.B, a.Tk, a.H, a.Dh, a.k_strides);
  const int64_t out_span = a.B * a.Tq * a.H * a.Dh;
  a.q = get_f32(info, 0, "q", q_span);
  a.k = get_f32(info, 1, "k", kv_span);
  a.v = get_f32(info, 2, "v", kv_span);
  a.out = get_f32(info, 3, "out", out_span);
  if (overlap(a.out, out_span * 4, a.q, q_span * 4) || overlap(a.out, out_span * 4, a.k, kv_span * 4) ||
      overlap(a.out, out_span * 4, a.v, kv_span * 4)) {
    throw Napi::RangeError::New(env, "out must not share memory with q, k or v");
  }
  // Copied once checked, so that nothing the kernel writes can change them.
  const int32_t* kv_lengths = get_i32(info, 15, "kvLengths", a.B, true);
  std::vector<int32_t> lengths;
  if (kv_lengths != nullptr) {
    lengths.assign(kv_lengths, kv_lengths + a.B);
    for (const int32_t l : lengths) {
      if (l < 0 || l > a.Tk) throw Napi::RangeError::New(env, "kvLengths entries must be in [0, Tk]");
    }
    a.kv_lengths = lengths.data();
  }
  a.causal = get_bool(info, 16, "causal");
  a.scale = get_float(info, 17, "scale");
  // Position bias: every query position in [0, L) and Tk <= L, so that each
  // visible (i, j) indexes inside the table; offsets copied once checked.
  std::vector<int32_t> offsets;
  if (with_bias && !info[18].IsNull() && !info[18].IsUndefined()) {
    const int64_t L = get_int(info, 19, "L", 1);
    const int64_t table = a.H * (2 * L - 1);
    a.position_bias = get_f32(info, 18, "positionBias", table);
    a.bias_positions = L;
    if (overlap(a.out, out_span * 4, a.position_bias, table * 4)) {
      throw Napi::RangeError::New(env, "out must not share memory with positionBias");
    }
    if (a.Tk > L) throw Napi::RangeError::New(env, "positionBias must cover Tk positions (Tk <= L)");
    const int32_t* query_offsets = get_i32(info, 20, "queryOffsets", a.B, true);
    if (query_offsets != nullptr) {
      offsets.assign(query_offsets, query_offsets + a.B);
      for (const int32_t o : offsets) {
        if (o < 0 || o + a.Tq > L) throw Napi::RangeError::New(env, "queryOffsets entries must be in [0, L - Tq]");
      }
      a.query_offsets = offsets.data();
    } else if (a.Tk < a.Tq) {
      throw Napi::RangeError::New(env, "positionBias without queryOffsets needs Tq <= Tk");
    }
  } else if (with_bias && !info[20].IsNull() && !info[20].IsUndefined()) {
    throw Napi::TypeError::New(env, "queryOffsets needs positionBias");
  }
  aiayn::attention(a);
  return env.Undefined();
}

}  // namespace

void init_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
}

}  // namespace aiayn_addon
