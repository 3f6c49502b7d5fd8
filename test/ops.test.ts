// Row ops: native (active ISA, 1 and 2 threads) against the reference.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, sinusoidalPositions, type EmbeddingOptions } from '../lib/index.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

/** Asserts bit-identical float arrays (NaN payloads and -0 included), naming the first difference. */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${what} element ${i}: got ${actual[i]}, expected ${expected[i]} (bits differ)`);
  }
}

const SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000];
const ROWS = [1, 3, 65];

describe(`row ops on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  for (const threads of [1, 2]) {
    describe(`${threads} thread(s)`, () => {
      it('layernorm, with and without residual', () => {
        setThreads(threads);
        for (const rows of ROWS) for (const D of SIZES) {
          const x = randomTensor([rows, D], D, 3);
          const r = randomTensor([rows, D], D + 1);
          const g = randomTensor([D], D + 2);
          const b = randomTensor([D], D + 3);
          const what = `layernorm rows=${rows} D=${D}`;
          expectClose(native.layernorm(x, g, b).data, reference.layernorm(x, g, b).data, 2e-5, 1e-5, what);
          expectClose(
            native.layernorm(x, g, b, { residual: r, eps: 1e-6 }).data,
            reference.layernorm(x, g, b, { residual: r, eps: 1e-6 }).data, 2e-5, 1e-5, `${what} residual`,
          );
        }
      });

      it('rmsnorm, with and without residual, in place on x or on residual', () => {
        setThreads(threads);
        for (const rows of ROWS) for (const D of SIZES) {
          const x = randomTensor([rows, D], D, 3);
          const r = randomTensor([rows, D], D + 1);
          const g = randomTensor([D], D + 2);
          const what = `rmsnorm rows=${rows} D=${D}`;
          // Bound: |native - reference| <= 1e-6 + 4e-6 |y| (the fp32 sum of squares and three roundings).
          const plain = reference.rmsnorm(x, g);
          expectClose(native.rmsnorm(x, g).data, plain.data, 1e-6, 4e-6, what);
          const withRes = reference.rmsnorm(x, g, { residual: r, eps: 1e-5 });
          expectClose(native.rmsnorm(x, g, { residual: r, eps: 1e-5 }).data, withRes.data, 1e-6, 4e-6, `${what} residual`);
          const xs = Tensor.from(x.data, x.shape);
          expect(native.rmsnorm(xs, g, { out: xs })).toBe(xs);
          expectClose(xs.data, plain.data, 1e-6, 4e-6, `${what} out = x`);
          const xr = Tensor.from(x.data, x.shape);
          expect(native.rmsnorm(xr, g, { residual: r, eps: 1e-5, out: xr })).toBe(xr);
          expectClose(xr.data, withRes.data, 1e-6, 4e-6, `${what} residual, out = x`);
          const rr = Tensor.from(r.data, r.shape);
          expect(native.rmsnorm(x, g, { residual: rr, eps: 1e-5, out: rr })).toBe(rr);
          expectClose(rr.data, withRes.data, 1e-6, 4e-6, `${what} residual, out = residual`);
        }
      });

      it('softmax and logSoftmax', () => {
        setThreads(threads);
        for (const rows of ROWS) for (const N of [...SIZES, 32000]) {
          if (rows * N > 2e6) continue;
          const x = randomTensor([rows, N], N, 20);
          expectClose(native.softmax(x).data, reference.softmax(x).data, 1e-6, 1e-5, `softmax ${rows}x${N}`);
          expectClose(native.logSoftmax(x).data, reference.logSoftmax(x).data, 2e-5, 1e-6, `logSoftmax ${rows}x${N}`);
        }
      });

      it('argmax', () => {
        setThreads(threads);
        for (const rows of ROWS) for (const N of [...SIZES, 32000]) {
          const x = randomTensor([rows, N], N + 5);
          expect(Array.from(native.argmax(x)), `argmax ${rows}x${N}`).toEqual(Array.from(reference.argmax(x)));
        }
      });

      it('embedding, with and without positions', () => {
        setThreads(threads);
        for (const D of SIZES) {
          const V = 37;
          const table = randomTensor([V, D], D);
          const positions = sinusoidalPositions(40, D);
          const ids = Int32Array.from({ length: 3 * 7 }, (_, i) => (i * 5 + D) % V);
          const shape = [3, 7] as [number, number];
          expectClose(native.embedding(ids, shape, table).data, reference.embedding(ids, shape, table).data, 1e-7);
          const opts = { scale: Math.sqrt(D), positions, positionOffset: 33 };
          expectClose(native.embedding(ids, shape, table, opts).data, reference.embedding(ids, shape, table, opts).data, 1e-5, 1e-6, `embedding D=${D}`);
        }
      });

      it('embedding with per-row position offsets: as the reference, and as each row alone', () => {
        setThreads(threads);
        const V = 37;
        const P = 40;
        for (const D of SIZES) for (const [B, T] of [[1, 1], [5, 1], [3, 4], [16, 2]]) {
          const table = randomTensor([V, D], D);
          const positions = sinusoidalPositions(P, D);
          const next = rng(D * 100 + B * 10 + T);
          const ids = Int32Array.from({ length: B * T }, () => Math.floor(next() * V));
          const offsets = Int32Array.from({ length: B }, (_, b) => (b === 0 ? P - T : Math.floor(next() * (P - T + 1))));
          const opts = { scale: Math.sqrt(D), positions, positionOffsets: offsets };
          const what = `embedding B=${B} T=${T} D=${D} offsets ${Array.from(offsets)}`;
          const got = native.embedding(ids, [B, T], table, opts);
          expectClose(got.data, reference.embedding(ids, [B, T], table, opts).data, 1e-5, 1e-6, what);
          // A plain array gives the same; each row equals that row embedded alone at its offset, bit for bit.
          expectSameBits(native.embedding(ids, [B, T], table, { ...opts, positionOffsets: Array.from(offsets) }).data, got.data, `${what} as an array`);
          for (let b = 0; b < B; b++) {
            const alone = native.embedding(ids.subarray(b * T, (b + 1) * T), [1, T], table, { scale: opts.scale, positions, positionOffset: offsets[b] });
            expectSameBits(alone.data, got.data.subarray(b * T * D, (b + 1) * T * D), `${what} row ${b} alone`);
          }
        }
      });

      it('embedding with per-token position ids: as the reference; -1 adds nothing; contiguous ids as the offsets', () => {
        setThreads(threads);
        const V = 37;
        const P = 40;
        const PAD = 1;
        for (const D of [1, 7, 16, 17, 64, 65, 257]) for (const [B, T] of [[1, 1], [1, 5], [3, 7], [4, 16], [16, 33]]) {
          const table = randomTensor([V, D], D);
          table.data[PAD * D] = -0; // -0 * scale stays -0 only if no zero row is added
          const positions = randomTensor([P, D], D + 7);
          const next = rng(D * 1000 + B * 100 + T);
          const ids = Int32Array.from({ length: B * T }, () => (next() < 0.3 ? PAD : Math.floor(next() * V)));
          if (B * T === 1 && D % 2 === 1) ids[0] = PAD; // B·T = 1 both as a pad and as a token
          // M2M100/NLLB numbering: count non-pad tokens per row (from a per-row start), -1 on pads;
          // then a few random ids in [-3, P) mixed in.
          const pids = new Int32Array(B * T);
          for (let b = 0; b < B; b++) {
            let n = Math.floor(next() * (P - T + 1));
            for (let t = 0; t < T; t++) pids[b * T + t] = ids[b * T + t] === PAD ? -1 : n++;
          }
          for (let i = 0; i < B * T; i++) if (next() < 0.2) pids[i] = Math.floor(next() * (P + 3)) - 3;
          if (B * T > 1) pids[B * T - 1] = P - 1; // the last position row
          const scale = Math.sqrt(D);
          const opts = { scale, positions, positionIds: pids };
          const what = `embedding B=${B} T=${T} D=${D} positionIds`;
          const got = native.embedding(ids, [B, T], table, opts);
          expectClose(got.data, reference.embedding(ids, [B, T], table, opts).data, 1e-5, 1e-6, what);
          // A token without a position is exactly table * scale (native without positions), bit for bit.
          const bare = native.embedding(ids, [B, T], table, { scale });
          for (let i = 0; i < B * T; i++) {
            if (pids[i] < 0) expectSameBits(got.data.subarray(i * D, (i + 1) * D), bare.data.subarray(i * D, (i + 1) * D), `${what} token ${i} (${pids[i]})`);
          }
          // Contiguous ids per row are the per-row offsets, bit for bit.
          const offsets = Int32Array.from({ length: B }, (_, b) => Math.floor(next() * (P - T + 1)));
          const contiguous = Int32Array.from({ length: B * T }, (_, i) => offsets[Math.floor(i / T)] + (i % T));
          expectSameBits(
            native.embedding(ids, [B, T], table, { scale, positions, positionIds: contiguous }).data,
            native.embedding(ids, [B, T], table, { scale, positions, positionOffsets: offsets }).data,
            `${what} contiguous`,
          );
        }
      });
    });
  }

  it('reference embedding with position ids is the plain per-token loop, bit for bit', () => {
    const next = rng(99);
    for (const D of [1, 7, 17, 64, 65]) for (const [B, T] of [[1, 1], [2, 3], [5, 9]]) {
      const V = 11;
      const P = 6;
      const table = randomTensor([V, D], D + 1, 3);
      const positions = randomTensor([P, D], D + 2);
      const scale = 0.5 + next() * 4;
      const ids = Int32Array.from({ length: B * T }, () => Math.floor(next() * V));
      const pids = Int32Array.from({ length: B * T }, () => Math.floor(next() * (P + 2)) - 2); // -2, -1 and 0..P-1
      const want = new Float32Array(B * T * D);
      for (let i = 0; i < B * T; i++) {
        for (let d = 0; d < D; d++) {
          const e = table.data[ids[i] * D + d] * scale;
          want[i * D + d] = pids[i] < 0 ? e : e + positions.data[pids[i] * D + d];
        }
      }
      const got = reference.embedding(ids, [B, T], table, { scale, positions, positionIds: pids });
      expectSameBits(got.data, want, `reference B=${B} T=${T} D=${D}`);
      expect(got.shape).toEqual([B, T, D]);
    }
  });

  it('softmax of extreme rows: huge spreads, -inf entries, all -inf', () => {
    const x = Tensor.from([1000, 0, -1000, -Infinity, -Infinity, -Infinity, 3, -Infinity, 3], [3, 3]);
    for (const backend of [native, reference]) {
      expectClose(backend.softmax(x).data, [1, 0, 0, 0, 0, 0, 0.5, 0, 0.5], 1e-7);
      const ls = backend.logSoftmax(x).data;
      expect(Array.from(ls.subarray(0, 2))).toEqual([0, -1000]);
      expect(Array.from(ls.subarray(3, 6))).toEqual([-Infinity, -Infinity, -Infinity]);
      expectClose(ls.subarray(6), [-Math.LN2, -Infinity, -Math.LN2], 1e-7);
    }
  });

  it('embedding rejects bad per-row position offsets on both backends alike', () => {
    const table = randomTensor([5, 4], 1);
    const positions = sinusoidalPositions(6, 4);
    const ids = Int32Array.of(0, 1, 2, 3); // [2, 2]
    const bad: Array<[string, EmbeddingOptions, ErrorConstructor, RegExp]> = [
      ['wrong length', { positions, positionOffsets: [0, 1, 2] }, RangeError, /options.positionOffsets must have length 2 \(B\), got 3/],
      ['negative', { positions, positionOffsets: [0, -1] }, RangeError, /options.positionOffsets\[1\] \(with T = 2, P = 6\) must be an integer in \[0, 4\], got -1/],
      ['past the end', { positions, positionOffsets: Int32Array.of(5, 0) }, RangeError, /options.positionOffsets\[0\] \(with T = 2, P = 6\) must be an integer in \[0, 4\], got 5/],
      ['fractional', { positions, positionOffsets: [0.5, 0] }, RangeError, /positionOffsets\[0\].*got 0.5/],
      ['not a number', { positions, positionOffsets: ['1', 0] as never }, TypeError, /positionOffsets\[0\].*must be a number, got "1"/],
      ['wrong type', { positions, positionOffsets: new Float32Array(2) as never }, TypeError, /options.positionOffsets must be an Int32Array or an array of integers, got Float32Array\(2\)/],
      ['both options', { positions, positionOffset: 0, positionOffsets: [0, 0] }, RangeError, /options.positionOffset and options.positionOffsets are mutually exclusive, got both/],
      ['without positions', { positionOffsets: [0, 0] }, RangeError, /options.positionOffsets needs options.positions/],
      ['T > P', { positions: sinusoidalPositions(1, 4), positionOffsets: [0, 0] }, RangeError, /options.positionOffsets\[0\] \+ T must be <= 1 \(the rows of options.positions\), got T = 2/],
    ];
    for (const backend of [native, reference]) {
      for (const [what, opts, type, message] of bad) {
        expect(() => backend.embedding(ids, [2, 2], table, opts), `${backend.name} ${what}`).toThrow(type);
        expect(() => backend.embedding(ids, [2, 2], table, opts), `${backend.name} ${what}`).toThrow(message);
      }
      const out = Tensor.zeros([2, 2, 4]);
      const inside = new Int32Array(out.data.buffer, 4, 2);
      expect(() => backend.embedding(ids, [2, 2], table, { positions, positionOffsets: inside, out })).toThrow(/options.out must not share memory with options.positionOffsets/);
    }
  });

  it('rmsnorm reference matches plain loops (T5LayerNorm), default eps 1e-6', () => {
    const [rows, D] = [3, 11];
    const x = randomTensor([rows, D], 4, 2);
    const r = randomTensor([rows, D], 5);
    const g = randomTensor([D], 6);
    for (const residual of [undefined, r]) {
      const y = reference.rmsnorm(x, g, residual ? { residual } : undefined);
      for (let i = 0; i < rows; i++) {
        const z = Array.from({ length: D }, (_, d) => x.data[i * D + d] + (residual ? residual.data[i * D + d] : 0));
        const variance = z.reduce((s, v) => s + v * v, 0) / D;
        z.forEach((v, d) => expect(y.data[i * D + d]).toBeCloseTo(Math.fround(g.data[d] * (v / Math.sqrt(variance + 1e-6))), 6));
      }
    }
    // A zero row gives zeros (eps keeps the scale finite); with eps 0 it is NaN, as PyTorch.
    const zero = Tensor.zeros([1, 4]);
    for (const backend of [native, reference]) {
      expect(Array.from(backend.rmsnorm(zero, Tensor.from([1, 2, 3, 4], [4])).data)).toEqual([0, 0, 0, 0]);
      expect(backend.rmsnorm(zero, Tensor.from([1, 2, 3, 4], [4]), { eps: 0 }).data.every(Number.isNaN)).toBe(true);
    }
  });

  it('argmax: first index on ties, NaN wins', () => {
    const x = Tensor.from([1, 5, 5, 2, 0, NaN, 7, NaN, -Infinity, -Infinity, -Infinity, -Infinity], [3, 4]);
    for (const backend of [native, reference]) expect(Array.from(backend.argmax(x))).toEqual([1, 1, 0]);
  });

  it('ops run in place when out is the input', () => {
    const x = randomTensor([4, 50], 1);
    const r = randomTensor([4, 50], 2);
    const g = randomTensor([50], 3);
    const b = randomTensor([50], 4);
    const want = reference.layernorm(x, g, b, { residual: r });
    const sm = reference.softmax(x);
    const xs = Tensor.from(x.data, x.shape);
    expect(native.softmax(xs, { out: xs })).toBe(xs);
    expectClose(xs.data, sm.data, 1e-6);
    expect(native.layernorm(x, g, b, { residual: r, out: r })).toBe(r);
    expectClose(r.data, want.data, 2e-5);
  });

  it('sinusoidalPositions follows the paper', () => {
    const pe = sinusoidalPositions(50, 6);
    expect(pe.shape).toEqual([50, 6]);
    const p = 37;
    const want = [0, 1, 2, 3, 4, 5].map((d) => {
      const angle = p / Math.pow(10000, (2 * Math.floor(d / 2)) / 6);
      return d % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    });
    expectClose(pe.data.subarray(p * 6, p * 6 + 6), want, 1e-7);
  });
});
