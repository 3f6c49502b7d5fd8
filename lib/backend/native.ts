// The native backend: the same ops as reference.ts, run by the C++ kernels.
// Arguments are validated here (shared checks with the reference backend);
// the addon only re-checks bounds.
import { Tensor, describe } from '../tensor.js';
import type {
  Activation,
  AttentionOptions,
  Backend,
  DecoderStepPlan,
  DecoderStepSpec,
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
import { DTYPE_CODE, loadAddon, type PackedLinearHandle } from './addon.js';
import { nativeDecoderStepPlan } from './native-step.js';
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

/** The codes of aiayn::Activation (native/kernels/activation.h). */
const ACTIVATION_CODE: Record<Activation, number> = { none: 0, relu: 1, gelu: 2, gelu_tanh: 3, silu: 4 };

class NativeLinearWeights implements LinearWeights {
  readonly handle: PackedLinearHandle;
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly hasBias: boolean;
  readonly dtype: WeightDType;

  constructor(handle: PackedLinearHandle, N: number, K: number, hasBias: boolean, dtype: WeightDType) {
    this.handle = handle;
    this.outFeatures = N;
    this.inFeatures = K;
    this.hasBias = hasBias;
    this.dtype = dtype;
  }

  /** Bytes of native memory held (packed weights and bias). */
  get bytes(): number {
    return this.handle.bytes;
  }

  // Mirrored here: asking the handle would cost a native call on every linear().
  #disposed = false;

  get disposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    this.handle.dispose();
    this.#disposed = true;
  }
}

function checkWeights(weights: unknown, name = 'weights'): NativeLinearWeights {
  if (!(weights instanceof NativeLinearWeights)) {
    throw new TypeError(`${name} must come from the native backend's linearPack, got ${describe(weights)}`);
  }
  if (weights.disposed) throw new Error(`${name} were disposed`);
  return weights;
}

export const native: Backend = {
  name: 'native',

  linearPack(weight: Tensor, bias?: Tensor, options?: LinearPackOptions): LinearWeights {
    const { N, K, dtype } = checkLinearPack(weight, bias, options);
    const handle = new (loadAddon().PackedLinear)(weight.data, N, K, bias ? bias.data : null, DTYPE_CODE[dtype]);
    return new NativeLinearWeights(handle, N, K, bias !== undefined, dtype);
  },

  linearUnpack(weights: LinearWeights): { weight: Tensor; bias?: Tensor } {
    const w = checkWeights(weights);
    const weight = Tensor.zeros([w.outFeatures, w.inFeatures]);
    const bias = w.hasBias ? Tensor.zeros([w.outFeatures]) : undefined;
    w.handle.unpack(weight.data, bias ? bias.data : null);
    return bias ? { weight, bias } : { weight };
  },

  linear(x: Tensor, weights: LinearWeights, options?: LinearOptions): Tensor {
    const w = checkWeights(weights);
    const { M, activation, residual, out } = checkLinear(x, w.outFeatures, w.inFeatures, options);
    loadAddon().linear(x.data, M, w.handle, ACTIVATION_CODE[activation], residual ? residual.data : null, out.data);
    return out;
  },

  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor {
    const a = checkAttention(q, k, v, options);
    const [qsb, qst, qsh] = a.qStrides;
    const [ksb, kst, ksh] = a.kvStrides;
    const view = (t: Tensor, offset: number) => (offset === 0 ? t.data : t.data.subarray(offset));
    loadAddon().attention(
      view(q, a.qOffset), view(k, a.kOffset), view(v, a.vOffset), a.out.data,
      a.B, a.Tq, a.Tk, a.H, a.Dh, qsb, qst, qsh, ksb, kst, ksh,
      a.kvLengths, a.causal, a.scale, a.positionBias ? a.positionBias.data : null, a.L, a.queryOffsets,
    );
    return a.out;
  },

  layernorm(x: Tensor, gamma: Tensor, beta: Tensor, options?: LayerNormOptions): Tensor {
    const a = checkLayerNorm(x, gamma, beta, options);
    loadAddon().layernorm(
      x.data, a.residual ? a.residual.data : null, gamma.data, beta.data, a.eps, a.rows, a.D, a.out.data,
    );
    return a.out;
  },

  rmsnorm(x: Tensor, gamma: Tensor, options?: RmsNormOptions): Tensor {
    const a = checkRmsNorm(x, gamma, options);
    loadAddon().rmsnorm(x.data, a.residual ? a.residual.data : null, gamma.data, a.eps, a.rows, a.D, a.out.data);
    return a.out;
  },

  glu(x: Tensor, activation: Activation, options?: GluOptions): Tensor {
    const a = checkGlu(x, activation, options);
    loadAddon().glu(x.data, a.rows, a.F, ACTIVATION_CODE[a.activation], a.out.data);
    return a.out;
  },

  softmax(x: Tensor, options?: RowOptions): Tensor {
    const { rows, N, out } = checkRowsOut(x, options);
    loadAddon().softmax(x.data, rows, N, out.data);
    return out;
  },

  logSoftmax(x: Tensor, options?: RowOptions): Tensor {
    const { rows, N, out } = checkRowsOut(x, options);
    loadAddon().logSoftmax(x.data, rows, N, out.data);
    return out;
  },

  argmax(x: Tensor): Int32Array {
    const { rows, N } = checkRows(x);
    const result = new Int32Array(rows);
    loadAddon().argmax(x.data, rows, N, result);
    return result;
  },

  topK(x: Tensor, k: number, options?: TopKOptions): { values: Float32Array; indices: Int32Array } {
    const a = checkTopK(x, k, options);
    const values = new Float32Array(a.rows * a.k);
    const indices = new Int32Array(a.rows * a.k);
    loadAddon().topK(x.data, a.rows, a.N, a.k, a.logSoftmax, values, indices);
    return { values, indices };
  },

  embedding(ids: Int32Array, shape: readonly [number, number], table: Tensor | EmbeddingTable, options?: EmbeddingOptions): Tensor {
    const a = checkEmbedding(ids, shape, table, options);
    const P = a.positions ? a.positions.shape[0] : 0;
    const packed = table instanceof EmbeddingTable;
    loadAddon().embedding(
      ids, a.B, a.T, table.data, a.V, a.D, a.scale, a.positions ? a.positions.data : null, P, a.offset, a.out.data,
      a.offsets, a.positionIds, packed ? DTYPE_CODE[table.dtype] : DTYPE_CODE.fp32, packed ? table.scales : null,
    );
    return a.out;
  },

  decoderStepPlan(spec: DecoderStepSpec): DecoderStepPlan {
    return nativeDecoderStepPlan(spec, (w, name) => checkWeights(w, name).handle);
  },
};
