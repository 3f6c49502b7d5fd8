// The encoder-decoder Transformer of "Attention Is All You Need", written once
// against `Backend`, so it runs on the native kernels and on the reference.
import { Tensor, checkInt, describe, formatShape } from '../tensor.js';
import type { Backend, DecoderStepPlan, LinearWeights, WeightDType } from '../backend/backend.js';
import { checkDType } from '../backend/validate.js';
import { EmbeddingTable } from '../backend/embedding-table.js';
import { getBackend, type BackendName } from '../runtime.js';
import { readModelDir, safetensorsSource, writeModelDir } from '../io/model-dir.js';
import { CharTokenizer } from '../tokenizer/char.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { GenerationOptions } from '../generate/options.js';
import { resolveConfig, type TransformerConfig } from './config.js';
import { DecodeState } from './decode-state.js';
import { DecoderLayer, EncoderLayer, THIS_PASS } from './layers.js';
import { Norm } from './norm.js';
import { relativePositionTable } from './relative-positions.js';
import {
  POSITIONS_KEY,
  RELATIVE_BIAS_KEYS,
  SIDE_POSITIONS_KEYS,
  checkWeights,
  expectedShapes,
  mapSource,
  randomSource,
  type WeightMap,
  type WeightSource,
} from './weights.js';
import { Workspace } from './workspace.js';

/** Token id sequences, one per batch row, of any lengths: arrays or Int32Arrays. */
export type TokenBatch = ReadonlyArray<ArrayLike<number>>;

export interface TransformerOptions {
  /** 'native' (default), 'reference', or a Backend object. */
  backend?: BackendName | Backend;
  /** Kept with the model; a CharTokenizer is saved as tokenizer.json. */
  tokenizer?: Tokenizer;
  /** The model's generation defaults (a snapshot's generation_config.json), under each call's options. */
  generation?: GenerationOptions;
  /**
   * Run each decoder step in one backend call where the backend offers it
   * (native), instead of op by op; the results are the same. Default true.
   */
  fusedStep?: boolean;
  /**
   * How the linear layers' weights are stored and multiplied (see WeightDType):
   * 'fp32' (default), 'bf16' (half the memory, twice the multiply rate where
   * the CPU has AVX512-BF16) or 'int8' (a quarter of the memory; VNNI where
   * the CPU has it). The token embeddings are held in the same dtype (as
   * EmbeddingTable); norms, biases and position tables stay fp32.
   */
  dtype?: WeightDType;
  /** The output projection's dtype (to the vocabulary), if it should differ from `dtype`, e.g. 'fp32' to keep the logits exact. Default: `dtype`. */
  outputDtype?: WeightDType;
}

/** A padded batch: ids [B, T] with `pad`, and each row's length. */
interface Batch {
  ids: Int32Array;
  B: number;
  T: number;
  lengths: Int32Array;
}

/**
 * One id sequence checked: an array or Int32Array of 1..maxT integer ids in
 * [0, vocab), as a new Int32Array. Errors name `name`.
 */
export function checkIds(name: string, seq: unknown, vocab: number, maxT: number): Int32Array {
  if (!Array.isArray(seq) && !(seq instanceof Int32Array)) {
    throw new TypeError(`${name} must be an array or Int32Array of ids, got ${describe(seq)}`);
  }
  if (seq.length === 0) throw new RangeError(`${name} must not be empty`);
  if (seq.length > maxT) throw new RangeError(`${name} has ${seq.length} tokens, more than config.maxPositions (${maxT})`);
  const ids = new Int32Array(seq.length);
  for (let t = 0; t < seq.length; t++) {
    const id: unknown = seq[t];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new RangeError(`${name}[${t}] must be an integer id in [0, ${vocab - 1}], got ${describe(id)}`);
    }
    ids[t] = id;
  }
  return ids;
}

/** A non-empty array of id sequences, each checked by checkIds (errors name `${name}[b]`), as Int32Arrays. */
export function checkIdBatch(name: string, seqs: unknown, vocab: number, maxT: number): Int32Array[] {
  if (!Array.isArray(seqs)) throw new TypeError(`${name} must be an array of id sequences, got ${describe(seqs)}`);
  if (seqs.length === 0) throw new RangeError(`${name} must hold at least one sequence, got an empty batch`);
  return seqs.map((s: unknown, b) => checkIds(`${name}[${b}]`, s, vocab, maxT));
}

