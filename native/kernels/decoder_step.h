// One decoder step of an encoder-decoder Transformer over a batch of rows,
// composed from the public kernels (embedding, layernorm/rmsnorm, linear,
// attention, glu) in the order lib/model/transformer.ts step() runs them, so
// that its results are those of the op-by-op composition, bit for bit:
//
//   y = embedding(tokens) * scale + positions       [R, D]; then the embedding norm
//   per layer, pre-LN:  y += SelfAttn(norm1(y)); y += CrossAttn(norm2(y)); y += FF(norm3(y))
//              post-LN: y = norm1(y + SelfAttn(y)); y = norm2(y + CrossAttn(y)); y = norm3(y + FF(y))
//   logits = finalNorm(y) W_out^T + b_out           [R, V]
//
// Self-attention keys and values are projected by one GEMM over [Wk; Wv]
// straight into the cache [Bcap, Tcap, 2, H, Dh] when every row is at the same
// position (one row stride apart); rows at different positions (continuous
// batching) are projected into scratch and each row's K/V copied into place
// once (one GEMM per row would stream the weights once per row).
#pragma once

#include <cstdint>

#include "activation.h"
#include "gemm.h"
#include "ops.h"

namespace aiayn {

struct LinearParams {
  const PackedWeights* w = nullptr;
  const float* bias = nullptr;  // [N] or null
};

// LayerNorm (gamma, beta) or RMSNorm (gamma, beta null); absent when gamma is null.
struct NormParams {
  const float* gamma = nullptr;  // [D]
  const float* beta = nullptr;   // [D] or null
};

struct DecoderLayerParams {
  LinearParams self_q;    // [A, D]
  LinearParams self_kv;   // [2A, D]: [Wk; Wv]
  LinearParams self_out;  // [D, A]
  LinearParams cross_q;   // [A, D]
  LinearParams cross_out; // [D, A]
  LinearParams ff1;       // [F, D], gated [2F, D]
  LinearParams ff2;       // [D, F]
  NormParams norm1, norm2, norm3;
};

struct DecoderStepModel {
  int64_t D = 0, H = 0, Dh = 0, F = 0, V = 0;
  bool norm_first = false;
  bool gated = false;  // ff1 gives [x W1a, x W1b], hidden = glu(., act)
  Activation act = Activation::relu;
  float eps = 1e-5f;
  float attention_scale = 1.0f;
  EmbeddingTable embedding;  // [V, D], any dtype
  float embedding_scale = 1.0f;
  const float* positions = nullptr;  // [P, D] or null
  int64_t P = 0;
  const float* position_bias = nullptr;  // [H, 2L - 1] or null (self-attention's)
  int64_t L = 0;
  NormParams embedding_norm, final_norm;
  LinearParams generator;  // [V, D]
  const DecoderLayerParams* layers = nullptr;
  int64_t n_layers = 0;
};

struct DecoderLayerCache {
  float* self = nullptr;         // [Bcap, Tcap, 2, H, Dh]
  const float* cross = nullptr;  // [Bcap, Scap, 2, H, Dh]
};

// The caller checks every bound: tokens in [0, V); positions[r] + 1 <= Tcap
// (and < L with a position bias); position_ids[r] < P, or positions[r] + 1 <= P
// without position_ids when the model has positions; src_lengths in [0, Scap].
struct DecoderStepArgs {
  int64_t R = 0;
  const int32_t* tokens = nullptr;        // [R]
  const int32_t* positions = nullptr;     // [R]: each row's cache length before the step
  const int32_t* position_ids = nullptr;  // [R] embedding position rows (negative: none), or null: positions
  const int32_t* src_lengths = nullptr;   // [R]
  int64_t Tcap = 0, Scap = 0;
  const DecoderLayerCache* caches = nullptr;  // [n_layers]
  float* logits = nullptr;                    // [R, V]
};

// Activation buffers of a step, grown to the largest R seen and reused.
class DecoderStepScratch {
 public:
  DecoderStepScratch() = default;
  DecoderStepScratch(const DecoderStepScratch&) = delete;
  DecoderStepScratch& operator=(const DecoderStepScratch&) = delete;
  ~DecoderStepScratch();

  // False when memory cannot be allocated.
  bool reserve(const DecoderStepModel& m, int64_t R);
  // Frees the buffers (reserve() allocates them again).
  void release();

  float* y = nullptr;       // [R, D] residual stream
  float* h = nullptr;       // [R, D] norm output / post-LN sub-layer output
  float* q = nullptr;       // [R, A]
  float* context = nullptr; // [R, A]
  float* kv = nullptr;      // [R, 2A] self K/V of rows at different positions
  float* ff = nullptr;      // [R, F], gated [R, 2F]
  float* hidden = nullptr;  // [R, F] (gated)
  int32_t* lengths = nullptr;  // [R]

 private:
  float* data_ = nullptr;
  int64_t rows_ = 0;
};

void decoder_step(const DecoderStepModel& m, const DecoderStepArgs& a, DecoderStepScratch& s);

}  // namespace aiayn
