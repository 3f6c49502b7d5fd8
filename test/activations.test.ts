// The activations of the linear epilogue and glu ('gelu_tanh', 'silu' next to
// 'none', 'relu', 'gelu'): the reference against independent formulas, native
// (active ISA, 1 and 2 threads) against the reference elementwise over dense
// sweeps and special values, in linear over edge M/N/K, and glu over edge
// shapes. Bounds tested: elementwise |native - reference| <= 2e-7 * max(1, |y|)
// (measured: 2^-23, one ulp of max(1, |y|), on every ISA); silu also within
// 3 ulp of |y| (|y| >= 1e-30; measured 2); non-finite inputs exactly as PyTorch.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, type Activation } from '../lib/index.js';
import { activate } from '../lib/backend/reference.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

const ACTIVATIONS: Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];
const SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000];

/** Independent forms: tanh for gelu_tanh (the reference uses the sigmoid), tanh for silu's sigmoid. */
function naive(x: number, act: Activation): number {
  if (act === 'gelu_tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  if (act === 'silu') return x * 0.5 * (1 + Math.tanh(x / 2));
  if (act === 'relu') return Math.max(x, 0);
  if (act === 'none') return x;
  return NaN;
}

/** float32 values: a dense grid on [-30, 30], random magnitudes 1e-5..1e4 of both signs, extremes. */
function sweep(): Float32Array {
  const v: number[] = [];
  for (let x = -30; x <= 30; x += 1 / 512) v.push(x);
  const next = rng(5);
  for (let i = 0; i < 50000; i++) v.push((next() * 2 - 1) * Math.exp(next() * 21 - 11.5));
  v.push(100, -100, 88.7, -88.7, 1e30, -1e30, 3.4e38, -3.4e38, 0, -0, 1e-40, -1e-40);
  return Float32Array.from(v);
}

/** glu over [1, 2F] with the gate half 1: act(x) itself. */
function activated(backend: typeof native, xs: Float32Array, act: Activation): Float32Array {
  const x = Tensor.zeros([1, 2 * xs.length]);
  x.data.set(xs);
  x.data.fill(1, xs.length);
  return backend.glu(x, act).data;
}

describe('activation reference', () => {
  it('matches independent formulas', () => {
    for (const act of ['none', 'relu', 'gelu_tanh', 'silu'] as const) {
      for (let x = -40; x <= 40; x += 0.01) {
        const want = naive(x, act);
        // Absolute tolerance: 1 + tanh(z) cancels for very negative x in the naive form.
        expect(Math.abs(activate(x, act) - want), `${act}(${x})`).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(x)));
      }
    }
    // gelu against a few values of erf.
    expect(activate(1, 'gelu')).toBeCloseTo(0.8413447460685429, 14);
    expect(activate(-1, 'gelu')).toBeCloseTo(-0.15865525393145707, 14);
    expect(activate(-0.5, 'gelu_tanh')).toBeCloseTo(-0.15428599017485606, 14); // torch gelu(-0.5, approximate='tanh') in float64
    expect(activate(2, 'silu')).toBeCloseTo(2 / (1 + Math.exp(-2)), 15);
  });
});

