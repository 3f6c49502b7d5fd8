import type { Tensor } from '../tensor.js';
import type { EmbeddingTable } from './embedding-table.js';

/**
 * Activation fused into a linear layer, or the gate of `glu`:
 * - 'gelu': the exact erf form, 0.5·x·(1 + erf(x/√2)) (PyTorch's default);
 * - 'gelu_tanh': 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hugging Face
 *   gelu_new / gelu_pytorch_tanh);
 * - 'silu': x·sigmoid(x) (HF swish / silu).
 * Non-finite inputs as PyTorch: NaN gives NaN; 'gelu_tanh' and 'silu' give
 * +inf at +inf and NaN at -inf.
 */
export type Activation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

/**
 * How a linear layer's weights are stored and multiplied:
 * - 'fp32': as given;
 * - 'bf16': weights and activations rounded to bfloat16 (nearest even), products
 *   summed in fp32 (AVX512-BF16 `vdpbf16ps` where the CPU has it, widened to
 *   fp32 elsewhere: the same results, half the weight memory);
 * - 'int8': weights quantized per output row, activations per row at each call,
 *   both symmetric over [-127, 127]; exact integer dot products scaled once
 *   (VNNI `vpdpbusd` where the CPU has it): a quarter of the weight memory.
 * The exact arithmetic is in lib/backend/dtypes.ts.
 */
export type WeightDType = 'fp32' | 'bf16' | 'int8';

export interface LinearPackOptions {
  /** Default 'fp32'. 'int8' needs finite weights. */
  dtype?: WeightDType;
}

/**
 * Weights of a linear layer (nn.Linear layout [out, in], plus an optional bias)
 * prepared once for a backend. The native backend packs them into its panel
 * format; call `dispose()` to free that memory before the handle is collected.
 */
export interface LinearWeights {
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly hasBias: boolean;
  readonly dtype: WeightDType;
  readonly disposed: boolean;
  dispose(): void;
}

export interface LinearOptions {
  /** Applied after the bias. Default 'none'. */
  activation?: Activation;
  /** Added after the activation (a fused residual connection); shape [..., outFeatures]. */
  residual?: Tensor;
  /** Destination [..., outFeatures]; a new tensor when absent. Must not share memory with x; may be `residual` itself when the activation is none. */
  out?: Tensor;
}

export interface AttentionOptions {
  /** Query i sees key j only if j <= i + (Tk - Tq). Default false. */
  causal?: boolean;
  /** Per batch row, keys at positions >= kvLengths[b] are masked (padding). Each in [0, Tk]. */
  kvLengths?: Int32Array | readonly number[];
  /** Multiplies q·k. Default 1 / sqrt(Dh). */
  scale?: number;
  /**
   * Layout of k and v: 'bthd' (default) is [B, Tcap, H, Dh], like q; 'bhtd' is
   * [B, H, Tcap, Dh]. Either way they may be a KV cache of which only the first
   * `kvLength` positions are in use.
   */
  kvLayout?: 'bthd' | 'bhtd';
  /** Positions of k and v in use (Tk), from the start. Default: all Tcap. */
  kvLength?: number;
  /**
   * Slots of fused projections, read in place: when q is [B, Tq, S, H, Dh]
   * (e.g. one [Wq; Wk; Wv] linear's output viewed per head, S = 3), `qSlot`
   * picks the queries; when k and v are [B, Tcap, S, H, Dh] (the same tensor
   * or two of that shape, 'bthd' only), `kSlot` and `vSlot` pick the keys and
   * values. Required for such inputs, in [0, S).
   */
  qSlot?: number;
  kSlot?: number;
  vSlot?: number;
  /**
   * Additive relative-position bias (T5), a table [H, 2L - 1] indexed by the
   * distance between key and query: key j sits at position j, query i of batch
   * row b at p = queryOffsets[b] + i (default p = i + (Tk - Tq), the causal
   * alignment), and the score becomes
   * `scale · q_i·k_j + positionBias[h, (j - p) + L - 1]`. Every visible pair
   * must fall inside the table: Tk <= L and each p in [0, L). Entries must be
   * finite (use causal / kvLengths to mask).
   */
  positionBias?: Tensor;
  /**
   * Per batch row (length B), the position of its first query, each >= 0 with
   * queryOffsets[b] + Tq <= L; only with `positionBias`. It moves the bias,
   * not the masks (e.g. a decode step over a cache: Tq = 1, the row's position).
   */
  queryOffsets?: Int32Array | readonly number[];
  /** Destination [B, Tq, H, Dh]; must not share memory with q, k, v or positionBias. */
  out?: Tensor;
}

