// Activation buffers of one model, reused across layers, steps and calls, so a
// decode step allocates no activation buffer once warm (only small JS objects:
// tensor views, options). Each use site has its own key, so two intermediates
// alive at the same time never share memory; layers run one at a time and reuse
// the same keys. The keys and when each is free again:
//   stream.src, stream.tgt  the residual stream of encode (in generate) / decode: a whole call
//   attn.qkv                the encoder self-attention's fused projection: until its attend() returns
//   attn.selfkv             the decoder self-attention's keys/values: until attended (decode) or copied
//                           into the decode state (an op-by-op step)
//   attn.q, attn.context    cross-attention queries / attention output: within attend()
//   attn.kv                 cross-attention keys/values of the memory: one decoder layer (decode), or until
//                           copied into the decode state (addRows)
//   attn.out, ff.out        a post-LN sub-layer's output: until its addNorm
//   ff.hidden, ff.gate      the feed-forward inner activation (and, gated, both halves before glu): within forward()
//   norm.out                a pre-LN / final norm: until the next norm
//   logits                  a decode step's logits: until the next step
// Buffers grow to the largest request seen and are dropped by the model's dispose().
import { Tensor, type Shape } from '../tensor.js';

export class Workspace {
  readonly #buffers = new Map<string, Float32Array>();

  /** A tensor of `shape` over the buffer of `key`. Its contents are stale: every op writing into it overwrites it all. */
  take(key: string, shape: Shape): Tensor {
    const size = shape.reduce((a, d) => a * d, 1);
    let buffer = this.#buffers.get(key);
    if (buffer === undefined || buffer.length < size) {
      buffer = new Float32Array(size);
      this.#buffers.set(key, buffer);
    }
    return new Tensor(buffer.length === size ? buffer : buffer.subarray(0, size), shape);
  }

  /** Bytes held. */
  get bytes(): number {
    let n = 0;
    for (const b of this.#buffers.values()) n += b.byteLength;
    return n;
  }

  clear(): void {
    this.#buffers.clear();
  }
}
