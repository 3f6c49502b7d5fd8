// Argument checks shared by both backends, so that they fail alike: TypeError
// for a wrong type, RangeError for a bad shape or value, naming the argument
// with the expected and actual values. They return the resolved dimensions.
import { Tensor, checkInt, describe, formatShape, type Shape } from '../tensor.js';
import type {
  Activation, AttentionOptions, EmbeddingOptions, GluOptions, LayerNormOptions, LinearOptions, LinearPackOptions,
  RmsNormOptions, TopKOptions, WeightDType,
} from './backend.js';
import { WEIGHT_DTYPES, firstNonFinite } from './dtypes.js';
import { EmbeddingTable } from './embedding-table.js';

export function checkTensor(name: string, x: unknown, rank?: number): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${name} must be a Tensor, got ${describe(x)}`);
  if (rank !== undefined && x.rank !== rank) {
    throw new RangeError(`${name} must have rank ${rank}, got shape ${formatShape(x.shape)}`);
  }
  if (x.rank === 0) throw new RangeError(`${name} must have rank >= 1, got shape []`);
  for (let i = 0; i < x.rank; i++) {
    if (x.shape[i] < 1) throw new RangeError(`${name} dimension ${i} must be >= 1, got shape ${formatShape(x.shape)}`);
  }
  return x;
}

function checkShapeEquals(name: string, x: Tensor, shape: Shape): void {
  if (x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(`${name} must have shape ${formatShape(shape)}, got ${formatShape(x.shape)}`);
  }
}

function sameView(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function checkOptions(name: string, options: unknown): void {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`${name} must be an object, got ${describe(options)}`);
  }
}

/**
 * Validates `out` (shape, no overlap with `inputs`, given as name, tensor,
 * name, tensor...) or allocates it. `mayAlias` may share memory. A flat array
 * because this runs on every op call.
 */
export function resolveOut(
  out: unknown,
  shape: Shape,
  inputs: ReadonlyArray<string | Tensor | undefined>,
  mayAlias: readonly Tensor[] = [],
): Tensor {
  if (out === undefined) return Tensor.zeros(shape);
  const o = checkTensor('options.out', out);
  checkShapeEquals('options.out', o, shape);
  for (let i = 0; i < inputs.length; i += 2) {
    const t = inputs[i + 1] as Tensor | undefined;
    if (t === undefined || (mayAlias.includes(t) && sameView(o.data, t.data))) continue;
    if (overlaps(o.data, t.data)) throw new RangeError(`options.out must not share memory with ${inputs[i] as string}`);
  }
  return o;
}

export function checkLinearPack(
  weight: unknown,
  bias: unknown,
  options: LinearPackOptions | undefined,
): { N: number; K: number; dtype: WeightDType } {
  const w = checkTensor('weight', weight, 2);
  const [N, K] = w.shape;
  if (bias !== undefined) {
    const b = checkTensor('bias', bias, 1);
    if (b.shape[0] !== N) throw new RangeError(`bias must have shape [${N}], got ${formatShape(b.shape)}`);
  }
  checkOptions('options', options);
  const dtype = checkDType('options.dtype', options?.dtype ?? 'fp32');
  if (dtype === 'int8') {
    // 127 · 127 · K must fit the kernels' int32 sums.
    if (K > INT8_MAX_K) throw new RangeError(`weight must have at most ${INT8_MAX_K} input features for int8, got ${K}`);
    const i = firstNonFinite(w.data);
    if (i >= 0) {
      throw new RangeError(`weight[${Math.floor(i / K)}, ${i % K}] is ${w.data[i]}: int8 weights must be finite`);
    }
  }
  return { N, K, dtype };
}

/** The most input features an int8 linear layer may have (native/kernels/gemm.h kInt8MaxK). */
export const INT8_MAX_K = 131072;

export function checkDType(name: string, dtype: unknown): WeightDType {
  if (!WEIGHT_DTYPES.includes(dtype as WeightDType)) {
    throw new RangeError(`${name} must be one of ${WEIGHT_DTYPES.join(', ')}, got ${describe(dtype)}`);
  }
  return dtype as WeightDType;
}

const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];

function checkActivation(name: string, activation: unknown): Activation {
  if (!ACTIVATIONS.includes(activation as Activation)) {
    throw new RangeError(`${name} must be one of ${ACTIVATIONS.join(', ')}, got ${describe(activation)}`);
  }
  return activation as Activation;
}

export function checkLinear(
  x: unknown,
  N: number,
  K: number,
  options: LinearOptions | undefined,
): { x: Tensor; M: number; activation: Activation; residual?: Tensor; out: Tensor } {
  checkOptions('options', options);
  const t = checkTensor('x', x);
  const last = t.shape[t.rank - 1];
  if (last !== K) {
    throw new RangeError(`x must have last dimension ${K} (weights' inFeatures), got shape ${formatShape(t.shape)}`);
  }
  const activation = checkActivation('options.activation', options?.activation ?? 'none');
  const outShape = [...t.shape.slice(0, -1), N];
  let residual: Tensor | undefined;
  if (options?.residual !== undefined) {
    residual = checkTensor('options.residual', options.residual);
    checkShapeEquals('options.residual', residual, outShape);
    if (overlaps(residual.data, t.data)) throw new RangeError('options.residual must not share memory with x');
  }
  // In place onto the residual only without an activation: the kernel accumulates onto it.
  const out = resolveOut(options?.out, outShape, ['x', t, 'residual', residual], residual && activation === 'none' ? [residual] : []);
  return { x: t, M: t.size / K, activation, residual, out };
}

