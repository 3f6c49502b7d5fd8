// The bf16 and int8 arithmetic of lib/backend/dtypes.ts and the reference
// backend's linear in each dtype, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { Tensor, bf16Round, quantizeRows, reference } from '../lib/index.js';
import { firstNonFinite } from '../lib/backend/dtypes.js';

const f = Math.fround;

describe('bf16Round', () => {
  it('rounds to the nearest bfloat16, ties to even', () => {
    expect(bf16Round(1)).toBe(1);
    expect(bf16Round(1 + 2 ** -8)).toBe(1); // halfway between 1 and 1 + 2^-7: the even one
    expect(bf16Round(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // halfway between 1 + 2^-7 and 1 + 2^-6
    expect(bf16Round(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7); // just above halfway
    expect(bf16Round(-3.14159)).toBe(-3.140625);
    expect(bf16Round(65504)).toBe(65536); // 0xFFE0: 8 mantissa bits cannot hold it
  });

  it('flushes fp32 denormals to a signed zero', () => {
    expect(Object.is(bf16Round(-(2 ** -130)), -0)).toBe(true);
    expect(bf16Round(2 ** -126)).toBe(2 ** -126);
  });

  it('keeps ±0, ±inf and NaN, and overflows to inf past the largest bfloat16', () => {
    expect(Object.is(bf16Round(-0), -0)).toBe(true);
    expect(bf16Round(Infinity)).toBe(Infinity);
    expect(bf16Round(-Infinity)).toBe(-Infinity);
    expect(bf16Round(NaN)).toBeNaN();
    expect(bf16Round(3.4028234663852886e38)).toBe(Infinity); // FLT_MAX rounds up past 0x7F7F
    expect(bf16Round(3.3895313892515355e38)).toBe(3.3895313892515355e38); // 0x7F7F0000, the largest bfloat16
  });
});

describe('quantizeRows', () => {
  it('scales each row by max|v| / 127 and rounds half to even', () => {
    const { q, scales } = quantizeRows(Float32Array.from([1, -0.5, 0.25, 0, 127, 2.5, 3.5, -127]), 2, 4);
    // Row 0: 127 / 1 = 127 per unit: -63.5 -> -64 (even), 31.75 -> 32.
    // Row 1: 1 per unit: 2.5 -> 2, 3.5 -> 4.
    expect([...q]).toEqual([127, -64, 32, 0, 127, 2, 4, -127]);
    expect(scales[0]).toBe(f(1 / 127));
    expect(scales[1]).toBe(1);
  });

  it('gives a zero row (or denormals only) scale 0 and a row with inf or NaN scale NaN', () => {
    const { q, scales } = quantizeRows(Float32Array.from([0, 0, 1, Infinity, NaN, 2, 2 ** -130, -(2 ** -127)]), 4, 2);
    expect([...q]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(scales[0]).toBe(0);
    expect(scales[1]).toBeNaN();
    expect(scales[2]).toBeNaN();
    expect(scales[3]).toBe(0); // denormals only
  });
});

describe('firstNonFinite', () => {
  it('finds the first inf or NaN, or gives -1', () => {
    expect(firstNonFinite(Float32Array.from([0, -1, 3.4e38, 2 ** -149]))).toBe(-1);
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    expect(firstNonFinite(Float32Array.from([1, NaN, Infinity]))).toBe(1);
    expect(firstNonFinite(Float32Array.from([1, 2, -Infinity]))).toBe(2);
    expect(firstNonFinite(Float32Array.from([Infinity]))).toBe(0);
  });
});

describe('reference linear by dtype', () => {
  const x = Tensor.from([1 + 2 ** -8, 3], [1, 2]);
  const w = Tensor.from([1 + 3 * 2 ** -8, 2, 0.5, 0.25], [2, 2]);
  const bias = Tensor.from([0.5, -1], [2]);

  it('bf16 rounds both operands, then sums exactly', () => {
    const y = reference.linear(x, reference.linearPack(w, bias, { dtype: 'bf16' }));
    // x -> [1, 3]; row 0 of w -> [1 + 2^-6, 2]; row 1 is exact in bf16.
    expect([...y.data]).toEqual([1 + 2 ** -6 + 6 + 0.5, 0.5 + 0.75 - 1]);
  });

  it('int8 multiplies the quantized integers exactly and scales once', () => {
    const xi = Tensor.from([1, -0.5], [1, 2]);
    const y = reference.linear(xi, reference.linearPack(w, bias, { dtype: 'int8' }));
    // x: step 1/127, q = [127, -64]. w row 0: max 2, step 2/127, q = [rne(63.5 (1 + 3 * 2^-8)), 127] = [64, 127];
    // row 1: max 0.5, step 0.5/127, q = [127, rne(63.5)] = [127, 64].
    // Row 0: 127 * 64 - 64 * 127 = 0, then + 0.5. Row 1: 127 * 127 - 64 * 64 = 12033 steps of (1/127)(0.5/127), then - 1.
    expect(y.data[0]).toBe(0.5);
    expect(y.data[1]).toBe(f(f(12033 * f(f(1 / 127) * f(0.5 / 127))) - 1));
  });

  it('unpacks what it multiplies with: bf16 values, or q · scale', () => {
    const bf = reference.linearUnpack(reference.linearPack(w, undefined, { dtype: 'bf16' })).weight;
    expect([...bf.data]).toEqual([1 + 2 ** -6, 2, 0.5, 0.25]);
    const i8 = reference.linearUnpack(reference.linearPack(w, undefined, { dtype: 'int8' })).weight;
    // Row 0: max 2 -> step 2/127, q = [rne(127 (1 + 3 * 2^-8) / 2), 127] = [64, 127]; row 1: max 0.5 -> q = [127, 64].
    expect([...i8.data]).toEqual([64 * f(2 / 127), 127 * f(2 / 127), 127 * f(0.5 / 127), 64 * f(0.5 / 127)].map(f));
  });

  it('reports its dtype and rejects unknown dtypes and non-finite int8 weights', () => {
    expect(reference.linearPack(w).dtype).toBe('fp32');
    expect(reference.linearPack(w, undefined, { dtype: 'int8' }).dtype).toBe('int8');
    expect(() => reference.linearPack(w, undefined, { dtype: 'fp16' as 'bf16' })).toThrow(
      new RangeError('options.dtype must be one of fp32, bf16, int8, got "fp16"'),
    );
    expect(() => reference.linearPack(Tensor.from([1, NaN], [1, 2]), undefined, { dtype: 'int8' })).toThrow(
      new RangeError('weight[0, 1] is NaN: int8 weights must be finite'),
    );
    expect(() => reference.linearPack(new Tensor(new Float32Array(131073), [1, 131073]), undefined, { dtype: 'int8' })).toThrow(
      new RangeError('weight must have at most 131072 input features for int8, got 131073'),
    );
  });
});
