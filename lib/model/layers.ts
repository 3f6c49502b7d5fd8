// Encoder and decoder layers (paper §3.1). Each sub-layer is wrapped in a
// residual connection and LayerNorm: after it (post-LN, the paper and
// nn.Transformer's default) or before it (pre-LN, `normFirst`).
import type { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import type { TransformerConfig } from './config.js';
import { MultiHeadAttention } from './attention.js';
import { FeedForward } from './feedforward.js';
import { LayerNorm } from './layernorm.js';
import type { WeightMap } from './weights.js';

export class EncoderLayer {
  readonly selfAttn: MultiHeadAttention;
  readonly ff: FeedForward;
  readonly #norm1: LayerNorm;
  readonly #norm2: LayerNorm;
  readonly #normFirst: boolean;

  constructor(backend: Backend, weights: WeightMap, prefix: string, c: TransformerConfig) {
    this.selfAttn = new MultiHeadAttention(backend, weights, `${prefix}.self_attn`, c.heads);
    this.ff = new FeedForward(backend, weights, prefix, c.activation);
    this.#norm1 = new LayerNorm(backend, weights, `${prefix}.norm1`, c.layerNormEps);
    this.#norm2 = new LayerNorm(backend, weights, `${prefix}.norm2`, c.layerNormEps);
    this.#normFirst = c.normFirst;
  }

  /** x [B, S, D], updated in place; `srcLengths` masks padded keys. */
  forward(x: Tensor, srcLengths: Int32Array): Tensor {
    const mask = { kvLengths: srcLengths };
    if (this.#normFirst) {
      const h = this.#norm1.forward(x);
      this.selfAttn.attend(h, this.selfAttn.project(h, 'k'), this.selfAttn.project(h, 'v'), mask, x);
      this.ff.forward(this.#norm2.forward(x), x);
    } else {
      const a = this.selfAttn.attend(x, this.selfAttn.project(x, 'k'), this.selfAttn.project(x, 'v'), mask);
      this.#norm1.addNorm(a, x);
      this.#norm2.addNorm(this.ff.forward(x), x);
    }
    return x;
  }

  dispose(): void {
    this.selfAttn.dispose();
    this.ff.dispose();
  }
}

/** Where a decoder layer's self-attention keys and values go: a KV cache, or just this pass. */
export interface SelfAttentionKV {
  /**
   * Takes the keys and values [B, Tn, H, Dh] of the newest Tn positions and
   * returns what to attend over: k, v [B, Tcap, H, Dh] whose first `length`
   * positions are valid (the newest last).
   */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor; length: number };
}

/** Keys and values of cross-attention, projected from the encoder output once per request. */
export interface CrossAttentionKV {
  k: Tensor; // [B, S, H, Dh]
  v: Tensor;
  srcLengths: Int32Array;
}

export class DecoderLayer {
  readonly selfAttn: MultiHeadAttention;
  readonly crossAttn: MultiHeadAttention;
  readonly ff: FeedForward;
  readonly #norm1: LayerNorm;
  readonly #norm2: LayerNorm;
  readonly #norm3: LayerNorm;
  readonly #normFirst: boolean;

  constructor(backend: Backend, weights: WeightMap, prefix: string, c: TransformerConfig) {
    this.selfAttn = new MultiHeadAttention(backend, weights, `${prefix}.self_attn`, c.heads);
    this.crossAttn = new MultiHeadAttention(backend, weights, `${prefix}.multihead_attn`, c.heads);
    this.ff = new FeedForward(backend, weights, prefix, c.activation);
    this.#norm1 = new LayerNorm(backend, weights, `${prefix}.norm1`, c.layerNormEps);
    this.#norm2 = new LayerNorm(backend, weights, `${prefix}.norm2`, c.layerNormEps);
    this.#norm3 = new LayerNorm(backend, weights, `${prefix}.norm3`, c.layerNormEps);
    this.#normFirst = c.normFirst;
  }

  /** Cross-attention keys and values of `memory` [B, S, D]. */
  crossKV(memory: Tensor, srcLengths: Int32Array): CrossAttentionKV {
    return { k: this.crossAttn.project(memory, 'k'), v: this.crossAttn.project(memory, 'v'), srcLengths };
  }

  /**
   * y [B, T, D], the newest T target positions, updated in place. Their
   * self-attention keys and values go through `self` (a cache or this pass);
   * `tgtLengths` masks padded target positions in teacher forcing.
   */
  forward(y: Tensor, cross: CrossAttentionKV, self: SelfAttentionKV, tgtLengths?: Int32Array): Tensor {
    const selfAttend = (x: Tensor, residual?: Tensor) => {
      const kv = self.append(this.selfAttn.project(x, 'k'), this.selfAttn.project(x, 'v'));
      const mask = { causal: true, kvLength: kv.length, kvLengths: tgtLengths };
      return this.selfAttn.attend(x, kv.k, kv.v, mask, residual);
    };
    const crossMask = { kvLengths: cross.srcLengths };
    if (this.#normFirst) {
      selfAttend(this.#norm1.forward(y), y);
      this.crossAttn.attend(this.#norm2.forward(y), cross.k, cross.v, crossMask, y);
      this.ff.forward(this.#norm3.forward(y), y);
    } else {
      this.#norm1.addNorm(selfAttend(y), y);
      this.#norm2.addNorm(this.crossAttn.attend(y, cross.k, cross.v, crossMask), y);
      this.#norm3.addNorm(this.ff.forward(y), y);
    }
    return y;
  }

  dispose(): void {
    this.selfAttn.dispose();
    this.crossAttn.dispose();
    this.ff.dispose();
  }
}