function toBatch(name: string, seqs: unknown, vocab: number, pad: number, maxT: number): Batch {
  const rows = checkIdBatch(name, seqs, vocab, maxT);
  const B = rows.length;
  const lengths = Int32Array.from(rows, (r) => r.length);
  const T = Math.max(...lengths);
  const ids = new Int32Array(B * T).fill(pad); // [B, T]
  rows.forEach((r, b) => ids.set(r, b * T));
  return { ids, B, T, lengths };
}

/**
 * A CharTokenizer reads and writes both sides, so its vocabulary and special
 * ids must be the config's; any other tokenizer's vocabulary must fit one of the model's (Marian's separate vocabularies differ).
 */
function checkTokenizer(tokenizer: unknown, c: TransformerConfig): void {
  const t = tokenizer as Tokenizer;
  if (t === null || typeof t !== 'object' || typeof t.encode !== 'function' || typeof t.decode !== 'function' || typeof t.vocabSize !== 'number') {
    throw new TypeError(`options.tokenizer must be a Tokenizer, got ${describe(tokenizer)}`);
  }
  if (!(tokenizer instanceof CharTokenizer)) {
    if (t.vocabSize > Math.max(c.srcVocab, c.tgtVocab)) {
      throw new Error(`the tokenizer does not fit the model: vocabulary ${t.vocabSize} > config.srcVocab ${c.srcVocab} and config.tgtVocab ${c.tgtVocab}`);
    }
    return;
  }
  const problems: string[] = [];
  if (tokenizer.vocabSize !== c.srcVocab) problems.push(`vocabulary ${tokenizer.vocabSize} != config.srcVocab ${c.srcVocab}`);
  if (tokenizer.vocabSize !== c.tgtVocab) problems.push(`vocabulary ${tokenizer.vocabSize} != config.tgtVocab ${c.tgtVocab}`);
  for (const id of ['padId', 'bosId', 'eosId', 'unkId'] as const) {
    if (tokenizer[id] !== c[id]) problems.push(`${id} ${tokenizer[id]} != config.${id} ${c[id]}`);
  }
  if (problems.length > 0) throw new Error(`the tokenizer does not fit the model: ${problems.join(', ')}`);
}

export class Transformer {
  readonly config: Readonly<TransformerConfig>;
  readonly backend: Backend;
  readonly tokenizer: Tokenizer | undefined;
  /** Generation defaults under each call's options (a snapshot's generation_config.json); empty for aiayn's own models. */
  readonly generation: Readonly<GenerationOptions>;
  /** The linear layers' weight dtype (TransformerOptions.dtype). */
  readonly dtype: WeightDType;
  /** The output projection's weight dtype (TransformerOptions.outputDtype). */
  readonly outputDtype: WeightDType;
  readonly #ws = new Workspace();
  /** [srcVocab, D] and [tgtVocab, D], in fp32 or (with dtype bf16 / int8) in the model's dtype. */
  readonly #srcEmbedding: Tensor | EmbeddingTable;
  readonly #tgtEmbedding: Tensor | EmbeddingTable;
  /** Absolute position tables as given ([P, 1, D] or [P, D], P >= maxPositions), by checkpoint name. */
  readonly #positionTables = new Map<string, Tensor>();
  readonly #srcPositions: Tensor | undefined; // [maxPositions, D]
  readonly #tgtPositions: Tensor | undefined; // [maxPositions, D]
  /** Relative positions: each stack's [buckets, H] weights, by checkpoint name, and the tables attention reads. */
  readonly #relativeWeights = new Map<string, Tensor>();
  readonly #encoderBias: Tensor | undefined; // [H, 2 maxPositions - 1]
  readonly #decoderBias: Tensor | undefined; // [H, 2 maxPositions - 1]
  readonly #srcEmbeddingNorm: Norm | undefined;
  readonly #tgtEmbeddingNorm: Norm | undefined;
  readonly #encoder: EncoderLayer[];
  readonly #decoder: DecoderLayer[];
  readonly #encoderNorm: Norm | undefined;
  readonly #decoderNorm: Norm | undefined;
  readonly #generator: LinearWeights;
  readonly #states = new WeakSet<DecodeState>();
  /** The state generate() reuses (keptState()); its KV buffers can be large, so dispose() releases it. */
  #kept: DecodeState | undefined;
  /** skipPadPositions: the position ids of a decoder step, reused. */
  #stepIds = new Int32Array(0);
  /** Whether steps run fused (the backend offers it and options.fusedStep allows it). */
  readonly #fused: boolean;
  /** The fused decoder step, made at the first step. */
  #plan: DecoderStepPlan | undefined;
  #disposed = false;

