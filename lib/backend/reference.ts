// The reference backend: every op in plain TypeScript, written to be read.
// It is the specification the native kernels are tested against, so it
// favours clarity and accuracy (sums in float64) over speed.
import { Tensor } from '../tensor.js';
import type {
  Activation,
  AttentionOptions,
  Backend,
  EmbeddingOptions,
  GluOptions,
  LayerNormOptions,
  LinearOptions,
  LinearPackOptions,
  LinearWeights,
  RmsNormOptions,
  RowOptions,
  TopKOptions,
  WeightDType,
} from './backend.js';
import { bf16RoundAll, quantizeRows, type Int8Rows } from './dtypes.js';
import { EmbeddingTable } from './embedding-table.js';
import {
  checkAttention,
  checkEmbedding,
  checkGlu,
  checkLayerNorm,
  checkLinear,
  checkLinearPack,
  checkRmsNorm,
  checkRowsOut,
  checkRows,
  checkTopK,
} from './validate.js';
import { describe } from '../tensor.js';

class ReferenceLinearWeights implements LinearWeights {
  /** [N, K]: fp32 weights as given, or rounded to bf16; for 'int8', q · s (what unpack gives). */
  #weight: Float32Array | null;
  /** 'int8': the quantized weights [N, K] and their per-row scales [N]. */
  readonly int8: Int8Rows | null;
  readonly bias: Float32Array | null;
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly dtype: WeightDType;

  constructor(weight: Tensor, bias: Tensor | undefined, dtype: WeightDType) {
    const [N, K] = weight.shape;
    [this.outFeatures, this.inFeatures, this.dtype] = [N, K, dtype];
    this.int8 = dtype === 'int8' ? quantizeRows(weight.data, N, K) : null;
    if (this.int8) {
      const { q, scales } = this.int8;
      const w = new Float32Array(N * K); // a loop: Float32Array.from with a map function boxes every value first
      for (let i = 0; i < w.length; i++) w[i] = q[i] * scales[Math.floor(i / K)];
      this.#weight = w;
    } else {
      this.#weight = dtype === 'bf16' ? bf16RoundAll(weight.data) : weight.data.slice();
    }
    this.bias = bias ? bias.data.slice() : null;
  }

  get hasBias(): boolean {
    return this.bias !== null;
  }

  get disposed(): boolean {
    return this.#weight === null;
  }

  /** [N, K]; throws once disposed. */
  get weight(): Float32Array {
    if (this.#weight === null) throw new Error('linear weights were disposed');
    return this.#weight;
  }

  dispose(): void {
    this.#weight = null;
  }
}

function checkWeights(weights: unknown): ReferenceLinearWeights {
  if (!(weights instanceof ReferenceLinearWeights)) {
    throw new TypeError(`weights must come from the reference backend's linearPack, got ${describe(weights)}`);
  }
  if (weights.disposed) throw new Error('weights were disposed');
  return weights;
}

/** erf to ~1e-13: Maclaurin series near 0, continued fraction for erfc in the tails. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** The activation in float64, by its defining formula (see Activation). */
export function activate(x: number, activation: Activation): number {
  switch (activation) {
    case 'relu':
      return x > 0 ? x : 0;
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh': {
      // 0.5 x (1 + tanh z) written as x / (1 + e^(-2z)) (1 + tanh z = 2 sigmoid(2z)):
      // equal, without 1 + tanh z cancelling to 0 for z < -19.
      const z = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
      return x / (1 + Math.exp(-2 * z));
    }
    case 'silu':
      return x / (1 + Math.exp(-x));
    default:
      return x;
  }
}

/**
 * Row x [K] times weight row n, before the bias: a float64 sum for 'fp32' and
 * 'bf16' (x already rounded); for 'int8', the exact integer sum of the
 * quantized row and weights, scaled once in fp32 (lib/backend/dtypes.ts).
 */
function linearRow(w: ReferenceLinearWeights, x: Float32Array, W: Float32Array): (n: number) => number {
  const K = w.inFeatures;
  if (w.int8 === null) {
    return (n) => {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[k] * W[n * K + k];
      return acc;
    };
  }
  const { q, scales } = w.int8;
  const { q: qx, scales: [t] } = quantizeRows(x, 1, K);
  return (n) => {
    let acc = 0;
    for (let k = 0; k < K; k++) acc += qx[k] * q[n * K + k];
    return Number.isNaN(t) ? NaN : Math.fround(Math.fround(acc) * Math.fround(t * scales[n]));
  };
}

