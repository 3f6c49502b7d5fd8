// The numerics of bf16 and int8 linear layers, written out for the reference
// backend; the native kernels follow the same contract (native/kernels/gemm.h):
// - bf16: weights and activations rounded to bfloat16 (round to nearest even),
//   products summed in float (bf16 x bf16 is exact in fp32);
// - int8: weights per output row, activations per row at each call, both
//   symmetric over [-127, 127] with scale max|v| / 127; the integer dot product
//   is exact, then scaled once by t_m · s_n.
// Every intermediate is rounded to fp32 where the kernels round (Math.fround).
import type { WeightDType } from './backend.js';

export const WEIGHT_DTYPES: readonly WeightDType[] = ['fp32', 'bf16', 'int8'];

const f32 = new Float32Array(1);
const MIN_NORMAL = 2 ** -126;
const u32 = new Uint32Array(f32.buffer);

/**
 * The bits of the bfloat16 nearest to fp32(v), ties to even; NaN and ±inf
 * stay; fp32 denormals flush to a signed zero (as vcvtne2ps2bf16, and the
 * kernel threads run with denormals flushed anyway).
 */
export function bf16Bits(v: number): number {
  f32[0] = v;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000) return ((bits & 0x007fffff) !== 0 ? bits | 0x00400000 : bits) >>> 16; // quiet NaN, or ±inf
  if ((bits & 0x7f800000) === 0) return (bits & 0x80000000) >>> 16;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** The value of bfloat16 bits. */
export function bf16Value(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** The bfloat16 value nearest to fp32(v) (see bf16Bits). */
export function bf16Round(v: number): number {
  return bf16Value(bf16Bits(v));
}

/** Each element of `src` rounded to bfloat16, as float values. */
export function bf16RoundAll(src: Float32Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = bf16Round(src[i]);
  return out;
}

/**
 * The index of the first inf or NaN in `data`, or -1. A loop: findIndex with a callback took 0.8 s
 * of the base model's 3.5 s int8 load.
 */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** Round half to even (v is an fp32 value, so exact in float64). */
function rne(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface Int8Rows {
  /** [rows, cols], each in [-127, 127]. */
  q: Int8Array;
  /** Per row: the value of one step, max|row| / 127 in fp32 (0 for a zero row); NaN for a row with a non-finite value. */
  scales: Float32Array;
}

/**
 * Symmetric int8 quantization of each row of `src` [rows, cols]:
 * q = clamp(rne(fp32(v · fp32(127 / max|row|))), -127, 127), scale = fp32(max|row| / 127).
 * A zero row (or one of denormals only) gets q = 0 and scale 0; a row with inf or NaN gets q = 0 and
 * scale NaN (its results are NaN, as they would be in fp32).
 */
export function quantizeRows(src: Float32Array, rows: number, cols: number): Int8Rows {
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let amax = 0;
    for (let k = 0; k < cols; k++) {
      const a = Math.abs(src[o + k]);
      if (Number.isNaN(a)) {
        amax = NaN;
        break;
      }
      if (a > amax) amax = a;
    }
    if (!Number.isFinite(amax)) {
      scales[r] = NaN;
      continue;
    }
    if (amax < MIN_NORMAL) continue; // zero, or denormals only (which the kernel threads read as zero)
    const inv = Math.fround(127 / amax);
    for (let k = 0; k < cols; k++) q[o + k] = Math.max(-127, Math.min(127, rne(Math.fround(src[o + k] * inv))));
    scales[r] = Math.fround(amax / 127);
  }
  return { q, scales };
}
