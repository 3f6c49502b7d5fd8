// A Backend that runs every op on the native backend and, on copies of the
// same inputs, on the reference, and fails the test when they differ by more
// than `tolerance` of the largest |value|; the model goes on with the native
// result. So a whole model run checks each op where it is used, with no drift
// between the two: bf16 and int8 round activations, and a value one
// float-ulp apart upstream can round to the next bf16 or int8 step, which
// an end-to-end comparison would report as a kernel error.
import { expect } from 'vitest';
import { Tensor, native, reference, type Backend, type LinearWeights, type WeightDType } from '../lib/index.js';

class PairedWeights implements LinearWeights {
  constructor(readonly native: LinearWeights, readonly reference: LinearWeights) {}
  get outFeatures(): number { return this.native.outFeatures; }
  get inFeatures(): number { return this.native.inFeatures; }
  get hasBias(): boolean { return this.native.hasBias; }
  get dtype(): WeightDType { return this.native.dtype; }
  get disposed(): boolean { return this.native.disposed; }
  dispose(): void {
    this.native.dispose();
    this.reference.dispose();
  }
}

const copy = (t: Tensor) => new Tensor(t.data.slice(), t.shape);

/** The options with every tensor and typed array copied and `out` left out. */
function copyOptions<T extends object | undefined>(options: T): T {
  if (options === undefined) return options;
  const entries = Object.entries(options).filter(([k]) => k !== 'out');
  return Object.fromEntries(entries.map(([k, v]) => [k, v instanceof Tensor ? copy(v) : ArrayBuffer.isView(v) ? (v as Int32Array).slice() : v])) as T;
}

export interface PairedBackend extends Backend {
  /** Ops compared so far, by name. */
  readonly calls: Map<string, number>;
  /** Every linearPack so far: [N, K] and dtype. */
  readonly packed: Array<{ shape: readonly number[]; dtype: WeightDType }>;
}

export function pairedBackend(tolerance: number): PairedBackend {
  const calls = new Map<string, number>();
  const packed: Array<{ shape: readonly number[]; dtype: WeightDType }> = [];
  const compare = (op: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
    calls.set(op, (calls.get(op) ?? 0) + 1);
    expect(got.length, `${op} length`).toBe(want.length);
    let scale = 1;
    for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale = Math.max(scale, Math.abs(want[i]));
    for (let i = 0; i < want.length; i++) {
      const [a, b] = [got[i], want[i]];
      if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) continue;
      if (!(Math.abs(a - b) <= tolerance * scale)) {
        expect.fail(`${op}: element ${i} native ${a}, reference ${b} (tolerance ${tolerance} x ${scale})`);
      }
    }
  };
  /** Runs the reference on copies first (native may write in place), then native, and compares. */
  const both = <R extends Tensor>(op: string, run: (b: Backend, copies: boolean) => R): R => {
    const want = run(reference, true);
    const got = run(native, false);
    compare(op, got.data, want.data);
    return got;
  };
  const pick = (w: LinearWeights, b: Backend) => (b === native ? (w as PairedWeights).native : (w as PairedWeights).reference);
  const t = (x: Tensor, copies: boolean) => (copies ? copy(x) : x);
  const o = <T extends object | undefined>(options: T, copies: boolean) => (copies ? copyOptions(options) : options);
  return {
    name: 'native',
    calls,
    packed,
    linearPack: (weight, bias, options) => {
      const w = new PairedWeights(native.linearPack(weight, bias, options), reference.linearPack(weight, bias, options));
      packed.push({ shape: weight.shape, dtype: w.dtype });
      return w;
    },
    linearUnpack: (w) => native.linearUnpack((w as PairedWeights).native),
    linear: (x, w, options) => both('linear', (b, c) => b.linear(t(x, c), pick(w, b), o(options, c))),
    attention: (q, k, v, options) => both('attention', (b, c) => b.attention(t(q, c), t(k, c), t(v, c), o(options, c))),
    layernorm: (x, gamma, beta, options) => both('layernorm', (b, c) => b.layernorm(t(x, c), gamma, beta, o(options, c))),
    rmsnorm: (x, gamma, options) => both('rmsnorm', (b, c) => b.rmsnorm(t(x, c), gamma, o(options, c))),
    glu: (x, activation, options) => both('glu', (b, c) => b.glu(t(x, c), activation, o(options, c))),
    softmax: (x, options) => both('softmax', (b, c) => b.softmax(t(x, c), o(options, c))),
    logSoftmax: (x, options) => both('logSoftmax', (b, c) => b.logSoftmax(t(x, c), o(options, c))),
    argmax: (x) => {
      const [got, want] = [native.argmax(x), reference.argmax(x)];
      compare('argmax', got, want);
      return got;
    },
    topK: (x, k, options) => {
      const [got, want] = [native.topK(x, k, options), reference.topK(x, k, options)];
      compare('topK indices', got.indices, want.indices);
      compare('topK values', got.values, want.values);
      return got;
    },
    embedding: (ids, shape, table, options) => both('embedding', (b, c) => b.embedding(ids, shape, table, o(options, c))),
  };
}
