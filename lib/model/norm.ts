// LayerNorm parameters of one sub-layer; post-LN fuses the residual add into it.
import type { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

export class LayerNorm {
  readonly #backend: Backend;
  readonly #ws: Workspace;
  readonly #gamma: Tensor;
  readonly #beta: Tensor;
  readonly #eps: number;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, eps: number) {
    this.#backend = backend;
    this.#ws = ws;
    this.#gamma = weights.take(`${prefix}.weight`);
    this.#beta = weights.take(`${prefix}.bias`);
    this.#eps = eps;
  }

  /** LN(x) into `out`: by default the workspace, for a result consumed before the next norm. */
  forward(x: Tensor, out: Tensor = this.#ws.take('norm.out', x.shape)): Tensor {
    return this.#backend.layernorm(x, this.#gamma, this.#beta, { eps: this.#eps, out });
  }

  /** residual <- LN(residual + x), in place (the post-LN "Add & Norm"). */
  addNorm(x: Tensor, residual: Tensor): Tensor {
    return this.#backend.layernorm(x, this.#gamma, this.#beta, { eps: this.#eps, residual, out: residual });
  }

  state(prefix: string, into: WeightMap): void {
    into.set(`${prefix}.weight`, this.#gamma);
    into.set(`${prefix}.bias`, this.#beta);
  }
}