export const reference: Backend = {
  name: 'reference',

  linearPack(weight: Tensor, bias?: Tensor, options?: LinearPackOptions): LinearWeights {
    const { dtype } = checkLinearPack(weight, bias, options);
    return new ReferenceLinearWeights(weight, bias, dtype);
  },

  linearUnpack(weights: LinearWeights): { weight: Tensor; bias?: Tensor } {
    const w = checkWeights(weights);
    const weight = new Tensor(w.weight.slice(), [w.outFeatures, w.inFeatures]);
    return w.bias ? { weight, bias: new Tensor(w.bias.slice(), [w.outFeatures]) } : { weight };
  },

  linear(x: Tensor, weights: LinearWeights, options?: LinearOptions): Tensor {
    const w = checkWeights(weights);
    const N = w.outFeatures;
    const K = w.inFeatures;
    const { M, activation, residual, out } = checkLinear(x, N, K, options);
    const W = w.weight; // [N, K]
    for (let m = 0; m < M; m++) {
      const row = x.data.subarray(m * K, (m + 1) * K);
      const dot = linearRow(w, w.dtype === 'bf16' ? bf16RoundAll(row) : row, W);
      for (let n = 0; n < N; n++) {
        const acc = dot(n) + (w.bias ? w.bias[n] : 0);
        out.data[m * N + n] = activate(acc, activation) + (residual ? residual.data[m * N + n] : 0);
      }
    }
    return out;
  },

  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor {
    const a = checkAttention(q, k, v, options);
    const { B, Tq, Tk, H, Dh, kvLengths, causal, scale, positionBias, L, queryOffsets, out } = a;
    const [qsb, qst, qsh] = a.qStrides; // q: [B, Tq, H, Dh] or a slot of [B, Tq, S, H, Dh]
    const [ksb, kst, ksh] = a.kvStrides; // k and v: [B, Tk, H, Dh], a slot of [B, Tk, S, H, Dh], or [B, H, Tcap, Dh]
    const scores = new Float64Array(Tk);
    for (let b = 0; b < B; b++) {
      const valid = kvLengths ? kvLengths[b] : Tk;
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < Tq; i++) {
          const qo = a.qOffset + b * qsb + i * qst + h * qsh;
          const oo = ((b * Tq + i) * H + h) * Dh; // out: contiguous [B, Tq, H, Dh]
          const last = Math.min(valid, causal ? i + (Tk - Tq) + 1 : Tk); // keys [0, last) are visible
          const p = queryOffsets ? queryOffsets[b] + i : i + (Tk - Tq); // the query's position, for the bias
          let max = -Infinity;
          for (let j = 0; j < last; j++) {
            const ko = a.kOffset + b * ksb + j * kst + h * ksh;
            let dot = 0;
            for (let d = 0; d < Dh; d++) dot += q.data[qo + d] * k.data[ko + d];
            scores[j] = dot * scale + (positionBias ? positionBias.data[h * (2 * L - 1) + (j - p) + L - 1] : 0);
            if (scores[j] > max) max = scores[j];
          }
          let sum = 0;
          for (let j = 0; j < last; j++) {
            scores[j] = Math.exp(scores[j] - max);
            sum += scores[j];
          }
          for (let d = 0; d < Dh; d++) {
            let acc = 0;
            for (let j = 0; j < last; j++) acc += scores[j] * v.data[a.vOffset + b * ksb + j * kst + h * ksh + d];
            out.data[oo + d] = last > 0 ? acc / sum : 0;
          }
        }
      }
    }
    return out;
  },

  layernorm(x: Tensor, gamma: Tensor, beta: Tensor, options?: LayerNormOptions): Tensor {
    const { rows, D, residual, eps, out } = checkLayerNorm(x, gamma, beta, options);
    const z = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      let mean = 0;
      for (let d = 0; d < D; d++) {
        z[d] = x.data[r * D + d] + (residual ? residual.data[r * D + d] : 0);
        mean += z[d];
      }
      mean /= D;
      let variance = 0;
      for (let d = 0; d < D; d++) variance += (z[d] - mean) ** 2;
      variance /= D; // biased, as PyTorch
      const inv = 1 / Math.sqrt(variance + eps);
      for (let d = 0; d < D; d++) out.data[r * D + d] = (z[d] - mean) * inv * gamma.data[d] + beta.data[d];
    }
    return out;
  },

  rmsnorm(x: Tensor, gamma: Tensor, options?: RmsNormOptions): Tensor {
    const { rows, D, residual, eps, out } = checkRmsNorm(x, gamma, options);
    const z = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      let sumsq = 0;
      for (let d = 0; d < D; d++) {
        z[d] = x.data[r * D + d] + (residual ? residual.data[r * D + d] : 0);
        sumsq += z[d] * z[d];
      }
      const inv = 1 / Math.sqrt(sumsq / D + eps);
      for (let d = 0; d < D; d++) out.data[r * D + d] = z[d] * inv * gamma.data[d];
    }
    return out;
  },

  glu(x: Tensor, activation: Activation, options?: GluOptions): Tensor {
    const { rows, F, activation: act, out } = checkGlu(x, activation, options);
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < F; f++) {
        out.data[r * F + f] = activate(x.data[r * 2 * F + f], act) * x.data[r * 2 * F + F + f];
      }
    }
    return out;
  },

  softmax(x: Tensor, options?: RowOptions): Tensor {
    const { rows, N, out } = checkRowsOut(x, options);
    const e = new Float64Array(N);
    for (let r = 0; r < rows; r++) {
      const max = rowMax(x.data, r * N, N);
      let sum = 0;
      for (let n = 0; n < N; n++) {
        e[n] = max === -Infinity ? 0 : Math.exp(x.data[r * N + n] - max);
        sum += e[n];
      }
      for (let n = 0; n < N; n++) out.data[r * N + n] = sum > 0 ? e[n] / sum : 0;
    }
    return out;
  },

  logSoftmax(x: Tensor, options?: RowOptions): Tensor {
    const { rows, N, out } = checkRowsOut(x, options);
    for (let r = 0; r < rows; r++) {
      const max = rowMax(x.data, r * N, N);
      let sum = 0;
      for (let n = 0; n < N; n++) sum += max === -Infinity ? 0 : Math.exp(x.data[r * N + n] - max);
      const logSum = max === -Infinity ? -Infinity : max + Math.log(sum);
      for (let n = 0; n < N; n++) out.data[r * N + n] = max === -Infinity ? -Infinity : x.data[r * N + n] - logSum;
    }
    return out;
  },

  argmax(x: Tensor): Int32Array {
    const { rows, N } = checkRows(x);
    const result = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let n = 1; n < N; n++) {
        const value = x.data[r * N + n];
        const top = x.data[r * N + best];
        if (Number.isNaN(top)) break;
        if (Number.isNaN(value) || value > top) best = n;
      }
      result[r] = best;
    }
    return result;
  },

  topK(x: Tensor, k: number, options?: TopKOptions): { values: Float32Array; indices: Int32Array } {
    const { rows, N, k: kk, logSoftmax } = checkTopK(x, k, options);
    // The values ranked: x itself, or its log-softmax as this backend computes it.
    const ranked = logSoftmax ? reference.logSoftmax(x).data : x.data;
    const values = new Float32Array(rows * kk);
    const indices = new Int32Array(rows * kk);
    const order = Array.from({ length: N }, (_, i) => i);
    for (let r = 0; r < rows; r++) {
      const row = ranked.subarray(r * N, (r + 1) * N);
      order.sort((a, b) => rankCompare(row[a], row[b]) || a - b);
      for (let j = 0; j < kk; j++) {
        indices[r * kk + j] = order[j];
        values[r * kk + j] = row[order[j]];
      }
      for (let i = 0; i < N; i++) order[i] = i;
    }
    return { values, indices };
  },

  embedding(ids: Int32Array, shape: readonly [number, number], table: Tensor | EmbeddingTable, options?: EmbeddingOptions): Tensor {
    const { B, T, D, scale, positions, offset, offsets, positionIds, out } = checkEmbedding(ids, shape, table, options);
    const value = table instanceof EmbeddingTable ? (i: number) => table.value(Math.floor(i / D), i % D) : (i: number) => table.data[i];
    for (let b = 0; b < B; b++) {
      const first = offsets ? offsets[b] : offset; // the position of time step 0 of row b
      for (let t = 0; t < T; t++) {
        const row = ids[b * T + t];
        const o = (b * T + t) * D;
        // The position row of this token, or -1 for none (a negative position id: no add at all).
        const pos = !positions ? -1 : positionIds ? positionIds[b * T + t] : first + t;
        for (let d = 0; d < D; d++) {
          const e = value(row * D + d) * scale;
          out.data[o + d] = pos < 0 ? e : e + positions!.data[pos * D + d];
        }
      }
    }
    return out;
  },
};

/** Negative when a ranks before b in topK: larger first, NaN above every number, NaNs equal (-0 equals +0). */
function rankCompare(a: number, b: number): number {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? -1 : 1;
  return a > b ? -1 : a < b ? 1 : 0;
}

function rowMax(data: Float32Array, start: number, n: number): number {
  let max = -Infinity;
  for (let i = start; i < start + n; i++) if (data[i] > max) max = data[i];
  return max;
}