export interface AttentionDims {
  B: number;
  Tq: number;
  Tk: number;
  H: number;
  Dh: number;
  /** Element strides [batch, time, head] of q, and of k and v; out is contiguous [B, Tq, H, Dh]. */
  qStrides: [number, number, number];
  kvStrides: [number, number, number];
  /** Where q, k and v start in their tensors' data (their slot). */
  qOffset: number;
  kOffset: number;
  vOffset: number;
  kvLengths: Int32Array | null;
  causal: boolean;
  scale: number;
  /** [H, 2L - 1], or null; L its positions; queryOffsets [B] or null (the default positions). */
  positionBias: Tensor | null;
  L: number;
  queryOffsets: Int32Array | null;
  out: Tensor;
}

/** A slot option: required (in [0, S)) for a rank-5 input, absent for a rank-4 one; 0 then. */
function checkSlot(name: string, input: string, t: Tensor, slot: unknown): number {
  if (t.rank === 4) {
    if (slot !== undefined) throw new RangeError(`options.${name} is only for a [B, T, S, H, Dh] ${input}, got ${input} of shape ${formatShape(t.shape)}`);
    return 0;
  }
  if (slot === undefined) throw new RangeError(`options.${name} is required when ${input} is [B, T, S, H, Dh], got ${input} of shape ${formatShape(t.shape)}`);
  return checkInt(`options.${name}`, slot, 0, t.shape[2] - 1);
}

function checkRank45(name: string, x: unknown): Tensor {
  const t = checkTensor(name, x);
  if (t.rank !== 4 && t.rank !== 5) {
    throw new RangeError(`${name} must be [B, T, H, Dh] or [B, T, S, H, Dh], got shape ${formatShape(t.shape)}`);
  }
  return t;
}

