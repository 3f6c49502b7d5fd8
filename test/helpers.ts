// Shared test utilities: seeded random tensors and tolerant comparisons.
import { expect } from 'vitest';
import { Tensor, info, native, reference, type Backend } from '../lib/index.js';
import { rng } from '../lib/random.js';

export { rng };

/** Uniform in [-scale, scale). */
export function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  const next = rng(seed);
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = (next() * 2 - 1) * scale;
  return t;
}

/** Asserts |a - b| <= atol + rtol * |b| elementwise, reporting the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what} element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

export const isa = info().isa;
export const backends: Array<[string, Backend]> = [
  ['native', native],
  ['reference', reference],
];