  /**
   * Linear weights are packed as they are taken from `weights` and not kept:
   * save() unpacks them. Only embeddings, positions and norm parameters
   * stay as tensors.
   */
  private constructor(config: Readonly<TransformerConfig>, weights: WeightSource, options: TransformerOptions) {
    const c = config;
    this.config = c;
    const backend = options.backend ?? 'native';
    this.backend = typeof backend === 'string' ? getBackend(backend) : backend;
    if (options.tokenizer !== undefined) checkTokenizer(options.tokenizer, c);
    this.tokenizer = options.tokenizer;
    this.generation = Object.freeze({ ...options.generation });
    if (options.fusedStep !== undefined && typeof options.fusedStep !== 'boolean') {
      throw new TypeError(`options.fusedStep must be a boolean, got ${describe(options.fusedStep)}`);
    }
    this.#fused = options.fusedStep !== false && this.backend.decoderStepPlan !== undefined;
    this.dtype = checkDType('options.dtype', options.dtype ?? 'fp32');
    this.outputDtype = checkDType('options.outputDtype', options.outputDtype ?? this.dtype);
    const w = (name: string) => weights.take(name);
    const srcEmbedding = w('src_tok_emb.embedding.weight');
    const tgtEmbedding = c.shareEmbeddings ? srcEmbedding : w('tgt_tok_emb.embedding.weight');
    const table = (name: string) => {
      const t = w(name);
      this.#positionTables.set(name, t);
      return new Tensor(t.data.subarray(0, c.maxPositions * c.dModel), [c.maxPositions, c.dModel]); // the first maxPositions rows
    };
    if (c.positions === 'shared') this.#srcPositions = this.#tgtPositions = table(POSITIONS_KEY);
    if (c.positions === 'separate') {
      this.#srcPositions = table(SIDE_POSITIONS_KEYS.src);
      this.#tgtPositions = table(SIDE_POSITIONS_KEYS.tgt);
    }
    const relative = (stack: 'encoder' | 'decoder') => {
      const t = w(RELATIVE_BIAS_KEYS[stack]);
      this.#relativeWeights.set(RELATIVE_BIAS_KEYS[stack], t);
      const buckets = { buckets: c.relativeBuckets, maxDistance: c.relativeMaxDistance, bidirectional: stack === 'encoder' };
      return relativePositionTable(t, c.maxPositions, buckets);
    };
    if (c.positions === 'relative') {
      this.#encoderBias = relative('encoder');
      this.#decoderBias = relative('decoder');
    }
    const [b, ws] = [this.backend, this.#ws];
    const norm = (on: boolean, name: string) => (on ? new Norm(b, ws, weights, name, c) : undefined);
    this.#srcEmbeddingNorm = norm(c.embeddingNorm, 'transformer.encoder.embed_norm');
    this.#encoder = Array.from({ length: c.encoderLayers }, (_, i) => new EncoderLayer(b, ws, weights, `transformer.encoder.layers.${i}`, c, this.dtype));
    this.#encoderNorm = norm(c.finalNorm, 'transformer.encoder.norm');
    this.#tgtEmbeddingNorm = norm(c.embeddingNorm, 'transformer.decoder.embed_norm');
    this.#decoder = Array.from({ length: c.decoderLayers }, (_, i) => new DecoderLayer(b, ws, weights, `transformer.decoder.layers.${i}`, c, this.dtype));
    this.#decoderNorm = norm(c.finalNorm, 'transformer.decoder.norm');
    const output = c.tieOutput ? tgtEmbedding : weights.takeTransient('generator.weight');
    this.#generator = b.linearPack(
      c.outputScale === 1 ? output : new Tensor(output.data.map((v) => v * c.outputScale), output.shape),
      c.outputBias ? w('generator.bias') : undefined,
      { dtype: this.outputDtype },
    );
    // Tables last: a tied output layer is packed from the fp32 rows (with outputScale 1, the same values as the table's).
    const dtype = this.dtype;
    const pack = (t: Tensor) => (dtype === 'fp32' ? t : EmbeddingTable.pack(t, dtype));
    this.#srcEmbedding = pack(srcEmbedding);
    this.#tgtEmbedding = c.shareEmbeddings ? this.#srcEmbedding : pack(tgtEmbedding);
  }

