// The raw addon's bf16 and int8 PackedLinear (issue #12's contract): packing
// from fp32 and from raw bf16 bits, dequantised unpack, a hand-worked int8
// product, the dtype accessor, info().gemm and the argument re-checks. The
// kernels themselves are held against the contract's double loops on every
// ISA in native/tests/test_gemm_dt.cc.
import { describe, expect, it } from 'vitest';
import { loadAddon, type Isa } from '../lib/backend/addon.js';

const addon = loadAddon();
const f = Math.fround;

describe('PackedLinear dtypes', () => {
  it('bf16 rounds to nearest even, from fp32 or the same raw bits', () => {
    // [2, 2]: 1 + 2^-8 ties down to 1 (even), 1 + 3 * 2^-8 ties up to 1 + 2^-6 (even), 3 and -0.5 exact.
    const w = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 3, -0.5);
    const packed = new addon.PackedLinear(w, 2, 2, null, 1);
    expect(packed.dtype).toBe(1);
    const back = new Float32Array(4);
    packed.unpack(back, null);
    expect(Array.from(back)).toEqual([1, 1 + 2 ** -6, 3, -0.5]);
    const bits = Uint16Array.of(0x3f80, 0x3f82, 0x4040, 0xbf00); // the same four bf16 values
    const fromBits = new addon.PackedLinear(bits, 2, 2, null, 1);
    const back2 = new Float32Array(4);
    fromBits.unpack(back2, null);
    expect(Array.from(back2)).toEqual(Array.from(back));
    // x = [1, 1 + 2^-8] rounds to [1, 1]: y = [1 + 1 + 2^-6, 3 - 0.5].
    const y = new Float32Array(2);
    addon.linear(Float32Array.of(1, 1 + 2 ** -8), 1, fromBits, 0, null, y);
    expect(Array.from(y)).toEqual([2 + 2 ** -6, 2.5]);
    packed.dispose();
    fromBits.dispose();
  });

  it('int8 quantises weights per output row and x per row, with exact integer sums', () => {
    // Row 0: a = 2, inv = 63.5: q = [127, rne(-63.5) = -64, rne(31.75) = 32, 0], s = 2/127. Row 1: all zero.
    const w = Float32Array.of(2, -1, 0.5, 0, 0, 0, 0, 0);
    const bias = Float32Array.of(0.25, -1);
    const packed = new addon.PackedLinear(w, 2, 4, bias, 2);
    expect(packed.dtype).toBe(2);
    const s = f(2 / 127);
    const back = new Float32Array(8);
    packed.unpack(back, null);
    expect(Array.from(back)).toEqual([f(127 * s), f(-64 * s), f(32 * s), 0, 0, 0, 0, 0]);
    // x = [1, 0, 0.5, -0.25]: b = 1, qx = [127, 0, rne(63.5) = 64, rne(-31.75) = -32], t = 1/127;
    // acc = 127 * 127 + 64 * 32 = 18177.
    const y = new Float32Array(2);
    addon.linear(Float32Array.of(1, 0, 0.5, -0.25), 1, packed, 0, null, y);
    const want = f(f(18177 * f(f(1 / 127) * s)) + 0.25);
    expect(y[0]).toBe(want);
    expect(y[1]).toBe(-1);
    // A row holding inf gives NaN (before the bias); a zero row gives the bias.
    const y2 = new Float32Array(4);
    addon.linear(Float32Array.of(1, Infinity, 0, 0, 0, 0, 0, 0), 2, packed, 0, null, y2);
    expect(Array.from(y2)).toEqual([NaN, NaN, 0.25, -1]);
    packed.dispose();
  });

  it('bytes counts the smaller packed weights', () => {
    const N = 64, K = 256;
    const w = new Float32Array(N * K).fill(0.5);
    const sizes = [0, 1, 2].map((dtype) => {
      const p = new addon.PackedLinear(w, N, K, null, dtype as 0 | 1 | 2);
      const bytes = p.bytes;
      p.dispose();
      return bytes;
    });
    expect(sizes[0]).toBe(N * K * 4);
    expect(sizes[1]).toBe(N * K * 2);
    expect(sizes[2]).toBe(N * K + 2 * N * 4); // + per-column scales and sums
  });

  it('info().gemm names the micro-kernel of each dtype on the active ISA', () => {
    const { isa, gemm } = addon.info();
    // The ISA suffix of each dtype's kernel: a level without a path of its own for a dtype runs the one below.
    const suffixes: Record<Isa, [string, string, string]> = {
      scalar: ['scalar', 'scalar', 'scalar'],
      avx2: ['avx2', 'avx2', 'avx2'],
      avx512: ['avx512', 'avx512', 'avx512'],
      avx512_vnni: ['avx512', 'avx512', 'avx512vnni'],
      avx512_bf16: ['avx512', 'avx512bf16', 'avx512vnni'],
      neon: ['neon', 'neon', 'neon'],
      neon_dotprod: ['neon', 'neon', 'neondot'],
      neon_i8mm_bf16: ['neon', 'neonbf16', 'neoni8mm'],
    };
    const [fp32, bf16, int8] = suffixes[isa];
    expect(gemm.fp32).toMatch(new RegExp(`^f32_gemm_\\d+x\\d+__${fp32}$`));
    expect(gemm.bf16).toMatch(new RegExp(`^bf16_f32_gemm_\\d+x\\d+__${bf16}$`));
    expect(gemm.int8).toMatch(new RegExp(`^qd8_f32_qc8w_gemm_\\d+x\\d+__${int8}$`));
  });

  it('re-checks dtype, the weight type and the int8 depth limit', () => {
    const Packed = addon.PackedLinear as unknown as new (...a: unknown[]) => unknown;
    const w = new Float32Array(4);
    expect(() => new Packed(w, 2, 2, null, 3)).toThrow(/dtype must be an integer in \[0, 2\], got 3/);
    expect(() => new Packed(w, 2, 2, null, '1')).toThrow(TypeError);
    expect(() => new Packed(new Uint16Array(4), 2, 2, null, 0)).toThrow(/weight must be a Float32Array/);
    expect(() => new Packed(new Uint16Array(4), 2, 2, null, 2)).toThrow(/weight must be a Float32Array/);
    expect(() => new Packed(new Uint16Array(3), 2, 2, null, 1)).toThrow(/weight must have at least 4 elements, got 3/);
    expect(() => new Packed(new Float64Array(4), 2, 2, null, 1)).toThrow(/Float32Array or a Uint16Array of bf16 bits/);
    expect(() => new Packed(new Float32Array(131073), 1, 131073, null, 2)).toThrow(
      /K must be at most 131072 for int8 weights \(int32 sums\), got 131073/,
    );
    expect(() => new Packed(w, 2, 2, null, 1, 0)).toThrow(/PackedLinear expects 4 or 5 arguments, got 6/);
  });
});
