// The decoder's state for a batch of rows that come and go: per decoder layer,
// a self-attention KV cache and the cross-attention keys/values of each row's
// source. Row r is slot r of every buffer; the live rows are always the first
// `rows` slots, so kernels see one dense batch. Each row has its own position
// (tokens fed so far = its cache length) and source length. Rows are added by
// Transformer.addRows, advanced by Transformer.step, and reordered, copied or
// dropped by `gather` (beam search, finished or cancelled requests).
import { Tensor, checkInt, describe } from '../tensor.js';
import type { TransformerConfig } from './config.js';
import type { SelfAttentionKV, SelfKV } from './layers.js';

/**
 * Bytes of a decode state's buffers for `rows` rows of `positions` target and
 * `srcPositions` source positions: per decoder layer, self-attention K and V
 * and cross-attention K and V, H·Dh floats of 4 bytes each per position.
 */
export function decodeStateBytes(config: Readonly<TransformerConfig>, rows: number, positions: number, srcPositions: number): number {
  return 4 * config.decoderLayers * rows * (2 * positions + 2 * srcPositions) * config.heads * config.headDim;
}

/** The buffers of one decoder layer. */
interface LayerState {
  self: Float32Array; // [Bcap, Tcap, 2, H, Dh]: keys (slot 0) and values (slot 1) of each position
  cross: Float32Array; // [Bcap, Scap, 2, H, Dh]
}

/** What a fused decoder step reads and writes (Backend.decoderStepPlan): each layer's buffers and their capacities. */
export interface StepBuffers {
  self: readonly Float32Array[]; // per layer [Bcap, Tcap, 2, H, Dh]
  cross: readonly Float32Array[]; // per layer [Bcap, Scap, 2, H, Dh]
  Tcap: number;
  Scap: number;
}

export class DecodeState {
  readonly #config: Readonly<TransformerConfig>;
  readonly #D: number;
  readonly #H: number;
  readonly #maxPositions: number;
  readonly #layers: LayerState[];
  #rows = 0;
  #Bcap = 0;
  #Tcap = 0;
  #Scap = 0;
  /** Per slot: tokens fed so far (the self-attention cache length). */
  #positions = new Int32Array(0);
  /** Per slot: valid positions of its cross keys/values. */
  #srcLengths = new Int32Array(0);
  /** Per slot: rows with the same group hold the same cross keys/values (copies of one source). */
  #groups = new Int32Array(0);
  #nextGroup = 0;
  #scratch = new Float32Array(0);
  /** Per-row cache lengths after a step's append (attention reads a view of it). */
  #lengthsBuffer = new Int32Array(0);
  #stepBuffers: StepBuffers = { self: [], cross: [], Tcap: 0, Scap: 0 };

