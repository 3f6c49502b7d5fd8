// Multi-head attention (paper §3.2.2): per-head projections of Q, K and V, fused
// scaled-dot-product attention, and the output projection. The encoder's
// self-attention projects Q, K and V in one GEMM ([Wq; Wk; Wv], N = 3D); the
// decoder's attentions project Q in one GEMM and K, V in another ([Wk; Wv]):
// cross-attention's K, V from the encoder output once per request, and
// self-attention's K, V of a decode step straight into the cache rows they
// belong to (the fused step), where Q goes elsewhere. Attention reads the
// slots of these fused outputs in place.
import { Tensor } from '../tensor.js';
import type { AttentionOptions, Backend, LinearWeights, WeightDType } from '../backend/backend.js';
import type { TransformerConfig } from './config.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

/** Slots of a fused [B, T, 3, H, Dh] self-attention projection. */
export const QKV_SLOTS = { qSlot: 0, kSlot: 1, vSlot: 2 } as const;
/** Slots of a fused [B, S, 2, H, Dh] cross-attention key/value projection. */
export const KV_SLOTS = { kSlot: 0, vSlot: 1 } as const;

/** The rows [from, from + n) of a [*, D] matrix and of its bias, as views. */
function rowBlock(w: Tensor, b: Tensor | undefined, from: number, n: number): [Tensor, Tensor | undefined] {
  const D = w.shape[1];
  return [
    new Tensor(w.data.subarray(from * D, (from + n) * D), [n, D]),
    b && new Tensor(b.data.subarray(from, from + n), [n]),
  ];
}

export class MultiHeadAttention {
  readonly heads: number;
  readonly headDim: number;
  /** 'qkv': [Wq; Wk; Wv] [3A, D]; 'q+kv': Wq [A, D] (A = H·Dh). */
  readonly inProj: LinearWeights;
  /** 'q+kv' only: [Wk; Wv] [2A, D]. */
  readonly kvProj: LinearWeights | undefined;
  readonly outProj: LinearWeights;
  readonly #backend: Backend;
  readonly #ws: Workspace;
  /** 1 where the config folds no 1/sqrt(Dh) into q·k (T5); otherwise the kernels' default. */
  readonly #scale: number | undefined;

  /**
   * Takes `${prefix}.in_proj_weight` [3A, D] (rows Wq, Wk, Wv), its bias and
   * `${prefix}.out_proj.*` (biases as the config says); packs the input
   * projection whole ('qkv') or as Wq and [Wk; Wv] ('q+kv').
   */
  constructor(
    backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, c: TransformerConfig, packing: 'qkv' | 'q+kv',
    dtype: WeightDType,
  ) {
    this.#backend = backend;
    this.#ws = ws;
    this.heads = c.heads;
    this.headDim = c.headDim;
    this.#scale = c.scaleAttention ? undefined : 1;
    const A = c.heads * c.headDim;
    const w = weights.takeTransient(`${prefix}.in_proj_weight`);
    const b = c.bias ? weights.take(`${prefix}.in_proj_bias`) : undefined;
    if (packing === 'qkv') {
      this.inProj = backend.linearPack(w, b, { dtype });
    } else {
      this.inProj = backend.linearPack(...rowBlock(w, b, 0, A), { dtype });
      this.kvProj = backend.linearPack(...rowBlock(w, b, A, 2 * A), { dtype });
    }
    this.outProj = backend.linearPack(
      weights.takeTransient(`${prefix}.out_proj.weight`),
      c.bias ? weights.take(`${prefix}.out_proj.bias`) : undefined,
      { dtype },
    );
  }

  /** 'qkv': q, k, v of x [B, T, D]: [B, T, 3, H, Dh] in the workspace (slots QKV_SLOTS). */
  projectSelf(x: Tensor): Tensor {
    const [B, T] = x.shape;
    const [H, Dh] = [this.heads, this.headDim];
    const qkv = this.#ws.take('attn.qkv', [B, T, 3, H, Dh]); // [B, T, 3, H, Dh]
    this.#backend.linear(x, this.inProj, { out: qkv.reshape([B, T, 3 * H * Dh]) });
    return qkv;
  }

  /** 'q+kv': the queries of x [B, T, D]: [B, T, H, Dh] in the workspace. */
  projectQuery(x: Tensor): Tensor {
    const [B, T] = x.shape;
    const [H, Dh] = [this.heads, this.headDim];
    const q = this.#ws.take('attn.q', [B, T, H, Dh]); // [B, T, H, Dh]
    this.#backend.linear(x, this.inProj, { out: q.reshape([B, T, H * Dh]) });
    return q;
  }

  /** 'q+kv', cross-attention: the keys and values of the encoder output [B, S, D]: [B, S, 2, H, Dh] in the workspace (slots KV_SLOTS). */
  projectMemory(memory: Tensor): Tensor {
    return this.#projectKV(memory, 'attn.kv');
  }

  /** 'q+kv', self-attention: the keys and values of x [B, T, D]: [B, T, 2, H, Dh] in the workspace (slots KV_SLOTS). */
  projectKeysValues(x: Tensor): Tensor {
    return this.#projectKV(x, 'attn.selfkv');
  }

  #projectKV(x: Tensor, key: string): Tensor {
    const [B, T] = x.shape;
    const [H, Dh] = [this.heads, this.headDim];
    const kv = this.#ws.take(key, [B, T, 2, H, Dh]); // [B, T, 2, H, Dh]
    this.#backend.linear(x, this.kvProj!, { out: kv.reshape([B, T, 2 * H * Dh]) });
    return kv;
  }

  /**
   * Attention of q over k, v (this pass's, a KV cache or the memory's; slots
   * of fused projections as `options` says) -> [B, Tq, D] after the output
   * projection: added onto `residual` in place when given (pre-LN), else into
   * the workspace.
   */
  attend(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, residual?: Tensor): Tensor {
    const [B, Tq] = q.shape;
    const [H, Dh] = q.shape.slice(-2);
    const into = this.#ws.take('attn.context', [B, Tq, H, Dh]);
    const context = this.#backend.attention(q, k, v, this.#scale === undefined ? { ...options, out: into } : { ...options, scale: this.#scale, out: into });
    const flat = context.reshape([B, Tq, H * Dh]); // [B, Tq, A]
    const out = residual ? { residual, out: residual } : { out: this.#ws.take('attn.out', [B, Tq, this.outProj.outFeatures]) };
    return this.#backend.linear(flat, this.outProj, out);
  }

  /** The weights in checkpoint layout, unpacked from the backend. */
  state(prefix: string, into: WeightMap): void {
    const parts = [this.inProj, ...(this.kvProj ? [this.kvProj] : [])].map((w) => this.#backend.linearUnpack(w));
    into.set(`${prefix}.in_proj_weight`, concatRows(parts.map((p) => p.weight)));
    if (parts[0].bias) into.set(`${prefix}.in_proj_bias`, concatRows(parts.map((p) => p.bias!)));
    const out = this.#backend.linearUnpack(this.outProj);
    into.set(`${prefix}.out_proj.weight`, out.weight);
    if (out.bias) into.set(`${prefix}.out_proj.bias`, out.bias);
  }

  dispose(): void {
    for (const w of [this.inProj, this.kvProj, this.outProj]) w?.dispose();
  }
}

/** Tensors stacked along their first dimension. */
function concatRows(parts: readonly Tensor[]): Tensor {
  if (parts.length === 1) return parts[0];
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const out = Tensor.zeros([rows, ...parts[0].shape.slice(1)]);
  let at = 0;
  for (const t of parts) {
    out.data.set(t.data, at);
    at += t.size;
  }
  return out;
}