  /**
   * A model from named weights (PyTorch tutorial names, see README). All
   * missing keys, unexpected keys and shape mismatches are reported in one
   * Error naming `source`.
   */
  static fromWeights(
    config: Partial<TransformerConfig>,
    weights: WeightMap | Record<string, Tensor>,
    options: TransformerOptions & { source?: string } = {},
  ): Transformer {
    const c = resolveConfig(config);
    const map: WeightMap = weights instanceof Map ? weights : new Map(Object.entries(weights));
    for (const [name, t] of map) {
      if (!(t instanceof Tensor)) throw new TypeError(`weights[${JSON.stringify(name)}] must be a Tensor, got ${describe(t)}`);
    }
    const source = mapSource(map);
    checkWeights(source.shapes, c, options.source ?? 'weights');
    return new Transformer(c, source, options);
  }

  /** Random weights from a seed: for tests and benchmarks. */
  static random(config: Partial<TransformerConfig>, options: TransformerOptions & { seed?: number } = {}): Transformer {
    const c = resolveConfig(config);
    return new Transformer(c, randomSource(c, options.seed ?? 0), options);
  }

  /**
   * Loads the state_dict of PyTorch's tutorial Seq2SeqTransformer saved as
   * safetensors (`safetensors.torch.save_file(model.state_dict(), file)`).
   * Tensors are read one at a time and packed, so loading needs about the
   * model's size in memory, not twice it.
   */
  static fromPyTorch(file: string, config: Partial<TransformerConfig>, options: TransformerOptions = {}): Transformer {
    const c = resolveConfig(config);
    return new Transformer(c, safetensorsSource(file, c), options);
  }

  /**
   * Loads a model directory: aiayn's own (config.json, model.safetensors,
   * tokenizer.json) or a Hugging Face snapshot as downloaded (model_type
   * marian, bart, mbart, m2m_100 or t5; its weights, tokenizer and
   * generation_config.json). `options.tokenizer` replaces the directory's.
   */
  static load(dir: string, options: TransformerOptions = {}): Transformer {
    const read = readModelDir(dir);
    return new Transformer(read.config, read.weights, {
      ...options,
      tokenizer: options.tokenizer ?? read.tokenizer,
      generation: options.generation ?? read.generation,
    });
  }