export function checkAttention(q: unknown, k: unknown, v: unknown, options: AttentionOptions | undefined): AttentionDims {
  checkOptions('options', options);
  const qt = checkRank45('q', q);
  const kt = checkRank45('k', k);
  const vt = checkRank45('v', v);
  const qS = qt.rank === 5 ? qt.shape[2] : 1;
  const [B, Tq, H, Dh] = qt.rank === 5 ? [qt.shape[0], qt.shape[1], qt.shape[3], qt.shape[4]] : qt.shape;
  const qSlot = checkSlot('qSlot', 'q', qt, options?.qSlot);
  const layout = options?.kvLayout ?? 'bthd';
  if (layout !== 'bthd' && layout !== 'bhtd') {
    throw new RangeError(`options.kvLayout must be 'bthd' or 'bhtd', got ${describe(layout)}`);
  }
  if (layout === 'bhtd' && kt.rank === 5) throw new RangeError("options.kvLayout 'bhtd' takes k of rank 4, got k of rank 5");
  // k and v hold Tcap positions, of which the first Tk (kvLength) are used.
  const Tcap = layout === 'bthd' ? kt.shape[1] : kt.shape[2];
  const kS = kt.rank === 5 ? kt.shape[2] : 1;
  checkShapeEquals('k', kt, layout === 'bhtd' ? [B, H, Tcap, Dh] : kt.rank === 5 ? [B, Tcap, kS, H, Dh] : [B, Tcap, H, Dh]);
  const Tk = options?.kvLength === undefined ? Tcap : checkInt('options.kvLength', options.kvLength, 1, Tcap);
  const kvStrides: [number, number, number] =
    layout === 'bthd' ? [Tcap * kS * H * Dh, kS * H * Dh, Dh] : [H * Tcap * Dh, Dh, Tcap * Dh];
  checkShapeEquals('v', vt, kt.shape);
  const kSlot = checkSlot('kSlot', 'k', kt, options?.kSlot);
  const vSlot = checkSlot('vSlot', 'v', vt, options?.vSlot);
  let kvLengths: Int32Array | null = null;
  if (options?.kvLengths !== undefined) {
    const l = options.kvLengths;
    if (!(l instanceof Int32Array) && !Array.isArray(l)) {
      throw new TypeError(`options.kvLengths must be an Int32Array or an array of integers, got ${describe(l)}`);
    }
    if (l.length !== B) throw new RangeError(`options.kvLengths must have length ${B} (B), got ${l.length}`);
    kvLengths = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const n = l[b];
      // The name is built only on failure: this runs on every attention call.
      kvLengths[b] = Number.isInteger(n) && n >= 0 && n <= Tk ? n : checkInt(`options.kvLengths[${b}]`, n, 0, Tk);
    }
  }
  const causal = options?.causal ?? false;
  if (typeof causal !== 'boolean') throw new TypeError(`options.causal must be a boolean, got ${describe(causal)}`);
  const scale = options?.scale ?? 1 / Math.sqrt(Dh);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new RangeError(`options.scale must be a finite number, got ${describe(scale)}`);
  }
  let positionBias: Tensor | null = null;
  let L = 0;
  let queryOffsets: Int32Array | null = null;
  if (options?.positionBias !== undefined) {
    positionBias = checkTensor('options.positionBias', options.positionBias);
    const [rows, cols] = positionBias.shape;
    if (positionBias.rank !== 2 || rows !== H || cols % 2 !== 1) {
      throw new RangeError(`options.positionBias must have shape [H, 2L - 1] = [${H}, odd], got ${formatShape(positionBias.shape)}`);
    }
    L = (cols + 1) / 2;
    if (Tk > L) {
      throw new RangeError(`options.positionBias covers ${L} positions (shape ${formatShape(positionBias.shape)}), fewer than the ${Tk} keys in use (Tk)`);
    }
    if (options.queryOffsets !== undefined) {
      queryOffsets = checkQueryOffsets(options.queryOffsets, B, Tq, L);
    } else if (Tq > Tk) {
      throw new RangeError(`options.queryOffsets is required with options.positionBias when Tq (${Tq}) > Tk (${Tk}): the default query positions i + Tk - Tq would be negative`);
    }
  } else if (options?.queryOffsets !== undefined) {
    throw new RangeError('options.queryOffsets needs options.positionBias');
  }
  const out = resolveOut(options?.out, [B, Tq, H, Dh], ['q', qt, 'k', kt, 'v', vt, 'positionBias', positionBias ?? undefined]);
  if (queryOffsets && overlaps(out.data, queryOffsets)) throw new RangeError('options.out must not share memory with options.queryOffsets');
  return {
    B, Tq, Tk, H, Dh, qStrides: [Tq * qS * H * Dh, qS * H * Dh, Dh], kvStrides,
    qOffset: qSlot * H * Dh, kOffset: kSlot * H * Dh, vOffset: vSlot * H * Dh, kvLengths, causal, scale,
    positionBias, L, queryOffsets, out,
  };
}

