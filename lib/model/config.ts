// The model's hyper-parameters and special ids, validated once at construction.
// One model, configured per family: the defaults are the paper's (and PyTorch's
// nn.Transformer tutorial's); lib/families maps each Hugging Face family onto
// these fields.
import { describe } from '../tensor.js';

export type FeedForwardActivation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

/**
 * Where positions come from:
 *  - 'shared': one absolute table [P, D] added to the embeddings of both sides
 *    (the paper's sinusoids, Marian's and M2M100's sin/cos halves);
 *  - 'separate': one learned table per side (BART, mBART);
 *  - 'relative': T5's bucketed relative-position bias inside self-attention
 *    (one [buckets, H] table per stack), nothing added to the embeddings.
 */
export type PositionKind = 'shared' | 'separate' | 'relative';

export interface TransformerConfig {
  /** Model width D. */
  dModel: number;
  /** Attention heads H. */
  heads: number;
  /** Width Dh of one head. Default dModel / heads (which must then divide); T5 v1.1 has H·Dh ≠ D. */
  headDim: number;
  /** Feed-forward inner width F. */
  dFF: number;
  encoderLayers: number;
  decoderLayers: number;
  srcVocab: number;
  tgtVocab: number;
  /** The longest source or target sequence (rows of the position tables, T5's table span). */
  maxPositions: number;
  /** Default 'shared'. */
  positions: PositionKind;
  /**
   * Absolute positions count only non-pad tokens, and a pad token gets none
   * (M2M100's and NLLB's position ids). Default false: every token counts.
   */
  skipPadPositions: boolean;
  /** 'relative' only: T5's relative_attention_num_buckets and relative_attention_max_distance. Defaults 32 and 128. */
  relativeBuckets: number;
  relativeMaxDistance: number;
  /** Feed-forward activation. Default 'relu' (the paper); 'gelu_tanh' is Hugging Face's gelu_new, 'silu' its swish. */
  activation: FeedForwardActivation;
  /** act(x W1a) · (x W1b) (T5 v1.1's gated-GELU): linear1 is [2F, D], rows W1a then W1b. Default false. */
  gatedFeedForward: boolean;
  /** Default 'layernorm'; 'rmsnorm' is T5's (no mean, no bias). */
  norm: 'layernorm' | 'rmsnorm';
  /** Norm before each sub-layer (pre-LN) instead of after (post-LN, the paper). Default false. */
  normFirst: boolean;
  /** A norm after each stack, as nn.Transformer has. Default true. */
  finalNorm: boolean;
  /** A norm over the embeddings before the first layer (BART's layernorm_embedding). Default false. */
  embeddingNorm: boolean;
  /** Default 1e-5, as PyTorch. */
  layerNormEps: number;
  /** Embeddings are multiplied by sqrt(D) (the paper). Default true. */
  scaleEmbeddings: boolean;
  /** q·k is multiplied by 1/sqrt(Dh) (the paper). Default true; T5 folds it into its weights. */
  scaleAttention: boolean;
  /** Attention and feed-forward linear layers have biases. Default true; T5 has none. */
  bias: boolean;
  /** The output layer has a bias (Marian's and BART's final_logits_bias). Default true. */
  outputBias: boolean;
  /** Multiplies the decoder output before a tied output layer (T5: dModel^-0.5); needs tieOutput unless 1. Default 1. */
  outputScale: number;
  /** One embedding table for source and target (needs srcVocab === tgtVocab). Default false. */
  shareEmbeddings: boolean;
  /** The output projection reuses the target embedding (no separate weight). Default false. */
  tieOutput: boolean;
  padId: number;
  /** The first decoder input of generation. */
  bosId: number;
  eosId: number;
  /** Kept for tokenizers and tools; the model itself never emits it specially. */
  unkId: number;
}

const DEFAULTS = {
  positions: 'shared',
  skipPadPositions: false,
  relativeBuckets: 32,
  relativeMaxDistance: 128,
  activation: 'relu',
  gatedFeedForward: false,
  norm: 'layernorm',
  normFirst: false,
  finalNorm: true,
  embeddingNorm: false,
  layerNormEps: 1e-5,
  scaleEmbeddings: true,
  scaleAttention: true,
  bias: true,
  outputBias: true,
  outputScale: 1,
  shareEmbeddings: false,
  tieOutput: false,
} as const;

