// The model's hyper-parameters and special ids, validated once at construction.
import { describe } from '../tensor.js';

export interface TransformerConfig {
  /** Model width D. */
  dModel: number;
  /** Attention heads H; dModel must be divisible by it (Dh = dModel / heads). */
  heads: number;
  /** Feed-forward inner width F. */
  dFF: number;
  encoderLayers: number;
  decoderLayers: number;
  srcVocab: number;
  tgtVocab: number;
  /** Rows of the position table: the longest source or target sequence. */
  maxPositions: number;
  /** Feed-forward activation. Default 'relu' (the paper). */
  activation: 'relu' | 'gelu';
  /** LayerNorm before each sub-layer (pre-LN) instead of after (post-LN, the paper). Default false. */
  normFirst: boolean;
  /** A LayerNorm after each stack, as nn.Transformer has. Default true. */
  finalNorm: boolean;
  /** Default 1e-5, as PyTorch. */
  layerNormEps: number;
  /** One embedding table for source and target (needs srcVocab === tgtVocab). Default false. */
  shareEmbeddings: boolean;
  /** The output projection reuses the target embedding (no separate weight; a bias is kept). Default false. */
  tieOutput: boolean;
  padId: number;
  bosId: number;
  eosId: number;
  unkId: number;
}

const DEFAULTS = {
  activation: 'relu',
  normFirst: false,
  finalNorm: true,
  layerNormEps: 1e-5,
  shareEmbeddings: false,
  tieOutput: false,
} as const;

const POSITIVE = ['dModel', 'heads', 'dFF', 'srcVocab', 'tgtVocab', 'maxPositions'] as const;
const COUNTS = ['encoderLayers', 'decoderLayers'] as const;
const IDS = ['padId', 'bosId', 'eosId', 'unkId'] as const;
const FLAGS = ['normFirst', 'finalNorm', 'shareEmbeddings', 'tieOutput'] as const;
const KNOWN = new Set<string>([...POSITIVE, ...COUNTS, ...IDS, ...FLAGS, 'activation', 'layerNormEps']);

function fail(field: string, expected: string, value: unknown): never {
  throw new RangeError(`config.${field} must be ${expected}, got ${describe(value)}`);
}

/**
 * Fills defaults and checks every field: RangeError naming the field for a
 * missing, non-integer or out-of-range value, an unknown field, or dModel not
 * divisible by heads. Returns a frozen copy.
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
  if (c.activation !== 'relu' && c.activation !== 'gelu') fail('activation', "'relu' or 'gelu'", c.activation);
  const eps = c.layerNormEps;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) fail('layerNormEps', 'a finite number > 0', eps);
  if ((c.dModel as number) % (c.heads as number) !== 0) {
    fail('heads', `a divisor of dModel (${c.dModel})`, c.heads);
  }
  if (c.shareEmbeddings && c.srcVocab !== c.tgtVocab) {
    fail('shareEmbeddings', `false when srcVocab (${c.srcVocab}) differs from tgtVocab (${c.tgtVocab})`, true);
  }
  return Object.freeze(c as unknown as TransformerConfig);
}
