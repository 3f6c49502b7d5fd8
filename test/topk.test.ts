// topK: native (active ISA, 1 and 2 threads) against the reference, which
// sorts whole rows; ties, infinities, NaN, signed zeros, denormals; bad input.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, type Backend } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

const VS = [1, 2, 7, 15, 16, 17, 33, 64, 65, 1000, 32000];
const ROWS = [1, 3, 17];

function ks(V: number): number[] {
  return [...new Set([1, 2, 8, V].filter((k) => k <= V))];
}

/** Values and indices of topK as plain arrays (NaN stays NaN, -0 stays -0 for toEqual). */
function plain(r: { values: Float32Array; indices: Int32Array }): { values: number[]; indices: number[] } {
  return { values: Array.from(r.values), indices: Array.from(r.indices) };
}

/** The entries of x's rows at the given indices ([R * k], row-major). */
function gather(x: Tensor, indices: Int32Array, k: number): Float32Array {
  const N = x.shape[x.rank - 1];
  return Float32Array.from(indices, (i, j) => x.data[Math.floor(j / k) * N + i]);
}

describe(`topK on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  for (const threads of [1, 2]) {
    describe(`${threads} thread(s)`, () => {
      it('equals the reference over edge shapes (values and indices exactly)', () => {
        setThreads(threads);
        for (const R of ROWS) for (const V of VS) {
          if (R * V > 2e5) continue;
          const x = randomTensor([R, V], R * 100000 + V, 5);
          for (const k of ks(V)) {
            const what = `topK ${R}x${V} k=${k}`;
            const got = native.topK(x, k);
            expect(got.values.length, what).toBe(R * k);
            expect(plain(got), what).toEqual(plain(reference.topK(x, k)));
          }
        }
      });

      it('logSoftmax: the log-softmax values at the top indices, bit-equal to logSoftmax then topK', () => {
        setThreads(threads);
        for (const R of ROWS) for (const V of VS) {
          if (R * V > 2e5) continue;
          const x = randomTensor([R, V], R * 1000 + V, 20);
          const ls = native.logSoftmax(x);
          const refLs = reference.logSoftmax(x);
          for (const k of ks(V)) {
            const what = `topK logSoftmax ${R}x${V} k=${k}`;
            const got = native.topK(x, k, { logSoftmax: true });
            const want = reference.topK(x, k, { logSoftmax: true });
            // Both rank their own rounding of the log-softmax, so entries within rounding of each other
            // may swap: the sorted values agree to tolerance, and every index points at its value.
            expectClose(got.values, want.values, 2e-5, 1e-6, what);
            expectClose(gather(refLs, got.indices, k), got.values, 2e-5, 1e-6, `${what} reference log-softmax at the indices`);
            if (k < 8) expect(Array.from(got.indices), what).toEqual(Array.from(want.indices)); // far apart at the top
            // The same call on the log-softmax tensor: identical indices and bits.
            const two = native.topK(ls, k);
            expect(plain(got), `${what} vs logSoftmax then topK`).toEqual(plain(two));
            expect(Array.from(got.values), `${what} vs gathered logSoftmax`).toEqual(Array.from(gather(ls, got.indices, k)));
          }
        }
      });

      it('rows of a higher-rank tensor are all but the last dimension', () => {
        setThreads(threads);
        const x = randomTensor([2, 3, 50], 7);
        const flat = new Tensor(x.data, [6, 50]);
        expect(plain(native.topK(x, 5))).toEqual(plain(native.topK(flat, 5)));
        expect(plain(native.topK(x, 5, { logSoftmax: true }))).toEqual(plain(native.topK(flat, 5, { logSoftmax: true })));
        expect(plain(native.topK(x, 5))).toEqual(plain(reference.topK(x, 5)));
      });

      it('ties: many equal values resolve to the lower index, as the reference', () => {
        setThreads(threads);
        const next = rng(3);
        for (const V of [7, 64, 1000, 32000]) {
          const x = Tensor.zeros([3, V]);
          // Few distinct values (with -0 among the zeros): most entries tie with others.
          for (let i = 0; i < x.size; i++) x.data[i] = [0, -0, 1, 2, -1, 2][Math.floor(next() * 6)];
          for (const k of ks(V)) {
            expect(plain(native.topK(x, k)), `ties V=${V} k=${k}`).toEqual(plain(reference.topK(x, k)));
            const lsm = native.topK(x, k, { logSoftmax: true });
            expect(Array.from(lsm.indices), `ties logSoftmax V=${V} k=${k}`).toEqual(Array.from(reference.topK(x, k, { logSoftmax: true }).indices));
          }
        }
      });
    });
  }

  it('small cases by hand, on both backends', () => {
    const cases: Array<[number[], number, number[], number[]]> = [
      [[1, 5, 5, 2, 5], 3, [1, 2, 4], [5, 5, 5]],
      [[1, 5, 5, 2, 5], 5, [1, 2, 4, 3, 0], [5, 5, 5, 2, 1]],
      [[-Infinity, 3, -Infinity, 1], 3, [1, 3, 0], [3, 1, -Infinity]],
      [[-Infinity, -Infinity, -Infinity], 2, [0, 1], [-Infinity, -Infinity]],
      [[1, NaN, 3, NaN, Infinity], 4, [1, 3, 4, 2], [NaN, NaN, Infinity, 3]],
      // -0 equals +0 (lower index first); denormals order as numbers, whatever FTZ/DAZ.
      [[-0, 2 ** -149, 0, -(2 ** -149), -(2 ** -148)], 5, [1, 0, 2, 3, 4], [2 ** -149, -0, 0, -(2 ** -149), -(2 ** -148)]],
      [[2 ** -148, 2 ** -149, 2 ** -126, 0], 4, [2, 0, 1, 3], [2 ** -126, 2 ** -148, 2 ** -149, 0]],
      [[4], 1, [0], [4]],
    ];
    for (const backend of [native, reference] as Backend[]) {
      for (const [row, k, indices, values] of cases) {
        const got = backend.topK(Tensor.from(row, [1, row.length]), k);
        expect(plain(got), `${backend.name} ${JSON.stringify(row)} k=${k}`).toEqual({ indices, values });
      }
    }
  });

  it('logSoftmax of extreme rows: all -inf gives -inf at the first indices; NaN makes every value NaN', () => {
    const x = Tensor.from([-Infinity, -Infinity, -Infinity, -Infinity, 0, -Infinity, Math.log(3), -Infinity, 1, NaN, 3, NaN], [3, 4]);
    for (const backend of [native, reference] as Backend[]) {
      const got = backend.topK(x, 2, { logSoftmax: true });
      expect(Array.from(got.indices), backend.name).toEqual([0, 1, 2, 0, 0, 1]);
      expect(Array.from(got.values.subarray(0, 2))).toEqual([-Infinity, -Infinity]);
      expectClose(got.values.subarray(2, 4), [Math.log(3 / 4), Math.log(1 / 4)], 1e-6);
      expect(Array.from(got.values.subarray(4)).every(Number.isNaN), backend.name).toBe(true);
      expect(plain(backend.topK(x, 2, { logSoftmax: true }))).toEqual(plain(backend.topK(backend.logSoftmax(x), 2)));
    }
  });

  it('rejects bad arguments on both backends alike', () => {
    const x = randomTensor([2, 5], 1);
    const bad: Array<[string, () => unknown, ErrorConstructor, RegExp]> = [
      ['k = 0', () => [x, 0], RangeError, /k \(with 5 entries per row\) must be an integer in \[1, 5\], got 0/],
      ['k > V', () => [x, 6], RangeError, /k \(with 5 entries per row\) must be an integer in \[1, 5\], got 6/],
      ['fractional k', () => [x, 1.5], RangeError, /k .* must be an integer in \[1, 5\], got 1.5/],
      ['k as a string', () => [x, '2'], TypeError, /k .* must be a number, got "2"/],
      ['x not a tensor', () => [new Float32Array(4), 1], TypeError, /x must be a Tensor, got Float32Array\(4\)/],
      ['logSoftmax not a boolean', () => [x, 1, { logSoftmax: 1 }], TypeError, /options.logSoftmax must be a boolean, got 1/],
      ['options not an object', () => [x, 1, 'yes'], TypeError, /options must be an object, got "yes"/],
    ];
    for (const backend of [native, reference] as Backend[]) {
      for (const [what, args, type, message] of bad) {
        const call = () => (backend.topK as (...a: unknown[]) => unknown)(...(args() as unknown[]));
        expect(call, `${backend.name} ${what}`).toThrow(type);
        expect(call, `${backend.name} ${what}`).toThrow(message);
      }
    }
  });

  it('the addon re-checks its arguments', () => {
    const addon = loadAddon();
    const f = (n: number) => new Float32Array(n);
    const i = (n: number) => new Int32Array(n);
    expect(() => addon.topK(f(8), 2, 4, 5, false, f(10), i(10))).toThrow(/k must be an integer in \[1, 4\], got 5/);
    expect(() => addon.topK(f(8), 2, 4, 2, false, f(3), i(4))).toThrow(/values must have at least 4 elements, got 3/);
    expect(() => addon.topK(f(8), 2, 4, 2, false, f(4), i(3))).toThrow(/indices must have at least 4 elements, got 3/);
    expect(() => addon.topK(f(7), 2, 4, 2, false, f(4), i(4))).toThrow(/x must have at least 8 elements, got 7/);
    expect(() => addon.topK(f(8), 2, 4, 2, 1 as never, f(4), i(4))).toThrow(/logSoftmax must be a boolean/);
    const buf = new ArrayBuffer(64 * 4);
    const x = new Float32Array(buf, 0, 8);
    expect(() => addon.topK(x, 2, 4, 2, false, new Float32Array(buf, 16, 4), i(4))).toThrow(/must not share memory with x/);
    expect(() => addon.topK(f(8), 2, 4, 2, false, new Float32Array(buf, 128, 4), new Int32Array(buf, 132, 4))).toThrow(/must not share memory with values/);
  });
});
