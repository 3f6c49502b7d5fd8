// linear: native (on the active ISA, 1 and 2 threads) against the reference over edge shapes.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, type Activation } from '../lib/index.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

const SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000];

function cases(): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (const s of SIZES) {
    out.push([s, 33, 65], [7, s, 31], [17, 64, s]);
  }
  const next = rng(7);
  while (out.length < 70) {
    const pick = () => SIZES[Math.floor(next() * SIZES.length)];
    const [M, N, K] = [pick(), pick(), pick()];
    if (M * N * K <= 4e6) out.push([M, N, K]);
  }
  out.push([300, 300, 700], [1, 2048, 512], [128, 96, 513]);
  return out;
}

function check(M: number, N: number, K: number, activation: Activation, withBias: boolean, seed: number): void {
  const x = randomTensor([M, K], seed);
  const w = randomTensor([N, K], seed + 1);
  const b = withBias ? randomTensor([N], seed + 2) : undefined;
  const nw = native.linearPack(w, b);
  const rw = reference.linearPack(w, b);
  const got = native.linear(x, nw, { activation });
  const want = reference.linear(x, rw, { activation });
  nw.dispose();
  expect(got.shape).toEqual([M, N]);
  expectClose(got.data, want.data, 1e-6 * K + 1e-6, 1e-6, `linear M=${M} N=${N} K=${K} ${activation} bias=${withBias}`);
}

describe(`linear on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  for (const threads of [1, 2]) {
    it(`matches the reference over edge shapes, ${threads} thread(s)`, () => {
      setThreads(threads);
      cases().forEach(([M, N, K], i) => check(M, N, K, (['none', 'relu', 'gelu'] as const)[i % 3], i % 2 === 0, i * 10));
    });
  }

  it('matches the reference for every decode row count (M = 1..12: one tile per weight panel)', () => {
    for (const threads of [1, 2]) {
      setThreads(threads);
      // N = 40, 100, 130: panel edges inside the first and the second half of a 64-wide panel;
      // N = 2050 with K = 96 is enough work to split panels over 2 threads.
      for (let M = 1; M <= 12; M++) {
        for (const N of [40, 100, 130]) check(M, N, 67, (['none', 'relu', 'gelu'] as const)[M % 3], M % 2 === 0, M * N);
        check(M, 2050, 96, 'relu', M % 2 === 1, M);
      }
    }
  });

  it('applies each activation with and without bias', () => {
    for (const activation of ['none', 'relu', 'gelu'] as const) {
      for (const withBias of [false, true]) check(19, 70, 45, activation, withBias, 3);
    }
  });

  it('keeps leading dimensions and writes into options.out', () => {
    const x = randomTensor([2, 3, 5], 1);
    const w = randomTensor([4, 5], 2);
    const nw = native.linearPack(w);
    const out = Tensor.zeros([2, 3, 4]);
    const got = native.linear(x, nw, { out });
    expect(got).toBe(out);
    expectClose(out.data, reference.linear(x, reference.linearPack(w)).data, 1e-5);
    nw.dispose();
  });

  it('is unaffected by later changes to the packed inputs', () => {
    const w = randomTensor([8, 8], 4);
    const b = randomTensor([8], 5);
    const x = randomTensor([3, 8], 6);
    const want = reference.linear(x, reference.linearPack(w, b));
    const nw = native.linearPack(w, b);
    w.data.fill(0);
    b.data.fill(0);
    expectClose(native.linear(x, nw).data, want.data, 1e-5);
    nw.dispose();
  });

  it('linearUnpack gives back exactly the packed weight and bias, on both backends', () => {
    for (const backend of [native, reference]) {
      for (const [N, K] of [[1, 1], [7, 3], [65, 33], [130, 17]] as const) {
        const w = randomTensor([N, K], N + K);
        const b = randomTensor([N], N);
        const packed = backend.linearPack(w, N % 2 === 1 ? b : undefined);
        const got = backend.linearUnpack(packed);
        expect(got.weight.shape).toEqual([N, K]);
        expect(Array.from(got.weight.data)).toEqual(Array.from(w.data));
        if (N % 2 === 1) expect(Array.from(got.bias!.data)).toEqual(Array.from(b.data));
        else expect(got.bias).toBeUndefined();
        packed.dispose();
        expect(() => backend.linearUnpack(packed)).toThrow(/weights were disposed/);
      }
      expect(() => backend.linearUnpack({} as never)).toThrow(TypeError);
    }
  });

  it('adds a residual after the activation, in place or not, over split depths', () => {
    for (const [M, N, K] of [[1, 40, 30], [7, 65, 600], [130, 96, 1100]]) {
      const x = randomTensor([M, K], M);
      const w = randomTensor([N, K], M + 1);
      const b = randomTensor([N], M + 2);
      const nw = native.linearPack(w, b);
      const rw = reference.linearPack(w, b);
      const tol = 1e-6 * K + 1e-6;
      for (const activation of ['none', 'gelu'] as const) {
        const r = randomTensor([M, N], M + 3);
        const want = reference.linear(x, rw, { activation, residual: r });
        expectClose(native.linear(x, nw, { activation, residual: r }).data, want.data, tol, 1e-6, `residual ${activation} M=${M} K=${K}`);
        if (activation === 'none') {
          expect(native.linear(x, nw, { residual: r, out: r })).toBe(r);
          expectClose(r.data, want.data, tol, 1e-6, `in place M=${M} K=${K}`);
        }
      }
      nw.dispose();
    }
  });

  it('GELU is the exact erf form', () => {
    const x = Tensor.from([-3, -1, -0.5, 0, 0.5, 1, 3], [7, 1]);
    const w = native.linearPack(Tensor.from([1], [1, 1]));
    // 0.5 x (1 + erf(x / sqrt 2)) from tables of erf.
    const want = [-0.0040496, -0.1586553, -0.1542687, 0, 0.3457313, 0.8413447, 2.9959504];
    expectClose(native.linear(x, w, { activation: 'gelu' }).data, want, 2e-6);
    w.dispose();
  });
});