export interface LayerNormOptions {
  /** Added to x before normalising (fused residual connection); same shape as x. */
  residual?: Tensor;
  /** Default 1e-5, as PyTorch. */
  eps?: number;
  /** Destination, same shape as x; may be x or residual itself. */
  out?: Tensor;
}

export interface RmsNormOptions {
  /** Added to x before normalising (fused residual connection); same shape as x. */
  residual?: Tensor;
  /** Default 1e-6, as T5. */
  eps?: number;
  /** Destination, same shape as x; may be x or residual itself. */
  out?: Tensor;
}

export interface GluOptions {
  /** Destination [..., F]; must not share memory with x. */
  out?: Tensor;
}

export interface RowOptions {
  /** Destination, same shape as x; may be x itself. */
  out?: Tensor;
}

export interface TopKOptions {
  /**
   * Rank and return log_softmax(x) instead of x: the values are exactly those
   * `logSoftmax` gives at the chosen indices (computed in the same call,
   * nothing materialised). Default false.
   */
  logSoftmax?: boolean;
}

export interface EmbeddingOptions {
  /** Multiplies the looked-up rows; the paper uses sqrt(D). Default 1. */
  scale?: number;
  /** Added after scaling: row `positionOffset + t` for time step t. Shape [P, D]. */
  positions?: Tensor;
  /** First position used from `positions`, the same for every batch row. Default 0. */
  positionOffset?: number;
  /**
   * First position used from `positions`, per batch row (length B): row b uses
   * positions `positionOffsets[b] + t`, each offset >= 0 with offset + T <= P.
   * For continuous batching, where the rows of one decoder step are at
   * different positions. Not together with `positionOffset`.
   */
  positionOffsets?: Int32Array | readonly number[];
  /**
   * Position row per token (length B·T, row-major like `ids`): token i gets
   * `table[ids[i]] * scale + positions[positionIds[i]]`, each id < P; a negative
   * id (-1) means no position (just `table[ids[i]] * scale`). For M2M100/NLLB,
   * which number positions over non-pad tokens (a pad token gets none, and the
   * tokens after it count one less). Needs `positions`; not together with
   * `positionOffset` or `positionOffsets`. Used as given (no copy).
   */
  positionIds?: Int32Array;
  /** Destination [B, T, D]. */
  out?: Tensor;
}

/** A norm's parameters: LayerNorm (gamma and beta, [D] each) or RMSNorm (gamma only). */
export interface NormParams {
  gamma: Tensor;
  beta?: Tensor;
}

/** One decoder layer's weights for a fused step (A = H·Dh). */
export interface DecoderLayerParams {
  selfQ: LinearWeights; // [A, D]
  selfKV: LinearWeights; // [2A, D]: [Wk; Wv]
  selfOut: LinearWeights; // [D, A]
  crossQ: LinearWeights; // [A, D]
  crossOut: LinearWeights; // [D, A]
  ff1: LinearWeights; // [F, D], gated [2F, D]
  ff2: LinearWeights; // [D, F]
  norm1: NormParams;
  norm2: NormParams;
  norm3: NormParams;
}

/**
 * A decoder step as lib/model/transformer.ts step() composes it from the ops:
 * embedding (x embeddingScale, + positions), embeddingNorm, the layers
 * (pre-LN when normFirst, else post-LN; causal self-attention over each row's
 * cache with positionBias, cross-attention over its source), finalNorm, and
 * the generator. Every tensor is referenced, not copied, by the plan.
 */
export interface DecoderStepSpec {
  heads: number;
  headDim: number;
  normFirst: boolean;
  /** The feed-forward activation; gated: ff1 gives [x W1a, x W1b] and the hidden layer is glu(·, activation). */
  activation: Activation;
  gated: boolean;
  /** Of every norm. */
  eps: number;
  /** Multiplies q·k in both attentions. */
  attentionScale: number;
  embedding: Tensor | EmbeddingTable; // [V, D]
  embeddingScale: number;
  positions?: Tensor; // [P, D]
  positionBias?: Tensor; // [H, 2L - 1], self-attention's
  embeddingNorm?: NormParams;
  finalNorm?: NormParams;
  generator: LinearWeights; // [V, D]
  layers: readonly DecoderLayerParams[];
}

