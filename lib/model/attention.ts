// Multi-head attention (paper §3.2.2): per-head projections of Q, K and V, fused
// scaled-dot-product attention, and the output projection. Self-attention
// projects all three from one input; cross-attention takes Q from the decoder
// and K, V from the encoder output (projected once per request by the caller).
import { Tensor } from '../tensor.js';
import type { AttentionOptions, Backend, LinearWeights } from '../backend/backend.js';
import type { WeightMap } from './weights.js';

export class MultiHeadAttention {
  readonly heads: number;
  readonly q: LinearWeights;
  readonly k: LinearWeights;
  readonly v: LinearWeights;
  readonly out: LinearWeights;
  readonly #backend: Backend;

  /** Reads `${prefix}.in_proj_weight` [3D, D] (rows Wq, Wk, Wv), its bias and `${prefix}.out_proj.*`. */
  constructor(backend: Backend, weights: WeightMap, prefix: string, heads: number) {
    this.#backend = backend;
    this.heads = heads;
    const w = weights.get(`${prefix}.in_proj_weight`)!;
    const b = weights.get(`${prefix}.in_proj_bias`)!;
    const D = w.shape[1];
    const rows = (i: number) => new Tensor(w.data.subarray(i * D * D, (i + 1) * D * D), [D, D]);
    const bias = (i: number) => new Tensor(b.data.subarray(i * D, (i + 1) * D), [D]);
    this.q = backend.linearPack(rows(0), bias(0));
    this.k = backend.linearPack(rows(1), bias(1));
    this.v = backend.linearPack(rows(2), bias(2));
    this.out = backend.linearPack(weights.get(`${prefix}.out_proj.weight`)!, weights.get(`${prefix}.out_proj.bias`)!);
  }

  /** x [B, T, D] through one of the input projections, viewed per head: [B, T, H, Dh]. */
  project(x: Tensor, which: 'q' | 'k' | 'v'): Tensor {
    const [B, T, D] = x.shape;
    return this.#backend.linear(x, this[which]).reshape([B, T, this.heads, D / this.heads]);
  }

  /**
   * Attention of queries from x [B, Tq, D] over projected keys and values
   * (from `project`, or a KV cache) -> [B, Tq, D] after the output projection.
   * `residual`, when given, is added to the result (pre-LN sub-layers).
   */
  attend(x: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, residual?: Tensor): Tensor {
    const [B, Tq, D] = x.shape;
    const q = this.project(x, 'q'); // [B, Tq, H, Dh]
    const context = this.#backend.attention(q, k, v, options).reshape([B, Tq, D]);
    return this.#backend.linear(context, this.out, residual ? { residual, out: residual } : {});
  }

  dispose(): void {
    for (const w of [this.q, this.k, this.v, this.out]) w.dispose();
  }
}
