// Self-attention KV cache of one decoder layer: keys and values of every
// generated position, appended in place into buffers allocated once per request.
import { Tensor, checkInt, describe, formatShape } from '../tensor.js';
import type { SelfAttentionKV } from '../model/layers.js';

export class KVCache implements SelfAttentionKV {
  readonly k: Tensor; // [B, Tcap, H, Dh]
  readonly v: Tensor;
  #length = 0;

  constructor(B: number, capacity: number, H: number, Dh: number) {
    checkInt('B', B, 1);
    checkInt('capacity', capacity, 1);
    checkInt('H', H, 1);
    checkInt('Dh', Dh, 1);
    this.k = Tensor.zeros([B, capacity, H, Dh]);
    this.v = Tensor.zeros([B, capacity, H, Dh]);
  }

  get length(): number {
    return this.#length;
  }

  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor; length: number } {
    const [B, Tcap, H, Dh] = this.k.shape;
    for (const [name, t] of [['k', k], ['v', v]] as const) {
      if (!(t instanceof Tensor)) throw new TypeError(`${name} must be a Tensor, got ${describe(t)}`);
      if (t.rank !== 4 || t.shape[0] !== B || t.shape[2] !== H || t.shape[3] !== Dh || t.shape[1] !== k.shape[1]) {
        throw new RangeError(`${name} must have shape [${B}, Tn, ${H}, ${Dh}] (Tn the same for k and v), got ${formatShape(t.shape)}`);
      }
    }
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