/** Per-row query positions for the position bias: length B, each in [0, L - Tq]. An Int32Array is used as given. */
function checkQueryOffsets(l: unknown, B: number, Tq: number, L: number): Int32Array {
  if (!(l instanceof Int32Array) && !Array.isArray(l)) {
    throw new TypeError(`options.queryOffsets must be an Int32Array or an array of integers, got ${describe(l)}`);
  }
  if (l.length !== B) throw new RangeError(`options.queryOffsets must have length ${B} (B), got ${l.length}`);
  const max = L - Tq;
  for (let b = 0; b < B; b++) {
    const n: unknown = l[b];
    // The name is built only on failure: this runs on every decoder step.
    if (!(Number.isInteger(n) && (n as number) >= 0 && (n as number) <= max)) {
      if (max < 0) {
        throw new RangeError(`options.queryOffsets[${b}] + Tq must be <= ${L} (the positions of options.positionBias), got Tq = ${Tq}`);
      }
      checkInt(`options.queryOffsets[${b}] (with Tq = ${Tq}, L = ${L})`, n, 0, max);
    }
  }
  return l instanceof Int32Array ? l : Int32Array.from(l as readonly number[]);
}

export function checkLayerNorm(
  x: unknown,
  gamma: unknown,
  beta: unknown,
  options: LayerNormOptions | undefined,
): { x: Tensor; rows: number; D: number; gamma: Tensor; beta: Tensor; residual?: Tensor; eps: number; out: Tensor } {
  checkOptions('options', options);
  const t = checkTensor('x', x);
  const D = t.shape[t.rank - 1];
  const g = checkTensor('gamma', gamma, 1);
  const b = checkTensor('beta', beta, 1);
  if (g.shape[0] !== D) throw new RangeError(`gamma must have shape [${D}], got ${formatShape(g.shape)}`);
  if (b.shape[0] !== D) throw new RangeError(`beta must have shape [${D}], got ${formatShape(b.shape)}`);
  let residual: Tensor | undefined;
  if (options?.residual !== undefined) {
    residual = checkTensor('options.residual', options.residual);
    checkShapeEquals('options.residual', residual, t.shape);
  }
  const eps = options?.eps ?? 1e-5;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new RangeError(`options.eps must be a finite number >= 0, got ${describe(eps)}`);
  }
  const aliases = residual ? [t, residual] : [t];
  const out = resolveOut(options?.out, t.shape, ['x', t, 'residual', residual, 'gamma', g, 'beta', b], aliases);
  return { x: t, rows: t.size / D, D, gamma: g, beta: b, residual, eps, out };
}

export function checkRmsNorm(
  x: unknown,
  gamma: unknown,
  options: RmsNormOptions | undefined,
): { x: Tensor; rows: number; D: number; gamma: Tensor; residual?: Tensor; eps: number; out: Tensor } {
  checkOptions('options', options);
  const t = checkTensor('x', x);
  const D = t.shape[t.rank - 1];
  const g = checkTensor('gamma', gamma, 1);
  if (g.shape[0] !== D) throw new RangeError(`gamma must have shape [${D}], got ${formatShape(g.shape)}`);
  let residual: Tensor | undefined;
  if (options?.residual !== undefined) {
    residual = checkTensor('options.residual', options.residual);
    checkShapeEquals('options.residual', residual, t.shape);
  }
  const eps = options?.eps ?? 1e-6;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new RangeError(`options.eps must be a finite number >= 0, got ${describe(eps)}`);
  }
  const aliases = residual ? [t, residual] : [t];
  const out = resolveOut(options?.out, t.shape, ['x', t, 'residual', residual, 'gamma', g], aliases);
  return { x: t, rows: t.size / D, D, gamma: g, residual, eps, out };
}