  /**
   * Writes the model in aiayn's format into `dir` (lib/io writeModelDir):
   * config.json, model.safetensors, generation_config.json with its generation
   * defaults, tokenizer.json for a CharTokenizer (a Hugging Face model's
   * tokenizer files are not copied: copy them alongside). Linear weights are
   * unpacked from the backend for the write, so saving briefly needs their
   * fp32 size in memory again.
   */
  save(dir: string): void {
    this.#checkLive();
    writeModelDir(dir, this.config, this.#state(), this.tokenizer, this.generation);
  }

  /** The encoder: source id sequences -> memory [B, S, D] (S = the longest; padded rows masked). */
  encode(src: TokenBatch): Tensor {
    this.#checkLive();
    const c = this.config;
    const batch = toBatch('src', src, c.srcVocab, c.padId, c.maxPositions);
    return this.#encode(batch);
  }

  /**
   * The decoder, teacher-forced: target id sequences (usually starting with
   * BOS) over `memory` [B, S, D] -> logits [B, T, V], causal. `srcLengths`
   * (default: S for every row) masks padded memory positions.
   */
  decode(tgt: TokenBatch, memory: Tensor, srcLengths?: ArrayLike<number>): Tensor {
    this.#checkLive();
    const c = this.config;
    const batch = toBatch('tgt', tgt, c.tgtVocab, c.padId, c.maxPositions);
    const lengths = this.#checkMemory(memory, batch.B, srcLengths);
    const y = this.#embed('tgt', batch.ids, batch.B, batch.T, this.#ws.take('stream.tgt', [batch.B, batch.T, c.dModel]));
    for (const layer of this.#decoder) layer.forward(y, layer.crossKV(memory, lengths), THIS_PASS, batch.lengths, this.#decoderBias);
    return this.#logits(y);
  }

  /** An empty decode state for this model: rows are added by addRows and advanced by step. */
  createState(): DecodeState {
    this.#checkLive();
    const state = new DecodeState(this.config);
    this.#states.add(state);
    return state;
  }

  /**
   * The decode state this model keeps for generate() between calls, without
   * rows: reused, its buffers are written warm (fresh ones page-fault on every
   * first touch). dispose() releases its buffers, even while the model object
   * stays referenced.
   */
  keptState(): DecodeState {
    this.#checkLive();
    this.#kept ??= this.createState();
    if (this.#kept.rows > 0) this.#kept.gather([]); // rows a call that threw left behind
    return this.#kept;
  }

  /**
   * Encodes `src` (one batch) and appends its rows to `state`: `copies[i]`
   * rows (default 1) for source i, e.g. one per beam, each at position 0 with
   * the cross-attention keys and values of its source. Returns the index of
   * the first new row; source i's rows follow those of source i - 1.
   */
  addRows(state: DecodeState, src: TokenBatch, copies?: ArrayLike<number>): number {
    this.#checkLive();
    this.#checkState(state);
    const c = this.config;
    const batch = toBatch('src', src, c.srcVocab, c.padId, c.maxPositions);
    if (copies !== undefined) {
      if (copies === null || typeof copies !== 'object' || copies.length !== batch.B) {
        throw new RangeError(`copies must have ${batch.B} entries (one per source), got ${describe(copies)}`);
      }
      for (let b = 0; b < batch.B; b++) checkInt(`copies[${b}]`, copies[b], 1, 4096);
    }
    const memory = this.#encode(batch, this.#ws.take('stream.src', [batch.B, batch.T, c.dModel]));
    const counts = copies === undefined ? new Int32Array(batch.B).fill(1) : Int32Array.from(copies);
    const first = state.appendRows(batch.lengths, counts);
    this.#decoder.forEach((layer, l) => state.setCross(l, first, layer.crossAttn.projectMemory(memory), counts));
    return first;
  }

  /**
   * One decoder step over every live row of `state`: `tokens[r]` (a target id)
   * is fed at row r's own position, its keys and values join row r's cache,
   * and the positions advance. Returns the logits [rows, tgtVocab]: a view of
   * the model's workspace, overwritten by the next step.
   */
  step(state: DecodeState, tokens: Int32Array): Tensor {
    this.#checkLive();
    this.#checkState(state);
    const c = this.config;
    const R = state.rows;
    if (R === 0) throw new RangeError('state has no rows: add some with addRows first');
    if (!(tokens instanceof Int32Array)) throw new TypeError(`tokens must be an Int32Array, got ${describe(tokens)}`);
    if (tokens.length !== R) throw new RangeError(`tokens must have ${R} entries (one per row), got ${tokens.length}`);
    for (let r = 0; r < R; r++) {
      const id = tokens[r];
      if (id < 0 || id >= c.tgtVocab) throw new RangeError(`tokens[${r}] must be an id in [0, ${c.tgtVocab - 1}], got ${id}`);
    }
    state.prepareStep();
    if (this.#fused) {
      this.#plan ??= this.#createPlan();
      const logits = this.#ws.take('logits', [R, c.tgtVocab]);
      const positionIds = this.#tgtPositions && c.skipPadPositions ? this.#stepPositionIds(tokens, state.positions) : undefined;
      this.#plan.step({
        tokens, positions: state.positions, ...(positionIds && { positionIds }), srcLengths: state.srcLengths,
        ...state.stepBuffers, out: logits,
      });
      state.advance();
      return logits;
    }
    const at = c.skipPadPositions ? { positionIds: this.#stepPositionIds(tokens, state.positions) } : { positionOffsets: state.positions };
    const y = this.backend.embedding(tokens, [R, 1], this.#tgtEmbedding, {
      scale: this.#embeddingScale,
      ...(this.#tgtPositions && { positions: this.#tgtPositions, ...at }),
      out: this.#ws.take('stream.tgt', [R, 1, c.dModel]),
    }); // [R, 1, D]
    this.#tgtEmbeddingNorm?.forward(y, y);
    this.#decoder.forEach((layer, l) => layer.forward(y, state.cross(l), state.self(l), undefined, this.#decoderBias));
    const logits = this.#logits(y, this.#ws.take('logits', [R, 1, c.tgtVocab]));
    state.advance();
    return logits.reshape([R, c.tgtVocab]);
  }

  /** Bytes of activation buffers the model keeps between calls (sized by the largest request so far). */
  get workspaceBytes(): number {
    return this.#ws.bytes;
  }

  /** Frees the native memory of the packed weights, the activation buffers and the kept decode state's; the model cannot be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#ws.clear();
    this.#kept?.release();
    this.#kept = undefined;
    this.#plan?.dispose();
    for (const layer of [...this.#encoder, ...this.#decoder]) layer.dispose();
    this.#generator.dispose();
  }

  #checkLive(): void {
    if (this.#disposed) throw new Error('the model was disposed');
  }

  #checkState(state: unknown): void {
    if (!(state instanceof DecodeState)) throw new TypeError(`state must be a DecodeState, got ${describe(state)}`);
    if (!this.#states.has(state)) throw new Error('state was created by another model (use this model\'s createState())');
  }

  /** Memory [B, S, D] into `out` (a new tensor by default). */
  #encode(batch: Batch, out?: Tensor): Tensor {
    const x = this.#embed('src', batch.ids, batch.B, batch.T, out); // [B, S, D]
    for (const layer of this.#encoder) layer.forward(x, batch.lengths, this.#encoderBias);
    return this.#encoderNorm ? this.#encoderNorm.forward(x, x) : x;
  }

  /** skipPadPositions over a whole pass of ids [B, T]: each row counts its non-pad tokens from 0; a pad token gets none (-1). */
  #passPositionIds(ids: Int32Array, B: number, T: number): Int32Array {
    const pad = this.config.padId;
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let next = 0;
      for (let t = b * T; t < (b + 1) * T; t++) out[t] = ids[t] === pad ? -1 : next++;
    }
    return out;
  }

