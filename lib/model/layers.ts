// Encoder and decoder layers (paper §3.1). Each sub-layer is wrapped in a
// residual connection and a norm: after it (post-LN, the paper and
// nn.Transformer's default) or before it (pre-LN, `normFirst`). With relative
// positions (T5) self-attention adds the stack's position bias to its scores.
import type { Tensor } from '../tensor.js';
import type { Backend, DecoderLayerParams, WeightDType } from '../backend/backend.js';
import type { TransformerConfig } from './config.js';
import { KV_SLOTS, MultiHeadAttention, QKV_SLOTS } from './attention.js';
import { FeedForward } from './feedforward.js';
import { Norm } from './norm.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

export class EncoderLayer {
  readonly selfAttn: MultiHeadAttention;
  readonly ff: FeedForward;
  readonly #norm1: Norm;
  readonly #norm2: Norm;
  readonly #normFirst: boolean;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, c: TransformerConfig, dtype: WeightDType) {
    this.selfAttn = new MultiHeadAttention(backend, ws, weights, `${prefix}.self_attn`, c, 'qkv', dtype);
    this.ff = new FeedForward(backend, ws, weights, prefix, c, dtype);
    this.#norm1 = new Norm(backend, ws, weights, `${prefix}.norm1`, c);
    this.#norm2 = new Norm(backend, ws, weights, `${prefix}.norm2`, c);
    this.#normFirst = c.normFirst;
  }

  /** x [B, S, D], updated in place; `srcLengths` masks padded keys; `positionBias` [H, 2L - 1] with relative positions. */
  forward(x: Tensor, srcLengths: Int32Array, positionBias?: Tensor): Tensor {
    const mask = { kvLengths: srcLengths, positionBias, ...QKV_SLOTS };
    if (this.#normFirst) {
      const qkv = this.selfAttn.projectSelf(this.#norm1.forward(x));
      this.selfAttn.attend(qkv, qkv, qkv, mask, x);
      this.ff.forward(this.#norm2.forward(x), x);
    } else {
      const qkv = this.selfAttn.projectSelf(x);
      this.#norm1.addNorm(this.selfAttn.attend(qkv, qkv, qkv, mask), x);
      this.#norm2.addNorm(this.ff.forward(x), x);
    }
    return x;
  }

  state(prefix: string, into: WeightMap): void {
    this.selfAttn.state(`${prefix}.self_attn`, into);
    this.ff.state(prefix, into);
    this.#norm1.state(`${prefix}.norm1`, into);
    this.#norm2.state(`${prefix}.norm2`, into);
  }

  dispose(): void {
    this.selfAttn.dispose();
    this.ff.dispose();
  }
}

/**
 * What a decoder layer's self-attention attends over: kv [B, Tcap, 2, H, Dh]
 * (slots KV_SLOTS) whose first `length` positions are in use, the newest
 * last; `lengths`, when given, is each row's own count (rows at different
 * positions).
 */
export interface SelfKV {
  kv: Tensor;
  length: number;
  lengths?: Int32Array;
  /** With `lengths`: each row's position of its first new query (for relative positions). */
  queryOffsets?: Int32Array;
}

/** Where a decoder layer's self-attention keys and values go: a cache, or just this pass. */
export interface SelfAttentionKV {
  /** Takes the keys and values [B, Tn, 2, H, Dh] of the newest Tn positions (slots KV_SLOTS). */
  append(kv: Tensor): SelfKV;
}

/** Teacher forcing: the whole target in one pass, attended in place in its projection. */
export const THIS_PASS: SelfAttentionKV = {
  append: (kv) => ({ kv, length: kv.shape[1] }),
};

/** Keys and values of cross-attention, projected from the encoder output once per request. */
export interface CrossAttentionKV {
  kv: Tensor; // [B, S, 2, H, Dh]
  srcLengths: Int32Array;
}

export class DecoderLayer {
  readonly selfAttn: MultiHeadAttention;
  readonly crossAttn: MultiHeadAttention;
  readonly ff: FeedForward;
  readonly #norm1: Norm;
  readonly #norm2: Norm;
  readonly #norm3: Norm;
  readonly #normFirst: boolean;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, c: TransformerConfig, dtype: WeightDType) {
    this.selfAttn = new MultiHeadAttention(backend, ws, weights, `${prefix}.self_attn`, c, 'q+kv', dtype);
    this.crossAttn = new MultiHeadAttention(backend, ws, weights, `${prefix}.multihead_attn`, c, 'q+kv', dtype);
    this.ff = new FeedForward(backend, ws, weights, prefix, c, dtype);
    this.#norm1 = new Norm(backend, ws, weights, `${prefix}.norm1`, c);
    this.#norm2 = new Norm(backend, ws, weights, `${prefix}.norm2`, c);
    this.#norm3 = new Norm(backend, ws, weights, `${prefix}.norm3`, c);
    this.#normFirst = c.normFirst;
  }

  /** Cross-attention keys and values of `memory` [B, S, D]. */
  crossKV(memory: Tensor, srcLengths: Int32Array): CrossAttentionKV {
    return { kv: this.crossAttn.projectMemory(memory), srcLengths };
  }

  /**
   * y [B, T, D], the newest T target positions, updated in place. Their
   * self-attention keys and values go through `self` (a cache or THIS_PASS);
   * `tgtLengths` masks padded target positions in teacher forcing;
   * `positionBias` [H, 2L - 1] with relative positions.
   */
  forward(y: Tensor, cross: CrossAttentionKV, self: SelfAttentionKV, tgtLengths?: Int32Array, positionBias?: Tensor): Tensor {
    const selfAttend = (x: Tensor, residual?: Tensor) => {
      const q = this.selfAttn.projectQuery(x); // [B, T, H, Dh]
      const kv = self.append(this.selfAttn.projectKeysValues(x)); // from [B, T, 2, H, Dh]
      const mask = {
        causal: true, kvLength: kv.length, kvLengths: kv.lengths ?? tgtLengths, ...KV_SLOTS,
        positionBias, queryOffsets: positionBias && kv.queryOffsets,
      };
      return this.selfAttn.attend(q, kv.kv, kv.kv, mask, residual);
    };
    const crossAttend = (x: Tensor, residual?: Tensor) => {
      const mask = { kvLengths: cross.srcLengths, ...KV_SLOTS };
      return this.crossAttn.attend(this.crossAttn.projectQuery(x), cross.kv, cross.kv, mask, residual);
    };
    if (this.#normFirst) {
      selfAttend(this.#norm1.forward(y), y);
      crossAttend(this.#norm2.forward(y), y);
      this.ff.forward(this.#norm3.forward(y), y);
    } else {
      this.#norm1.addNorm(selfAttend(y), y);
      this.#norm2.addNorm(crossAttend(y), y);
      this.#norm3.addNorm(this.ff.forward(y), y);
    }
    return y;
  }

  /** The weights a fused decoder step takes (Backend.decoderStepPlan). */
  stepParams(): DecoderLayerParams {
    return {
      selfQ: this.selfAttn.inProj, selfKV: this.selfAttn.kvProj!, selfOut: this.selfAttn.outProj,
      crossQ: this.crossAttn.inProj, crossOut: this.crossAttn.outProj,
      ff1: this.ff.linear1, ff2: this.ff.linear2,
      norm1: this.#norm1.params, norm2: this.#norm2.params, norm3: this.#norm3.params,
    };
  }

  state(prefix: string, into: WeightMap): void {
    this.selfAttn.state(`${prefix}.self_attn`, into);
    this.crossAttn.state(`${prefix}.multihead_attn`, into);
    this.ff.state(prefix, into);
    this.#norm1.state(`${prefix}.norm1`, into);
    this.#norm2.state(`${prefix}.norm2`, into);
    this.#norm3.state(`${prefix}.norm3`, into);
  }

  dispose(): void {
    this.selfAttn.dispose();
    this.crossAttn.dispose();
    this.ff.dispose();
  }
}
