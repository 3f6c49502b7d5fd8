// The norm of one sub-layer, stack or embedding: LayerNorm, or T5's RMSNorm
// (no mean subtraction, no bias). Post-LN fuses the residual add into it.
import type { Tensor } from '../tensor.js';
import type { Backend, NormParams } from '../backend/backend.js';
import type { TransformerConfig } from './config.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

export class Norm {
  readonly #backend: Backend;
  readonly #ws: Workspace;
  readonly #gamma: Tensor;
  readonly #beta: Tensor | undefined;
  readonly #eps: number;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, c: TransformerConfig) {
    this.#backend = backend;
    this.#ws = ws;
    this.#gamma = weights.take(`${prefix}.weight`);
    this.#beta = c.norm === 'layernorm' ? weights.take(`${prefix}.bias`) : undefined;
    this.#eps = c.layerNormEps;
  }

  /** gamma, and beta for a LayerNorm. */
  get params(): NormParams {
    return this.#beta === undefined ? { gamma: this.#gamma } : { gamma: this.#gamma, beta: this.#beta };
  }

  /** Norm(x) into `out`: by default the workspace, for a result consumed before the next norm. */
  forward(x: Tensor, out: Tensor = this.#ws.take('norm.out', x.shape)): Tensor {
    return this.#apply(x, { eps: this.#eps, out });
  }

  /** residual <- Norm(residual + x), in place (the post-LN "Add & Norm"). */
  addNorm(x: Tensor, residual: Tensor): Tensor {
    return this.#apply(x, { eps: this.#eps, residual, out: residual });
  }

  #apply(x: Tensor, options: { eps: number; residual?: Tensor; out: Tensor }): Tensor {
    return this.#beta === undefined
      ? this.#backend.rmsnorm(x, this.#gamma, options)
      : this.#backend.layernorm(x, this.#gamma, this.#beta, options);
  }

  state(prefix: string, into: WeightMap): void {
    into.set(`${prefix}.weight`, this.#gamma);
    if (this.#beta !== undefined) into.set(`${prefix}.bias`, this.#beta);
  }
}
