// Self-attention KV cache of one decoder layer: keys and values of every
// generated position, appended in place into buffers allocated once per request.
import { Tensor } from '../tensor.js';
import type { SelfAttentionKV } from '../model/layers.js';

export class KVCache implements SelfAttentionKV {
  readonly k: Tensor; // [B, Tcap, H, Dh]
  readonly v: Tensor;
  #length = 0;

  constructor(B: number, capacity: number, H: number, Dh: number) {
    this.k = Tensor.zeros([B, capacity, H, Dh]);
    this.v = Tensor.zeros([B, capacity, H, Dh]);
  }

  get length(): number {
    return this.#length;
  }

  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor; length: number } {
    const [B, Tcap, H, Dh] = this.k.shape;
    const Tn = k.shape[1];
    if (this.#length + Tn > Tcap) {
      throw new RangeError(`KV cache full: ${this.#length} + ${Tn} positions exceed its capacity ${Tcap}`);
    }
    const row = Tn * H * Dh; // one batch row of the new positions, contiguous in both layouts
    for (let b = 0; b < B; b++) {
      const dst = (b * Tcap + this.#length) * H * Dh;
      this.k.data.set(k.data.subarray(b * row, (b + 1) * row), dst);
      this.v.data.set(v.data.subarray(b * row, (b + 1) * row), dst);
    }
    this.#length += Tn;
    return { k: this.k, v: this.v, length: this.#length };
  }
}