const POSITIVE = ['dModel', 'heads', 'dFF', 'srcVocab', 'tgtVocab', 'maxPositions', 'relativeBuckets', 'relativeMaxDistance'] as const;
const COUNTS = ['encoderLayers', 'decoderLayers'] as const;
const IDS = ['padId', 'bosId', 'eosId', 'unkId'] as const;
const FLAGS = [
  'skipPadPositions', 'gatedFeedForward', 'normFirst', 'finalNorm', 'embeddingNorm', 'scaleEmbeddings', 'scaleAttention', 'bias',
  'outputBias', 'shareEmbeddings', 'tieOutput',
] as const;
const CHOICES: Readonly<Record<string, readonly string[]>> = {
  positions: ['shared', 'separate', 'relative'],
  activation: ['relu', 'gelu', 'gelu_tanh', 'silu'],
  norm: ['layernorm', 'rmsnorm'],
};
const KNOWN = new Set<string>([
  ...POSITIVE, ...COUNTS, ...IDS, ...FLAGS, ...Object.keys(CHOICES), 'headDim', 'layerNormEps', 'outputScale',
]);

/** The most values the relative-position table [heads, 2·maxPositions - 1] may take (64 MiB of float32); real T5 tables take under a million. */
const MAX_RELATIVE_TABLE_VALUES = 2 ** 24;

function fail(field: string, expected: string, value: unknown): never {
  throw new RangeError(`config.${field} must be ${expected}, got ${describe(value)}`);
}

/**
 * Fills defaults and checks every field: RangeError naming the field for a
 * missing, non-integer or out-of-range value, an unknown field, or dModel not
 * divisible by heads when headDim is not given. Returns a frozen copy.
 */
export function resolveConfig(config: Partial<TransformerConfig>): Readonly<TransformerConfig> {
  if (config === null || typeof config !== 'object') {
    throw new TypeError(`config must be an object, got ${describe(config)}`);
  }
  for (const key of Object.keys(config)) {
    if (!KNOWN.has(key)) throw new RangeError(`config has an unknown field ${JSON.stringify(key)}`);
  }
  const c = { ...DEFAULTS, ...config } as Record<string, unknown>;
  const int = (f: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(f, `an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '…' : max}]`, v);
    }
  };
  for (const f of POSITIVE) int(f, 1);
  for (const f of COUNTS) int(f, 0);
  // Special ids are target-side tokens (bos/eos start and end generation); pad and unk index both vocabularies.
  for (const f of IDS) int(f, 0, Math.min(c.srcVocab as number, c.tgtVocab as number) - 1);
  for (const f of FLAGS) if (typeof c[f] !== 'boolean') fail(f, 'a boolean', c[f]);
  for (const [f, choices] of Object.entries(CHOICES)) {
    if (!choices.includes(c[f] as string)) fail(f, choices.map((s) => `'${s}'`).join(', '), c[f]);
  }
  for (const f of ['layerNormEps', 'outputScale']) {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(f, 'a finite number > 0', v);
  }
  if (c.headDim === undefined) {
    if ((c.dModel as number) % (c.heads as number) !== 0) fail('heads', `a divisor of dModel (${c.dModel}) unless headDim is given`, c.heads);
    c.headDim = (c.dModel as number) / (c.heads as number);
  }
  int('headDim', 1);
  if (c.positions === 'relative') {
    // The table is computed at load: maxPositions (T5's n_positions) is checked before it sizes an allocation.
    const most = Math.floor((MAX_RELATIVE_TABLE_VALUES / (c.heads as number) + 1) / 2);
    if ((c.maxPositions as number) > most) {
      fail('maxPositions', `at most ${most} with relative positions (a table of ${c.heads} heads × (2·maxPositions - 1) values, at most ${MAX_RELATIVE_TABLE_VALUES})`, c.maxPositions);
    }
  }
  // Folded into the packed copy of the tied embedding, so that save() never has to unscale a weight.
  if (c.outputScale !== 1 && !c.tieOutput) fail('outputScale', '1 unless tieOutput is true', c.outputScale);
  if (c.shareEmbeddings && c.srcVocab !== c.tgtVocab) {
    fail('shareEmbeddings', `false when srcVocab (${c.srcVocab}) differs from tgtVocab (${c.tgtVocab})`, true);
  }
  return Object.freeze(c as unknown as TransformerConfig);
}
