// The model's weights by name. The names are those of PyTorch's tutorial model
// (Seq2SeqTransformer in "Language Translation with nn.Transformer and
// torchtext"), so its state_dict loads as is and our own files use the same
// names. A checkpoint is checked as a whole: every missing key, unexpected key
// and wrong shape is reported in one Error.
import { Tensor, formatShape, type Shape } from '../tensor.js';
import type { TransformerConfig } from './config.js';
import { sinusoidalPositions } from '../positions.js';
import { rng } from '../random.js';

export type WeightMap = Map<string, Tensor>;

/**
 * Where a model's weights come from while it is built: every shape up front
 * (checked as a whole), then each tensor taken once, in any order. A source may
 * read or generate a tensor only when it is taken, so a model never holds the
 * unpacked copy of all its weights at once.
 */
export interface WeightSource {
  readonly shapes: ReadonlyMap<string, Shape>;
  /** A tensor to keep. */
  take(name: string): Tensor;
  /**
   * A tensor to pack at once: valid only until the next takeTransient, as it
   * may share one scratch buffer with the others (no garbage per weight).
   */
  takeTransient(name: string): Tensor;
}

export function mapSource(weights: WeightMap): WeightSource {
  const take = (name: string) => weights.get(name)!;
  return { shapes: new Map([...weights].map(([name, t]) => [name, t.shape])), take, takeTransient: take };
}

/**
 * A source over `read(name, scratch?)`, which returns a tensor of its own
 * without scratch, or one over the scratch buffer's first bytes. The scratch
 * grows to the largest transient weight, so loading a model peaks at its
 * packed size plus about one weight matrix.
 */
