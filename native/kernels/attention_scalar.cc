// Scalar reference attention: plain loops, fp32 accumulation, online softmax
// with std::exp in the natural domain. Used when AIAYN_ISA=scalar or the CPU
// lacks AVX2, and as the readable definition the SIMD kernels must match.
// Layout and masks: see attention.h; entry points: attention_kernels.h.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attention_kernels.h"

namespace aiayn {

size_t f32_attention_prefill_scratch__scalar(const AttentionArgs& a) { return static_cast<size_t>(a.Dh); }
size_t f32_attention_decode_scratch__scalar(int64_t) { return 0; }

void f32_attention_decode__scalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                                 int64_t j0, int64_t j1, float* acc, float* ml, float*) {
  const int64_t Dh = a.Dh;
  const float* q = a.q + b * a.q_strides.batch + i * a.q_strides.time + h * a.q_strides.head;
  // bias[j]: the position bias of key j for this query (attention.h), or null.
  const float* bias = nullptr;
  if (a.position_bias) {
    const int64_t p = a.query_offsets ? a.query_offsets[b] + i : i + (a.Tk - a.Tq);
    bias = a.position_bias + h * (2 * a.bias_positions - 1) + (a.bias_positions - 1 - p);
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t d = 0; d < Dh; ++d) acc[d] = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    const float* k = a.k + b * a.k_strides.batch + j * a.k_strides.time + h * a.k_strides.head;
    const float* v = a.v + b * a.v_strides.batch + j * a.v_strides.time + h * a.v_strides.head;
    float s = 0.0f;
    for (int64_t d = 0; d < Dh; ++d) s += q[d] * k[d];
    s *= a.scale;
    if (bias) s += bias[j];
    if (s > m) {  // new running max: rescale what was summed so far
      const float alpha = std::exp(m - s);
      l *= alpha;
      for (int64_t d = 0; d < Dh; ++d) acc[d] *= alpha;
      m = s;
    }
    const float p = std::exp(s - m);
    l += p;
    for (int64_t d = 0; d < Dh; ++d) acc[d] += p * v[d];
  }
  ml[0] = m;
  ml[1] = l;
}

void f32_attention_prefill__scalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
                                    int64_t i1, float* scratch) {
  const int64_t kv_len = a.kv_lengths ? a.kv_lengths[b] : a.Tk;
  for (int64_t i = i0; i < i1; ++i) {
    int64_t end = kv_len;
    if (a.causal && i + (a.Tk - a.Tq) + 1 < end) end = i + (a.Tk - a.Tq) + 1;
    float ml[2] = {0.0f, 0.0f};
    if (end > 0) f32_attention_decode__scalar(a, b, h, i, 0, end, scratch, ml, nullptr);
    const float inv = ml[1] > 0.0f ? 1.0f / ml[1] : 0.0f;
    float* o = a.out + b * a.out_strides.batch + i * a.out_strides.time + h * a.out_strides.head;
    for (int64_t d = 0; d < a.Dh; ++d) o[d] = end > 0 ? scratch[d] * inv : 0.0f;
  }
}

}  // namespace aiayn
