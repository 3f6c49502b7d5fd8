// The decoder step composed from the kernels (see decoder_step.h). Each call
// below is the one the TypeScript model makes for the same op, with the same
// operands, so the batch-invariant kernels give the same bits.
#include "decoder_step.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "attention.h"
#include "ops.h"

namespace aiayn {
namespace {

constexpr int64_t kAlign = 16;  // floats: each buffer starts on a cache line

int64_t aligned(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// y <- norm(x + residual) (residual may be null); y may be x or residual.
void norm(const DecoderStepModel& m, const NormParams& p, const float* x, const float* residual, int64_t R,
          float* y) {
  if (p.beta != nullptr) {
    layernorm(x, residual, p.gamma, p.beta, m.eps, R, m.D, y);
  } else {
    rmsnorm(x, residual, p.gamma, m.eps, R, m.D, y);
  }
}

void project(const float* x, int64_t M, int64_t ldx, const LinearParams& p, Activation act, const float* residual,
             float* y, int64_t ldy) {
  linear(x, M, ldx, *p.w, p.bias, act, residual, y, ldy);
}

// Attention of q [R, A] over k and v (slots 0 and 1 of [R, T, 2, H, Dh]) into context [R, A].
void attend(const DecoderStepModel& m, const float* q, const float* kv, int64_t R, int64_t Tcap, int64_t Tk,
            const int32_t* kv_lengths, bool causal, const int32_t* query_offsets, float* context) {
  const int64_t A = m.H * m.Dh;
  AttentionArgs a;
  a.q = q;
  a.k = kv;
  a.v = kv + A;
  a.out = context;
  a.q_strides = a.out_strides = {A, A, m.Dh};
  a.k_strides = a.v_strides = {Tcap * 2 * A, 2 * A, m.Dh};
  a.B = R;
  a.Tq = 1;
  a.Tk = Tk;
  a.H = m.H;
  a.Dh = m.Dh;
  a.kv_lengths = kv_lengths;
  a.causal = causal;
  a.scale = m.attention_scale;
  if (query_offsets != nullptr) {
    a.position_bias = m.position_bias;
    a.bias_positions = m.L;
    a.query_offsets = query_offsets;
  }
  attention(a);
}

// Self-attention of x [R, D]: q into scratch, the new K/V into the cache (see
// decoder_step.h), attention over each row's cache into s.context.
void self_attention(const DecoderStepModel& m, const DecoderLayerParams& p, const DecoderStepArgs& a, float* cache,
                    const float* x, DecoderStepScratch& s) {
  const int64_t A = m.H * m.Dh, R = a.R, row = a.Tcap * 2 * A;
  project(x, R, m.D, p.self_q, Activation::none, nullptr, s.q, A);
  bool one_position = true;
  int64_t Tk = 0;
  for (int64_t r = 0; r < R; ++r) {
    one_position = one_position && a.positions[r] == a.positions[0];
    s.lengths[r] = a.positions[r] + 1;
    Tk = std::max<int64_t>(Tk, s.lengths[r]);
  }
  if (one_position) {
    project(x, R, m.D, p.self_kv, Activation::none, nullptr, cache + a.positions[0] * 2 * A, row);
  } else {
    project(x, R, m.D, p.self_kv, Activation::none, nullptr, s.kv, 2 * A);
    for (int64_t r = 0; r < R; ++r) {
      std::memcpy(cache + r * row + a.positions[r] * 2 * A, s.kv + r * 2 * A, sizeof(float) * 2 * A);
    }
  }
  attend(m, s.q, cache, R, a.Tcap, Tk, s.lengths, true, m.position_bias != nullptr ? a.positions : nullptr,
         s.context);
}

void cross_attention(const DecoderStepModel& m, const DecoderLayerParams& p, const DecoderStepArgs& a,
                     const float* cross, const float* x, DecoderStepScratch& s) {
  project(x, a.R, m.D, p.cross_q, Activation::none, nullptr, s.q, m.H * m.Dh);
  attend(m, s.q, cross, a.R, a.Scap, a.Scap, a.src_lengths, false, nullptr, s.context);
}

// The feed-forward network of x [R, D] up to its hidden activation [R, F]; returns it.
const float* feed_forward_hidden(const DecoderStepModel& m, const DecoderLayerParams& p, int64_t R, const float* x,
                                 DecoderStepScratch& s) {
  if (m.gated) {
    project(x, R, m.D, p.ff1, Activation::none, nullptr, s.ff, 2 * m.F);
    glu(s.ff, R, m.F, m.act, s.hidden);
    return s.hidden;
  }
  project(x, R, m.D, p.ff1, m.act, nullptr, s.ff, m.F);
  return s.ff;
}

void layer(const DecoderStepModel& m, const DecoderLayerParams& p, const DecoderLayerCache& c,
           const DecoderStepArgs& a, DecoderStepScratch& s) {
  const int64_t R = a.R, A = m.H * m.Dh;
  float* y = s.y;
  if (m.norm_first) {
    norm(m, p.norm1, y, nullptr, R, s.h);
    self_attention(m, p, a, c.self, s.h, s);
    project(s.context, R, A, p.self_out, Activation::none, y, y, m.D);
    norm(m, p.norm2, y, nullptr, R, s.h);
    cross_attention(m, p, a, c.cross, s.h, s);
    project(s.context, R, A, p.cross_out, Activation::none, y, y, m.D);
    norm(m, p.norm3, y, nullptr, R, s.h);
    project(feed_forward_hidden(m, p, R, s.h, s), R, m.F, p.ff2, Activation::none, y, y, m.D);
  } else {
    self_attention(m, p, a, c.self, y, s);
    project(s.context, R, A, p.self_out, Activation::none, nullptr, s.h, m.D);
    norm(m, p.norm1, s.h, y, R, y);
    cross_attention(m, p, a, c.cross, y, s);
    project(s.context, R, A, p.cross_out, Activation::none, nullptr, s.h, m.D);
    norm(m, p.norm2, s.h, y, R, y);
    project(feed_forward_hidden(m, p, R, y, s), R, m.F, p.ff2, Activation::none, nullptr, s.h, m.D);
    norm(m, p.norm3, s.h, y, R, y);
  }
}

}  // namespace

DecoderStepScratch::~DecoderStepScratch() { std::free(data_); }

void DecoderStepScratch::release() {
  std::free(data_);
  data_ = nullptr;
  rows_ = 0;
  y = h = q = context = kv = ff = hidden = nullptr;
  lengths = nullptr;
}

bool DecoderStepScratch::reserve(const DecoderStepModel& m, int64_t R) {
  if (R <= rows_) return true;
  const int64_t A = m.H * m.Dh;
  const int64_t ff_floats = R * (m.gated ? 2 * m.F : m.F);
  const int64_t sizes[] = {R * m.D, R * m.D, R * A, R * A, R * 2 * A, ff_floats, m.gated ? R * m.F : 0, R};
  int64_t total = 0;
  for (const int64_t n : sizes) total += aligned(n);
  auto* data = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * total));
  if (data == nullptr) return false;
  std::free(data_);
  data_ = data;
  rows_ = R;
  float* at = data_;
  float** slots[] = {&y, &h, &q, &context, &kv, &ff, &hidden};
  for (int i = 0; i < 7; ++i) {
    *slots[i] = at;
    at += aligned(sizes[i]);
  }
  lengths = reinterpret_cast<int32_t*>(at);
  return true;
}

void decoder_step(const DecoderStepModel& m, const DecoderStepArgs& a, DecoderStepScratch& s) {
  const int64_t R = a.R;
  const bool by_id = a.position_ids != nullptr;
  embedding(a.tokens, R, 1, m.embedding, m.V, m.D, m.embedding_scale, m.positions, 0,
            m.positions != nullptr && !by_id ? a.positions : nullptr, by_id ? a.position_ids : nullptr, s.y);
  if (m.embedding_norm.gamma != nullptr) norm(m, m.embedding_norm, s.y, nullptr, R, s.y);
  for (int64_t l = 0; l < m.n_layers; ++l) layer(m, m.layers[l], a.caches[l], a, s);
  const float* h = s.y;
  if (m.final_norm.gamma != nullptr) {
    norm(m, m.final_norm, s.y, nullptr, R, s.h);
    h = s.h;
  }
  project(h, R, m.D, m.generator, Activation::none, nullptr, a.logits, m.V);
}

}  // namespace aiayn
