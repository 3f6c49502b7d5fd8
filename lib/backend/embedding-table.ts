// An embedding table [V, D] held in bf16 or int8: half or a quarter of the
// memory of fp32 (the vocabulary's tables are a large part of a translation
// model). Backend.embedding looks rows up in it as in a Tensor; each value is
// the bf16 value, or q · s_v rounded to fp32 with the row's int8 scale, as an
// int8 linear layer with these rows as its output rows (lib/backend/dtypes.ts).
import { Tensor, describe } from '../tensor.js';
import { bf16Bits, bf16Value, firstNonFinite, quantizeRows } from './dtypes.js';

export type EmbeddingDType = 'bf16' | 'int8';

export class EmbeddingTable {
  /** [V, D] */
  readonly shape: readonly [number, number];
  readonly dtype: EmbeddingDType;
  /** bf16: the values' bits; int8: the quantized values. [V · D], row-major. */
  readonly data: Uint16Array | Int8Array;
  /** int8: each row's scale [V]; bf16: null. */
  readonly scales: Float32Array | null;

  private constructor(shape: readonly [number, number], dtype: EmbeddingDType, data: Uint16Array | Int8Array, scales: Float32Array | null) {
    [this.shape, this.dtype, this.data, this.scales] = [shape, dtype, data, scales];
  }

  /** `table` [V, D] rounded to bf16, or quantized per row to int8 (finite values only). */
  static pack(table: Tensor, dtype: EmbeddingDType): EmbeddingTable {
    if (!(table instanceof Tensor) || table.rank !== 2) throw new TypeError(`table must be a Tensor [V, D], got ${describe(table)}`);
    const [V, D] = table.shape;
    if (dtype === 'bf16') {
      // A loop, not Uint16Array.from(data, bf16Bits): V8's from() with a map function boxes every
      // element into a list first (base model: 13 s and 1.5 GiB peak RSS to load in bf16, against 2 s).
      const bits = new Uint16Array(table.size);
      for (let i = 0; i < bits.length; i++) bits[i] = bf16Bits(table.data[i]);
      return new EmbeddingTable([V, D], dtype, bits, null);
    }
    if (dtype !== 'int8') throw new RangeError(`dtype must be 'bf16' or 'int8', got ${describe(dtype)}`);
    const i = firstNonFinite(table.data);
    if (i >= 0) throw new RangeError(`table[${Math.floor(i / D)}, ${i % D}] is ${table.data[i]}: an int8 table must be finite`);
    const { q, scales } = quantizeRows(table.data, V, D);
    return new EmbeddingTable([V, D], dtype, q, scales);
  }

  /** Value [v, d] as a lookup gives it. */
  value(v: number, d: number): number {
    const i = v * this.shape[1] + d;
    return this.scales === null ? bf16Value(this.data[i]) : Math.fround(this.data[i] * this.scales[v]);
  }

  /** The values as a new fp32 tensor [V, D]. */
  unpack(): Tensor {
    const [V, D] = this.shape;
    const out = Tensor.zeros([V, D]);
    for (let v = 0; v < V; v++) for (let d = 0; d < D; d++) out.data[v * D + d] = this.value(v, d);
    return out;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.data.byteLength + (this.scales?.byteLength ?? 0);
  }
}
