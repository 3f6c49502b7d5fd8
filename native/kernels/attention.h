// Fused multi-head scaled-dot-product attention with online softmax.
//
// out[b,i,h,:] = sum_j softmax_j(scale * q[b,i,h,:]·k[b,j,h,:] + mask) v[b,j,h,:]
// Every tensor is addressed through element strides for batch, time and head;
// the Dh dimension is contiguous. So [B,T,H,Dh] activations and [B,H,Tcap,Dh]
// KV caches are both views, never copies. No Tq x Tk buffer is materialised.
//
// Masks are described, not stored:
//   causal      query i sees key j only if j <= i + (Tk - Tq) (aligned to the
//               last key, so decode with Tq = 1 over a cache of Tk sees all Tk);
//   kv_lengths  per batch row b, keys j >= kv_lengths[b] are masked (padding).
// A query that sees no key at all gets zeros, never NaN.
// Relative-position bias (T5), optional: a table [H, 2L - 1]; query i of batch
// row b sits at position p = query_offsets[b] + i (or i + (Tk - Tq) without
// query_offsets), key j at position j, and the score becomes
//   scale * q·k + position_bias[h, (j - p) + L - 1].
// The positions change the bias only, never the masks. The caller checks that
// every visible (i, j) indexes inside the table: Tk <= L and 0 <= p < L.
// Batch invariant: each output row is bit-identical whatever B, the other
// batch rows and the thread count; it depends only on its own q, k, v rows and
// the keys it sees (see attention.cc).
#pragma once

#include <cstdint>

namespace aiayn {

struct AttentionStrides {
  int64_t batch = 0, time = 0, head = 0;
};

struct AttentionArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;  // must not overlap q, k or v
  AttentionStrides q_strides, k_strides, v_strides, out_strides;
  int64_t B = 0, Tq = 0, Tk = 0, H = 0, Dh = 0;
  const int32_t* kv_lengths = nullptr;  // [B] or null; each in [0, Tk]
  bool causal = false;
  float scale = 1.0f;  // usually 1 / sqrt(Dh)
  const float* position_bias = nullptr;    // [H, 2L - 1] or null
  int64_t bias_positions = 0;              // L
  const int32_t* query_offsets = nullptr;  // [B] or null (with position_bias)
};

void attention(const AttentionArgs& args);

}  // namespace aiayn