  constructor(config: Readonly<TransformerConfig>) {
    this.#config = config;
    this.#D = config.heads * config.headDim; // the width of one cached position: H·Dh
    this.#H = config.heads;
    this.#maxPositions = config.maxPositions;
    this.#layers = Array.from({ length: config.decoderLayers }, () => ({
      self: new Float32Array(0),
      cross: new Float32Array(0),
    }));
  }

  /** Live rows: slots [0, rows). */
  get rows(): number {
    return this.#rows;
  }

  /** Position (tokens fed so far) of row `r`. */
  position(r: number): number {
    return this.#positions[this.#checkRow('r', r)];
  }

  /** Source length of row `r`. */
  srcLength(r: number): number {
    return this.#srcLengths[this.#checkRow('r', r)];
  }

  /** Bytes of the buffers held. */
  get bytes(): number {
    return this.#layers.reduce((n, l) => n + l.self.byteLength + l.cross.byteLength, 0);
  }

  /** Bytes the buffers would hold after reserve(rows, positions, srcPositions): growth doubles, so it may be more than asked. */
  bytesAfterReserve(rows: number, positions: number, srcPositions = 0): number {
    return decodeStateBytes(this.#config, ...this.#capacities(rows, positions, srcPositions));
  }

  /**
   * Keeps the rows `indices` in that order: new row i is old row indices[i].
   * An index may repeat (a beam forking) or be left out (a finished or
   * cancelled row); only the valid prefix of each cache is copied, and the
   * cross keys/values only between rows of different sources.
   */
  gather(indices: ArrayLike<number>): void {
    if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
      throw new TypeError(`indices must be an array of row indices, got ${describe(indices)}`);
    }
    const n = indices.length;
    const src = new Int32Array(n);
    for (let i = 0; i < n; i++) src[i] = this.#checkRow(`indices[${i}]`, indices[i]);
    this.#reserve(n, 0, 0);
    const positions = this.#positions.slice(0, this.#rows);
    const srcLengths = this.#srcLengths.slice(0, this.#rows);
    const groups = this.#groups.slice(0, this.#rows);
    // Cross keys/values move only between rows of different sources (beams of one source share them).
    const copyCross = (s: number, d: number) => d >= this.#rows || groups[s] !== groups[d];
    // A moved row whose old contents another destination still reads is saved first.
    const moved = new Uint8Array(this.#rows);
    for (let d = 0; d < Math.min(n, this.#rows); d++) if (src[d] !== d) moved[d] = 1;
    const saved = new Map<number, { at: number; cross: boolean }>(); // old row -> where in the scratch
    for (let d = 0; d < n; d++) {
      const s = src[d];
      if (s === d || !moved[s]) continue;
      const entry = saved.get(s) ?? { at: 0, cross: false };
      entry.cross ||= copyCross(s, d);
      saved.set(s, entry);
    }
    let need = 0;
    for (const [s, entry] of saved) {
      entry.at = need;
      need += this.#rowFloats(s, entry.cross);
    }
    if (this.#scratch.length < need) this.#scratch = new Float32Array(need);
    for (const [s, entry] of saved) this.#saveRow(s, entry.at, entry.cross);
    for (let d = 0; d < n; d++) {
      const s = src[d];
      if (s === d) continue;
      const entry = saved.get(s);
      if (entry === undefined) this.#copyRow(s, d, copyCross(s, d));
      else this.#restoreRow(entry.at, positions[s], srcLengths[s], d, entry.cross, copyCross(s, d));
      this.#positions[d] = positions[s];
      this.#srcLengths[d] = srcLengths[s];
      this.#groups[d] = groups[s];
    }
    this.#rows = n;
  }

  /**
   * Appends rows for a batch of sources: `copies[b]` rows for source b (of
   * `srcLengths[b]` positions), each at position 0. Their cross keys and
   * values are written next by setCross, layer by layer. Returns the first
   * new row. (Transformer.addRows drives this.)
   */
  appendRows(srcLengths: Int32Array, copies: ArrayLike<number>): number {
    const first = this.#rows;
    let rows = first;
    for (let b = 0; b < srcLengths.length; b++) rows += copies[b];
    this.#reserve(rows, 0, Math.max(...srcLengths));
    for (let b = 0; b < srcLengths.length; b++) {
      const group = this.#nextGroup++;
      for (let c = 0; c < copies[b]; c++) {
        const r = this.#rows++;
        this.#positions[r] = 0;
        this.#srcLengths[r] = srcLengths[b];
        this.#groups[r] = group;
      }
    }
    return first;
  }

  /** Layer l's cross keys/values of the rows appended from `first`: source b's slice of kv [B, S, 2, H, Dh] into each of its rows. */
  setCross(l: number, first: number, kv: Tensor, copies: ArrayLike<number>): void {
    const S = kv.shape[1];
    const row = 2 * this.#D;
    const cross = this.#layers[l].cross;
    let r = first;
    for (let b = 0; b < copies.length; b++) {
      const from = kv.data.subarray(b * S * row, (b * S + this.#srcLengths[r]) * row);
      for (let c = 0; c < copies[b]; c++, r++) cross.set(from, r * this.#Scap * row);
    }
  }

  /** Makes room for one more position in every live row; throws past maxPositions. */
  prepareStep(): void {
    let T = 0;
    for (let r = 0; r < this.#rows; r++) T = Math.max(T, this.#positions[r] + 1);
    if (T > this.#maxPositions) {
      throw new RangeError(`a row would pass config.maxPositions (${this.#maxPositions}) target positions`);
    }
    this.#reserve(0, T, 0);
    if (this.#lengthsBuffer.length < this.#rows) this.#lengthsBuffer = new Int32Array(this.#Bcap);
  }

  /** Per live row, the position its next token is embedded at. */
  get positions(): Int32Array {
    return this.#positions.subarray(0, this.#rows);
  }

  /** Per live row, the valid positions of its cross keys/values. */
  get srcLengths(): Int32Array {
    return this.#srcLengths.subarray(0, this.#rows);
  }

  /** Advances every live row by one position, after a step. */
  advance(): void {
    for (let r = 0; r < this.#rows; r++) this.#positions[r]++;
  }

  /** Layer l's cross keys/values of the live rows: [rows, Scap, 2, H, Dh] and each row's source length. */
  cross(l: number): { kv: Tensor; srcLengths: Int32Array } {
    const D = this.#D;
    const size = this.#rows * this.#Scap * 2 * D;
    const kv = new Tensor(this.#layers[l].cross.subarray(0, size), [this.#rows, this.#Scap, 2, this.#H, D / this.#H]);
    return { kv, srcLengths: this.#srcLengths.subarray(0, this.#rows) };
  }

  /** Layer l's self-attention cache as the decoder layer appends to it: one new position per live row. */
  self(l: number): SelfAttentionKV {
    return {
      append: (kv: Tensor): SelfKV => {
        const cache = this.#layers[l].self;
        const [B, Tn, , H, Dh] = kv.shape; // [B, 1, 2, H, Dh]
        if (B !== this.#rows || Tn !== 1) {
          throw new RangeError(`a decode step appends [${this.#rows}, 1, 2, H, Dh], got [${B}, ${Tn}, ...]`);
        }
        const row = 2 * H * Dh; // one position's keys and values
        const lengths = this.#lengthsBuffer.subarray(0, B);
        let T = 0;
        for (let r = 0; r < B; r++) {
          const p = this.#positions[r];
          cache.set(kv.data.subarray(r * row, (r + 1) * row), (r * this.#Tcap + p) * row);
          lengths[r] = p + 1;
          T = Math.max(T, p + 1);
        }
        const view = new Tensor(cache.subarray(0, B * this.#Tcap * row), [B, this.#Tcap, 2, H, Dh]);
        return { kv: view, length: T, lengths, queryOffsets: this.#positions.subarray(0, B) };
      },
    };
  }

  /** Every layer's buffers, for a fused step over the live rows (valid until the next reserve). */
  get stepBuffers(): StepBuffers {
    return this.#stepBuffers;
  }

  /**
   * Makes room for `rows` rows of `positions` target and `srcPositions`
   * source positions each, so that the steps ahead do not grow the buffers
   * one doubling at a time. Contents are kept; capacities never shrink.
   */
  reserve(rows: number, positions: number, srcPositions = 0): void {
    checkInt('rows', rows, 0);
    checkInt('positions', positions, 0, this.#maxPositions);
    checkInt('srcPositions', srcPositions, 0, this.#maxPositions);
    this.#reserve(rows, positions, srcPositions);
  }

  /** Drops every buffer and row (its model was disposed): the state holds no memory afterwards. */
  release(): void {
    for (const layer of this.#layers) layer.self = layer.cross = new Float32Array(0);
    this.#rows = this.#Bcap = this.#Tcap = this.#Scap = 0;
    this.#stepBuffers = { self: [], cross: [], Tcap: 0, Scap: 0 };
    this.#positions = new Int32Array(0);
    this.#srcLengths = new Int32Array(0);
    this.#groups = new Int32Array(0);
    this.#scratch = new Float32Array(0);
    this.#lengthsBuffer = new Int32Array(0);
  }

  #checkRow(name: string, r: unknown): number {
    return checkInt(name, r, 0, this.#rows - 1);
  }

  /** Floats of row r's valid contents over all layers: self keys and values, and cross with `cross`. */
  #rowFloats(r: number, cross: boolean): number {
    return this.#layers.length * (2 * this.#positions[r] + (cross ? 2 * this.#srcLengths[r] : 0)) * this.#D;
  }

  #saveRow(r: number, at: number, cross: boolean): void {
    const D = this.#D;
    const T = this.#positions[r] * 2 * D;
    const S = cross ? this.#srcLengths[r] * 2 * D : 0;
    for (const layer of this.#layers) {
      const self = r * this.#Tcap * 2 * D;
      this.#scratch.set(layer.self.subarray(self, self + T), at);
      const from = r * this.#Scap * 2 * D;
      if (cross) this.#scratch.set(layer.cross.subarray(from, from + S), at + T);
      at += T + S;
    }
  }

  /** Row d from a row saved at `at` (with its cross keys/values when `saved`; written when `copyCross`). */
  #restoreRow(at: number, position: number, srcLength: number, d: number, saved: boolean, copyCross: boolean): void {
    const D = this.#D;
    const T = position * 2 * D;
    const S = saved ? srcLength * 2 * D : 0;
    for (const layer of this.#layers) {
      layer.self.set(this.#scratch.subarray(at, at + T), d * this.#Tcap * 2 * D);
      if (copyCross) layer.cross.set(this.#scratch.subarray(at + T, at + T + S), d * this.#Scap * 2 * D);
      at += T + S;
    }
  }

  #copyRow(s: number, d: number, copyCross: boolean): void {
    const D = this.#D;
    const T = this.#positions[s] * 2 * D;
    const S = this.#srcLengths[s] * 2 * D;
    const row = this.#Tcap * 2 * D;
    for (const layer of this.#layers) {
      layer.self.copyWithin(d * row, s * row, s * row + T);
      if (copyCross) layer.cross.copyWithin(d * this.#Scap * 2 * D, s * this.#Scap * 2 * D, s * this.#Scap * 2 * D + S);
    }
  }

  /** The capacities #reserve(B, T, S) grows to. */
  #capacities(B: number, T: number, S: number): [number, number, number] {
    const grow = (cap: number, need: number, limit: number) => (need <= cap ? cap : Math.min(limit, Math.max(need, 2 * cap)));
    return [grow(this.#Bcap, B, Number.MAX_SAFE_INTEGER), grow(this.#Tcap, T, this.#maxPositions), grow(this.#Scap, S, this.#maxPositions)];
  }

  /**
   * Grows the capacities to at least B rows, T positions and S source
   * positions (doubling, so growth is amortised and fresh pages are touched
   * rarely), keeping the live rows' contents.
   */
  #reserve(B: number, T: number, S: number): void {
    const [Bcap, Tcap, Scap] = this.#capacities(B, T, S);
    if (Bcap === this.#Bcap && Tcap === this.#Tcap && Scap === this.#Scap) return;
    const D = this.#D;
    for (const layer of this.#layers) {
      const self = new Float32Array(Bcap * Tcap * 2 * D);
      const cross = new Float32Array(Bcap * Scap * 2 * D);
      for (let r = 0; r < this.#rows; r++) {
        const T0 = this.#positions[r] * 2 * D;
        self.set(layer.self.subarray(r * this.#Tcap * 2 * D, r * this.#Tcap * 2 * D + T0), r * Tcap * 2 * D);
        const S0 = this.#srcLengths[r] * 2 * D;
        cross.set(layer.cross.subarray(r * this.#Scap * 2 * D, r * this.#Scap * 2 * D + S0), r * Scap * 2 * D);
      }
      layer.self = self;
      layer.cross = cross;
    }
    if (Bcap !== this.#Bcap) {
      const widen = (a: Int32Array) => {
        const b = new Int32Array(Bcap);
        b.set(a.subarray(0, this.#rows));
        return b;
      };
      this.#positions = widen(this.#positions);
      this.#srcLengths = widen(this.#srcLengths);
      this.#groups = widen(this.#groups);
    }
    this.#Bcap = Bcap;
    this.#Tcap = Tcap;
    this.#Scap = Scap;
    this.#stepBuffers = { self: this.#layers.map((l) => l.self), cross: this.#layers.map((l) => l.cross), Tcap, Scap };
  }
}