/** glu: x [..., 2F] viewed as [rows, 2F]; out [..., F], apart from x. */
export function checkGlu(
  x: unknown,
  activation: unknown,
  options: GluOptions | undefined,
): { x: Tensor; rows: number; F: number; activation: Activation; out: Tensor } {
  checkOptions('options', options);
  const t = checkTensor('x', x);
  const last = t.shape[t.rank - 1];
  if (last % 2 !== 0) {
    throw new RangeError(`x must have an even last dimension (2F: the gated and the gate halves), got shape ${formatShape(t.shape)}`);
  }
  const act = checkActivation('activation', activation);
  const F = last / 2;
  const out = resolveOut(options?.out, [...t.shape.slice(0, -1), F], ['x', t]);
  return { x: t, rows: t.size / last, F, activation: act, out };
}

/** For ops over the last dimension: x viewed as [rows, N]. */
export function checkRows(x: unknown): { x: Tensor; rows: number; N: number } {
  const t = checkTensor('x', x);
  const N = t.shape[t.rank - 1];
  return { x: t, rows: t.size / N, N };
}

/** checkRows plus `options.out` (same shape as x; x itself allowed). */
export function checkRowsOut(x: unknown, options: unknown): { x: Tensor; rows: number; N: number; out: Tensor } {
  checkOptions('options', options);
  const r = checkRows(x);
  return { ...r, out: resolveOut((options as { out?: unknown } | undefined)?.out, r.x.shape, ['x', r.x], [r.x]) };
}

/** topK: x viewed as [rows, N], k in [1, N], options.logSoftmax a boolean. */
export function checkTopK(
  x: unknown,
  k: unknown,
  options: TopKOptions | undefined,
): { x: Tensor; rows: number; N: number; k: number; logSoftmax: boolean } {
  checkOptions('options', options);
  const r = checkRows(x);
  const kk = checkInt(`k (with ${r.N} entries per row)`, k, 1, r.N);
  const logSoftmax = options?.logSoftmax ?? false;
  if (typeof logSoftmax !== 'boolean') {
    throw new TypeError(`options.logSoftmax must be a boolean, got ${describe(logSoftmax)}`);
  }
  return { ...r, k: kk, logSoftmax };
}