describe(`activations on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  it('are within 2e-7 * max(1, |y|) of the reference over a dense sweep', () => {
    const xs = sweep();
    for (const act of ACTIVATIONS) {
      const got = activated(native, xs, act);
      const want = activated(reference, xs, act);
      for (let i = 0; i < xs.length; i++) {
        const err = Math.abs(got[i] - want[i]);
        if (!(err <= 2e-7 * Math.max(1, Math.abs(want[i])))) expect.fail(`${act}(${xs[i]}): got ${got[i]}, expected ${want[i]}`);
        if (act === 'silu' && Math.abs(want[i]) >= 1e-30) {
          const ulp = 2 ** (Math.floor(Math.log2(Math.abs(want[i]))) - 23);
          if (!(err <= 3 * ulp)) expect.fail(`silu(${xs[i]}): got ${got[i]}, expected ${want[i]} (${err / ulp} ulp)`);
        }
      }
    }
  });

  it('give PyTorch\'s results at +-100, +-inf and NaN', () => {
    const xs = Float32Array.of(100, -100, Infinity, -Infinity, NaN, 1e30, -1e30);
    // torch.nn.functional.gelu(x, approximate='tanh') and silu(x) in float32.
    const torch = [100, -0, Infinity, NaN, NaN, 1e30, -0];
    for (const backend of [native, reference]) {
      for (const act of ['gelu_tanh', 'silu'] as const) {
        const got = Array.from(activated(backend, xs, act));
        got.forEach((g, i) => {
          // The reference rounds the exact silu(-100) = -3.7e-42 (denormal); float32 PyTorch overflows e^100 to -0.
          if (backend === reference && xs[i] === -100) return expect(Math.abs(g)).toBeLessThan(1e-40);
          expect(Object.is(g, Math.fround(torch[i])) || (Number.isNaN(g) && Number.isNaN(torch[i])), `${backend.name} ${act}(${xs[i]}) = ${g}`).toBe(true);
        });
      }
    }
  });

  for (const threads of [1, 2]) {
    it(`linear with gelu_tanh and silu matches the reference over edge M/N/K, ${threads} thread(s)`, () => {
      setThreads(threads);
      const shapes: Array<[number, number, number]> = [];
      for (const s of SIZES) shapes.push([s, 33, 65], [7, s, 31], [17, 64, s]);
      for (let M = 1; M <= 12; M++) shapes.push([M, 130, 67]);
      shapes.push([300, 300, 200], [1, 2050, 96]);
      shapes.forEach(([M, N, K], i) => {
        const x = randomTensor([M, K], i, 2);
        const w = randomTensor([N, K], i + 1);
        const b = i % 2 === 0 ? randomTensor([N], i + 2) : undefined;
        const nw = native.linearPack(w, b);
        const rw = reference.linearPack(w, b);
        for (const activation of ['gelu_tanh', 'silu'] as const) {
          const residual = i % 3 === 0 ? randomTensor([M, N], i + 3) : undefined;
          const what = `linear M=${M} N=${N} K=${K} ${activation} bias=${b !== undefined} residual=${residual !== undefined}`;
          expectClose(native.linear(x, nw, { activation, residual }).data, reference.linear(x, rw, { activation, residual }).data, 2e-6 * K + 1e-6, 1e-6, what);
        }
        nw.dispose();
      });
    });

    it(`glu matches the reference for every activation over edge shapes, ${threads} thread(s)`, () => {
      setThreads(threads);
      for (const rows of [1, 3, 65]) for (const F of SIZES) {
        const x = randomTensor([rows, 2 * F], rows * 1000 + F, 6);
        for (const act of ACTIVATIONS) {
          const out = Tensor.zeros([rows, F]);
          expect(native.glu(x, act, { out })).toBe(out);
          expectClose(out.data, reference.glu(x, act).data, 1e-6, 4e-7, `glu rows=${rows} F=${F} ${act}`);
        }
      }
      // Higher rank: [B, T, 2F] -> [B, T, F].
      const x = randomTensor([2, 5, 2 * 24], 9, 3);
      const y = native.glu(x, 'gelu_tanh');
      expect(y.shape).toEqual([2, 5, 24]);
      expectClose(y.data, reference.glu(x, 'gelu_tanh').data, 1e-6, 4e-7);
    });
  }

  it('glu reference matches plain loops', () => {
    const [rows, F] = [4, 9];
    const x = randomTensor([rows, 2 * F], 3, 4);
    for (const act of ['none', 'relu', 'gelu_tanh', 'silu'] as const) {
      const y = reference.glu(x, act);
      for (let r = 0; r < rows; r++) for (let f = 0; f < F; f++) {
        const want = naive(x.data[r * 2 * F + f], act) * x.data[r * 2 * F + F + f];
        expect(Math.abs(y.data[r * F + f] - want)).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(want)));
      }
    }
  });
});