/** One step's rows (R of them) and the decode state's buffers. */
export interface DecoderStepInputs {
  tokens: Int32Array; // [R], each in [0, V)
  /** Each row's cache length before the step: its new keys and values go there. */
  positions: Int32Array; // [R]
  /** The position row each token's embedding adds (negative: none); default `positions`. Needs spec.positions. */
  positionIds?: Int32Array; // [R]
  srcLengths: Int32Array; // [R], each in [0, Scap]
  self: readonly Float32Array[]; // per layer [Bcap, Tcap, 2, H, Dh] (Bcap >= R), written at each row's position
  cross: readonly Float32Array[]; // per layer [Bcap, Scap, 2, H, Dh]
  Tcap: number;
  Scap: number;
  out: Tensor; // [R, V]: the logits
}

/** A fused decoder step prepared once for a model's weights. */
export interface DecoderStepPlan {
  readonly disposed: boolean;
  /** Runs the step: writes each row's new keys and values into `self` and the logits into `out` (returned). */
  step(inputs: DecoderStepInputs): Tensor;
  dispose(): void;
}

/**
 * The seam between the model and the math. Every op has the same name here,
 * in native/kernels/ and in reference.ts. Tensors are float32, row-major and
 * contiguous; errors are TypeError (wrong type) or RangeError (bad shape,
 * value or id), naming the argument with the expected and actual values.
 */
export interface Backend {
  readonly name: 'native' | 'reference';

  /**
   * Prepares weight [N, K] (nn.Linear layout) and optional bias [N] (kept in
   * fp32 whatever the dtype). The inputs can be dropped afterwards.
   */
  linearPack(weight: Tensor, bias?: Tensor, options?: LinearPackOptions): LinearWeights;

  /**
   * The weights prepared by `linearPack`, back in nn.Linear layout: new tensors
   * equal to the ones packed (for 'bf16' and 'int8', the values the layer
   * multiplies with: rounded, or q · scale). Lets a model drop its own copy and still save.
   */
  linearUnpack(weights: LinearWeights): { weight: Tensor; bias?: Tensor };

  /** y = activation(x W^T + b) + residual over the last dimension of x: [..., K] -> [..., N]. */
  linear(x: Tensor, weights: LinearWeights, options?: LinearOptions): Tensor;

  /** Fused multi-head scaled-dot-product attention. q: [B, Tq, H, Dh] -> [B, Tq, H, Dh]. */
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor;

  /** LayerNorm over the last dimension (optionally of x + residual). gamma, beta: [D]. */
  layernorm(x: Tensor, gamma: Tensor, beta: Tensor, options?: LayerNormOptions): Tensor;

  /**
   * T5's LayerNorm (RMSNorm) over the last dimension (optionally of x + residual):
   * y = z / sqrt(mean(z²) + eps) · gamma, z = x (+ residual); no mean subtraction,
   * no bias. gamma: [D].
   */
  rmsnorm(x: Tensor, gamma: Tensor, options?: RmsNormOptions): Tensor;

  /**
   * Gated activation over the last dimension: x [..., 2F] -> y [..., F],
   * y = activation(x[..., :F]) · x[..., F:] (T5 v1.1's gated-GELU feed-forward
   * after one linear over [wi_0; wi_1]). Any Activation, 'none' included.
   */
  glu(x: Tensor, activation: Activation, options?: GluOptions): Tensor;

  /** Softmax over the last dimension. A row of only -inf gives zeros. */
  softmax(x: Tensor, options?: RowOptions): Tensor;

  /** Log-softmax over the last dimension. A row of only -inf gives -inf. */
  logSoftmax(x: Tensor, options?: RowOptions): Tensor;

  /** Index of the maximum over the last dimension (first on ties; NaN wins, as torch.argmax). */
  argmax(x: Tensor): Int32Array;

  /**
   * The k largest entries over the last dimension of x (viewed as [R, V]) and
   * their indices: values and indices [R * k], row-major, each row best first.
   * Ties go to the lower index; NaN ranks above every number (as argmax); -0
   * equals +0. The result is unique, so the same on every ISA and backend.
   * k in [1, V]. With `logSoftmax`, of log_softmax(x) (see TopKOptions).
   */
  topK(x: Tensor, k: number, options?: TopKOptions): { values: Float32Array; indices: Int32Array };

  /**
   * ids [B, T] (each in [0, V)) -> table[ids] * scale + positions[offset(b) + t]: [B, T, D]
   * (or + positions[positionIds[b, t]], none where that id is negative).
   * `table` [V, D] in fp32, or in bf16 / int8 (EmbeddingTable).
   */
  embedding(ids: Int32Array, shape: readonly [number, number], table: Tensor | EmbeddingTable, options?: EmbeddingOptions): Tensor;

  /**
   * Optional: a whole decoder step in one call, over weights this backend
   * packed. The model uses it when present and composes the ops above
   * otherwise; the results are those of that composition.
   */
  decoderStepPlan?(spec: DecoderStepSpec): DecoderStepPlan;
}