  /**
   * skipPadPositions in a decoder step: as transformers counts only the step's
   * own token, a row at position p gets p unless its token is pad (none).
   */
  #stepPositionIds(tokens: Int32Array, positions: Int32Array): Int32Array {
    if (this.#stepIds.length < tokens.length) this.#stepIds = new Int32Array(2 * tokens.length);
    const out = this.#stepIds.subarray(0, tokens.length);
    for (let r = 0; r < tokens.length; r++) out[r] = tokens[r] === this.config.padId ? -1 : positions[r];
    return out;
  }

  /** The backend's fused decoder step over this model's weights. */
  #createPlan(): DecoderStepPlan {
    const c = this.config;
    return this.backend.decoderStepPlan!({
      heads: c.heads, headDim: c.headDim, normFirst: c.normFirst, activation: c.activation, gated: c.gatedFeedForward,
      eps: c.layerNormEps, attentionScale: c.scaleAttention ? 1 / Math.sqrt(c.headDim) : 1,
      embedding: this.#tgtEmbedding, embeddingScale: this.#embeddingScale,
      ...(this.#tgtPositions && { positions: this.#tgtPositions }),
      ...(this.#decoderBias && { positionBias: this.#decoderBias }),
      ...(this.#tgtEmbeddingNorm && { embeddingNorm: this.#tgtEmbeddingNorm.params }),
      ...(this.#decoderNorm && { finalNorm: this.#decoderNorm.params }),
      generator: this.#generator,
      layers: this.#decoder.map((layer) => layer.stepParams()),
    });
  }

  get #embeddingScale(): number {
    return this.config.scaleEmbeddings ? Math.sqrt(this.config.dModel) : 1;
  }

  /** One side's token embeddings (x sqrt(D) if so configured), plus absolute positions from 0, normed if so configured: [B, T, D], into `out` or a new tensor. */
  #embed(side: 'src' | 'tgt', ids: Int32Array, B: number, T: number, out?: Tensor): Tensor {
    const [table, positions, norm] = side === 'src'
      ? [this.#srcEmbedding, this.#srcPositions, this.#srcEmbeddingNorm]
      : [this.#tgtEmbedding, this.#tgtPositions, this.#tgtEmbeddingNorm];
    const at = positions && this.config.skipPadPositions ? { positionIds: this.#passPositionIds(ids, B, T) } : {};
    const x = this.backend.embedding(ids, [B, T], table, { scale: this.#embeddingScale, positions, ...at, out });
    return norm ? norm.forward(x, x) : x;
  }

  /** Final decoder norm and output projection: y [B, T, D] -> logits [B, T, V], into `out` or a new tensor. */
  #logits(y: Tensor, out?: Tensor): Tensor {
    const h = this.#decoderNorm ? this.#decoderNorm.forward(y) : y;
    return this.backend.linear(h, this.#generator, { out });
  }

  /** All weights in checkpoint layout and order; linear layers unpacked from the backend. */
  #state(): WeightMap {
    const c = this.config;
    const all: WeightMap = new Map();
    const table = (t: Tensor | EmbeddingTable) => (t instanceof EmbeddingTable ? t.unpack() : t);
    all.set('src_tok_emb.embedding.weight', table(this.#srcEmbedding));
    if (!c.shareEmbeddings) all.set('tgt_tok_emb.embedding.weight', table(this.#tgtEmbedding));
    for (const [name, t] of [...this.#positionTables, ...this.#relativeWeights]) all.set(name, t);
    this.#srcEmbeddingNorm?.state('transformer.encoder.embed_norm', all);
    this.#tgtEmbeddingNorm?.state('transformer.decoder.embed_norm', all);
    this.#encoder.forEach((layer, i) => layer.state(`transformer.encoder.layers.${i}`, all));
    this.#decoder.forEach((layer, i) => layer.state(`transformer.decoder.layers.${i}`, all));
    this.#encoderNorm?.state('transformer.encoder.norm', all);
    this.#decoderNorm?.state('transformer.decoder.norm', all);
    const generator = this.backend.linearUnpack(this.#generator);
    if (!c.tieOutput) all.set('generator.weight', generator.weight);
    if (generator.bias) all.set('generator.bias', generator.bias);
    return new Map([...expectedShapes(c).keys()].map((name) => [name, all.get(name)!]));
  }

  #checkMemory(memory: unknown, B: number, srcLengths: ArrayLike<number> | undefined): Int32Array {
    if (!(memory instanceof Tensor)) throw new TypeError(`memory must be a Tensor, got ${describe(memory)}`);
    const D = this.config.dModel;
    if (memory.rank !== 3 || memory.shape[0] !== B || memory.shape[2] !== D || memory.shape[1] < 1) {
      throw new RangeError(`memory must have shape [${B}, S, ${D}] (B from tgt), got ${formatShape(memory.shape)}`);
    }
    const S = memory.shape[1];
    if (srcLengths === undefined) return new Int32Array(B).fill(S);
    if (srcLengths === null || typeof srcLengths !== 'object' || srcLengths.length !== B) {
      throw new RangeError(`srcLengths must have ${B} entries (one per row), got ${describe(srcLengths)}`);
    }
    return Int32Array.from({ length: B }, (_, b) => checkInt(`srcLengths[${b}]`, srcLengths[b], 1, S));
  }
}
