// Position-wise feed-forward network (paper §3.3): linear2(act(linear1(x))),
// the activation fused into the first linear layer.
import type { Tensor } from '../tensor.js';
import type { Activation, Backend, LinearWeights } from '../backend/backend.js';
import type { WeightMap } from './weights.js';

export class FeedForward {
  readonly linear1: LinearWeights;
  readonly linear2: LinearWeights;
  readonly #backend: Backend;
  readonly #activation: Activation;

  constructor(backend: Backend, weights: WeightMap, prefix: string, activation: Activation) {
    this.#backend = backend;
    this.#activation = activation;
    this.linear1 = backend.linearPack(weights.get(`${prefix}.linear1.weight`)!, weights.get(`${prefix}.linear1.bias`)!);
    this.linear2 = backend.linearPack(weights.get(`${prefix}.linear2.weight`)!, weights.get(`${prefix}.linear2.bias`)!);
  }

  /** x [B, T, D] -> [B, T, D]; with `residual`, the result is added to it in place. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const hidden = this.#backend.linear(x, this.linear1, { activation: this.#activation }); // [B, T, F]
    return this.#backend.linear(hidden, this.linear2, residual ? { residual, out: residual } : {});
  }

  dispose(): void {
    this.linear1.dispose();
    this.linear2.dispose();
  }
}