export function checkEmbedding(
  ids: unknown,
  shape: unknown,
  table: unknown,
  options: EmbeddingOptions | undefined,
): {
  ids: Int32Array; B: number; T: number; V: number; D: number; table: Tensor | EmbeddingTable; scale: number;
  positions?: Tensor; offset: number; offsets: Int32Array | null; positionIds: Int32Array | null; out: Tensor;
} {
  checkOptions('options', options);
  if (!(ids instanceof Int32Array)) throw new TypeError(`ids must be an Int32Array, got ${describe(ids)}`);
  if (!Array.isArray(shape) || shape.length !== 2) {
    throw new TypeError(`shape must be [B, T], got ${describe(shape)}`);
  }
  const B = checkInt('shape[0] (B)', shape[0], 1);
  const T = checkInt('shape[1] (T)', shape[1], 1);
  if (ids.length !== B * T) throw new RangeError(`ids must have length B*T = ${B * T}, got ${ids.length}`);
  const tab = table instanceof EmbeddingTable ? table : checkTensor('table', table, 2);
  const [V, D] = tab.shape;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= V) throw new RangeError(`ids[${i}] must be in [0, ${V - 1}] (vocabulary size ${V}), got ${id}`);
  }
  const scale = options?.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new RangeError(`options.scale must be a finite number, got ${describe(scale)}`);
  }
  if (options?.positionOffset !== undefined && options.positionOffsets !== undefined) {
    throw new RangeError('options.positionOffset and options.positionOffsets are mutually exclusive, got both');
  }
  if (options?.positionIds !== undefined) {
    for (const other of ['positionOffset', 'positionOffsets'] as const) {
      if (options[other] !== undefined) {
        throw new RangeError(`options.positionIds and options.${other} are mutually exclusive, got both`);
      }
    }
  }
  const offset = options?.positionOffset === undefined ? 0 : checkInt('options.positionOffset', options.positionOffset, 0);
  let positions: Tensor | undefined;
  let offsets: Int32Array | null = null;
  let positionIds: Int32Array | null = null;
  if (options?.positions !== undefined) {
    positions = checkTensor('options.positions', options.positions, 2);
    const P = positions.shape[0];
    if (positions.shape[1] !== D) {
      throw new RangeError(`options.positions must have shape [P, ${D}], got ${formatShape(positions.shape)}`);
    }
    if (options.positionIds !== undefined) {
      positionIds = checkPositionIds(options.positionIds, B, T, P);
    } else if (options.positionOffsets !== undefined) {
      offsets = checkPositionOffsets(options.positionOffsets, B, T, P);
    } else if (offset + T > P) {
      throw new RangeError(`options.positionOffset + T = ${offset + T} exceeds the ${P} rows of options.positions`);
    }
  } else if (options?.positionOffset !== undefined || options?.positionOffsets !== undefined || options?.positionIds !== undefined) {
    const name = options.positionIds !== undefined ? 'positionIds' : options.positionOffset !== undefined ? 'positionOffset' : 'positionOffsets';
    throw new RangeError(`options.${name} needs options.positions`);
  }
  const out = resolveOut(options?.out, [B, T, D], ['table', tab instanceof Tensor ? tab : undefined, 'positions', positions]);
  if (overlaps(out.data, ids)) throw new RangeError('options.out must not share memory with ids');
  if (tab instanceof EmbeddingTable && overlaps(out.data, tab.data)) throw new RangeError('options.out must not share memory with table');
  if (offsets && overlaps(out.data, offsets)) throw new RangeError('options.out must not share memory with options.positionOffsets');
  if (positionIds && overlaps(out.data, positionIds)) throw new RangeError('options.out must not share memory with options.positionIds');
  return { ids, B, T, V, D, table: tab, scale, positions, offset, offsets, positionIds, out };
}

/** Per-token position ids: an Int32Array of length B*T, each < P (negative: no position). Used as given. */
function checkPositionIds(l: unknown, B: number, T: number, P: number): Int32Array {
  if (!(l instanceof Int32Array)) throw new TypeError(`options.positionIds must be an Int32Array, got ${describe(l)}`);
  if (l.length !== B * T) throw new RangeError(`options.positionIds must have length B*T = ${B * T}, got ${l.length}`);
  for (let i = 0; i < l.length; i++) {
    if (l[i] >= P) {
      throw new RangeError(
        `options.positionIds[${i}] must be < ${P} (the rows of options.positions; negative for no position), got ${l[i]}`,
      );
    }
  }
  return l;
}

/** Per-row position offsets: length B, each in [0, P - T]. An Int32Array is used as given (no copy per step). */
function checkPositionOffsets(l: unknown, B: number, T: number, P: number): Int32Array {
  if (!(l instanceof Int32Array) && !Array.isArray(l)) {
    throw new TypeError(`options.positionOffsets must be an Int32Array or an array of integers, got ${describe(l)}`);
  }
  if (l.length !== B) throw new RangeError(`options.positionOffsets must have length ${B} (B), got ${l.length}`);
  const max = P - T;
  for (let b = 0; b < B; b++) {
    const n: unknown = l[b];
    // The name is built only on failure: this runs on every decoder step.
    if (!(Number.isInteger(n) && (n as number) >= 0 && (n as number) <= max)) {
      if (max < 0) {
        throw new RangeError(`options.positionOffsets[${b}] + T must be <= ${P} (the rows of options.positions), got T = ${T}`);
      }
      checkInt(`options.positionOffsets[${b}] (with T = ${T}, P = ${P})`, n, 0, max);
    }
  }
  return l instanceof Int32Array ? l : Int32Array.from(l as readonly number[]);
}