export function scratchSource(
  shapes: ReadonlyMap<string, Shape>,
  read: (name: string, scratch?: ArrayBuffer) => Tensor,
): WeightSource {
  let scratch: ArrayBuffer | undefined;
  return {
    shapes,
    take: (name) => read(name),
    takeTransient: (name) => {
      const bytes = 4 * (shapes.get(name) ?? []).reduce((a, d) => a * d, 1);
      if (scratch === undefined || scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
      return read(name, scratch);
    },
  };
}

function linearShapes(prefix: string, outF: number, inF: number, bias: boolean, out: Map<string, Shape>): void {
  out.set(`${prefix}.weight`, [outF, inF]);
  if (bias) out.set(`${prefix}.bias`, [outF]);
}

/** Attention of width H·Dh: Wq, Wk, Wv fused as in_proj [3·H·Dh, D] (nn.MultiheadAttention's names), out_proj [D, H·Dh]. */
function attentionShapes(prefix: string, c: TransformerConfig, out: Map<string, Shape>): void {
  const A = c.heads * c.headDim;
  out.set(`${prefix}.in_proj_weight`, [3 * A, c.dModel]); // rows: Wq, Wk, Wv
  if (c.bias) out.set(`${prefix}.in_proj_bias`, [3 * A]);
  linearShapes(`${prefix}.out_proj`, c.dModel, A, c.bias, out);
}

function normShapes(prefix: string, c: TransformerConfig, out: Map<string, Shape>): void {
  out.set(`${prefix}.weight`, [c.dModel]);
  if (c.norm === 'layernorm') out.set(`${prefix}.bias`, [c.dModel]);
}

/** The shared absolute position table (the tutorial's name). */
export const POSITIONS_KEY = 'positional_encoding.pos_embedding';
/** Per-side learned position tables ('separate'). */
export const SIDE_POSITIONS_KEYS = {
  src: 'positional_encoding.src_pos_embedding',
  tgt: 'positional_encoding.tgt_pos_embedding',
} as const;
/** Per-stack relative-position bias tables [buckets, H] ('relative'). */
export const RELATIVE_BIAS_KEYS = {
  encoder: 'transformer.encoder.relative_attention_bias.weight',
  decoder: 'transformer.decoder.relative_attention_bias.weight',
} as const;
const TABLE_KEYS = new Set<string>([POSITIONS_KEY, SIDE_POSITIONS_KEYS.src, SIDE_POSITIONS_KEYS.tgt]);

/** Every weight the config needs, with its shape, in checkpoint order. */
export function expectedShapes(c: TransformerConfig): Map<string, Shape> {
  const D = c.dModel;
  const F = c.dFF;
  const s = new Map<string, Shape>();
  s.set('src_tok_emb.embedding.weight', [c.srcVocab, D]);
  if (!c.shareEmbeddings) s.set('tgt_tok_emb.embedding.weight', [c.tgtVocab, D]);
  if (c.positions === 'shared') s.set(POSITIONS_KEY, [c.maxPositions, 1, D]);
  if (c.positions === 'separate') {
    s.set(SIDE_POSITIONS_KEYS.src, [c.maxPositions, D]);
    s.set(SIDE_POSITIONS_KEYS.tgt, [c.maxPositions, D]);
  }
  const feedForward = (p: string) => {
    linearShapes(`${p}.linear1`, c.gatedFeedForward ? 2 * F : F, D, c.bias, s);
    linearShapes(`${p}.linear2`, D, F, c.bias, s);
  };
  const stack = (name: 'encoder' | 'decoder', layers: number, norms: number) => {
    if (c.positions === 'relative') s.set(RELATIVE_BIAS_KEYS[name], [c.relativeBuckets, c.heads]);
    if (c.embeddingNorm) normShapes(`transformer.${name}.embed_norm`, c, s);
    for (let i = 0; i < layers; i++) {
      const p = `transformer.${name}.layers.${i}`;
      attentionShapes(`${p}.self_attn`, c, s);
      if (name === 'decoder') attentionShapes(`${p}.multihead_attn`, c, s);
      feedForward(p);
      for (let n = 1; n <= norms; n++) normShapes(`${p}.norm${n}`, c, s);
    }
    if (c.finalNorm) normShapes(`transformer.${name}.norm`, c, s);
  };
  stack('encoder', c.encoderLayers, 2);
  stack('decoder', c.decoderLayers, 3);
  if (!c.tieOutput) s.set('generator.weight', [c.tgtVocab, D]);
  if (c.outputBias) s.set('generator.bias', [c.tgtVocab]);
  return s;
}

/** The first `max` of `items` joined, then how many more: a hostile config can make the lists of a mismatch millions long. */
export function listed(items: readonly string[], separator = ', ', max = 20): string {
  return items.length <= max ? items.join(separator) : `${items.slice(0, max).join(separator)}${separator}… (${items.length - max} more)`;
}

/**
 * Each layer has weights of its own, so a config with more layers than the
 * weights have tensors cannot match them: checked before anything is built
 * per layer (a config.json may ask for billions).
 */
export function checkLayerCount(c: Pick<TransformerConfig, 'encoderLayers' | 'decoderLayers'>, tensors: number, file: string, weights: string): void {
  if (c.encoderLayers + c.decoderLayers > tensors) {
    throw new Error(`${file}: ${c.encoderLayers} encoder and ${c.decoderLayers} decoder layers cannot match the ${tensors} tensors of ${weights}`);
  }
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks `weights` against the config; throws one Error naming `source` and
 * listing all missing keys, unexpected keys and shape mismatches. Position
 * tables may have more rows than maxPositions (the tutorial keeps 5000) and may
 * be [P, D] as well as [P, 1, D]; their first maxPositions rows are used.
 */
export function checkWeights(shapes: ReadonlyMap<string, Shape>, c: TransformerConfig, source: string): void {
  checkLayerCount(c, shapes.size, source, 'the weights');
  const expected = expectedShapes(c);
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [name, shape] of expected) {
    const got = shapes.get(name);
    if (got === undefined) {
      missing.push(name);
    } else if (TABLE_KEYS.has(name)) {
      const [P, mid, D] = got.length === 2 ? [got[0], 1, got[1]] : got;
      if (got.length < 2 || got.length > 3 || mid !== 1 || D !== c.dModel || P < c.maxPositions) {
        mismatched.push(`${name}: expected [>=${c.maxPositions}, 1, ${c.dModel}], got ${formatShape(got)}`);
      }
    } else if (!sameShape(got, shape)) {
      mismatched.push(`${name}: expected ${formatShape(shape)}, got ${formatShape(got)}`);
    }
  }
  const unexpected = [...shapes.keys()].filter((k) => !expected.has(k));
  if (missing.length + unexpected.length + mismatched.length === 0) return;
  const parts = [
    missing.length ? `missing keys (${missing.length}): ${listed(missing)}` : '',
    unexpected.length ? `unexpected keys (${unexpected.length}): ${listed(unexpected)}` : '',
    mismatched.length ? `shape mismatches (${mismatched.length}): ${listed(mismatched, '; ')}` : '',
  ].filter(Boolean);
  throw new Error(`${source}: weights do not match the config: ${parts.join('. ')}`);
}

/** FNV-1a of the name mixed with the seed: each tensor's own stream, whatever the order of takes. */
function tensorSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** One random tensor of `randomSource`, in its own memory or over `scratch`. */
function randomTensor(c: TransformerConfig, seed: number, name: string, shape: Shape, scratch?: ArrayBuffer): Tensor {
  if (TABLE_KEYS.has(name)) return sinusoidalPositions(c.maxPositions, c.dModel).reshape(shape);
  const next = rng(tensorSeed(seed, name));
  const size = shape.reduce((a, d) => a * d, 1);
  const t = new Tensor(scratch ? new Float32Array(scratch, 0, size) : new Float32Array(size), shape);
  const uniform = (a: number) => {
    for (let i = 0; i < t.size; i++) t.data[i] = (next() * 2 - 1) * a;
  };
  if (name.includes('norm') && name.endsWith('.weight')) {
    uniform(0.1);
    for (let i = 0; i < t.size; i++) t.data[i] += 1;
  } else if (shape.length === 1) {
    uniform(0.1);
  } else if (name.includes('emb')) {
    uniform(1);
  } else {
    uniform(Math.sqrt(6 / (shape[0] + shape[1])));
  }
  return t;
}

/**
 * Random weights for a config, generated as they are taken: Xavier-uniform
 * matrices, small random biases and norm parameters near (1, 0),
 * sinusoidal absolute positions. Each tensor depends only on (seed, name). For tests and benchmarks.
 */
export function randomSource(c: TransformerConfig, seed = 0): WeightSource {
  const shapes = expectedShapes(c);
  return scratchSource(shapes, (name, scratch) => randomTensor(c, seed, name, shapes.get(name)!, scratch));
}

/** All of `randomSource`'s tensors at once. */
export function randomWeights(c: TransformerConfig, seed = 0): WeightMap {
  const source = randomSource(c, seed);
  return new Map([...source.shapes.keys()].map((name) => [name, source.take(name)]));
}
