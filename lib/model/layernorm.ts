// LayerNorm parameters of one sub-layer; post-LN fuses the residual add into it.
import type { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import type { WeightMap } from './weights.js';

export class LayerNorm {
  readonly #backend: Backend;
  readonly #gamma: Tensor;
  readonly #beta: Tensor;
  readonly #eps: number;

  constructor(backend: Backend, weights: WeightMap, prefix: string, eps: number) {
    this.#backend = backend;
    this.#gamma = weights.get(`${prefix}.weight`)!;
    this.#beta = weights.get(`${prefix}.bias`)!;
    this.#eps = eps;
  }

  /** LN(x) into a new tensor. */
  forward(x: Tensor): Tensor {
    return this.#backend.layernorm(x, this.#gamma, this.#beta, { eps: this.#eps });
  }

  /** residual <- LN(residual + x), in place (the post-LN "Add & Norm"). */
  addNorm(x: Tensor, residual: Tensor): Tensor {
    return this.#backend.layernorm(x, this.#gamma, this.#beta, { eps: this.#eps, residual, out: residual });
  }
}
