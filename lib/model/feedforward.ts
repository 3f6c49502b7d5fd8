// Position-wise feed-forward network (paper §3.3): linear2(act(linear1(x))),
// the activation fused into the first linear layer.
import type { Tensor } from '../tensor.js';
import type { Activation, Backend, LinearWeights } from '../backend/backend.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

export class FeedForward {
  readonly linear1: LinearWeights;
  readonly linear2: LinearWeights;
  readonly #backend: Backend;
  readonly #ws: Workspace;
  readonly #activation: Activation;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, activation: Activation) {
    this.#backend = backend;
    this.#ws = ws;
    this.#activation = activation;
    const pack = (name: string) =>
      backend.linearPack(weights.takeTransient(`${prefix}.${name}.weight`), weights.take(`${prefix}.${name}.bias`));
    this.linear1 = pack('linear1');
    this.linear2 = pack('linear2');
  }

  /** x [B, T, D] -> [B, T, D]: added onto `residual` in place when given, else into the workspace. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const F = this.linear1.outFeatures;
    const hidden = this.#ws.take('ff.hidden', [...x.shape.slice(0, -1), F]); // [B, T, F]
    this.#backend.linear(x, this.linear1, { activation: this.#activation, out: hidden });
    const out = residual ? { residual, out: residual } : { out: this.#ws.take('ff.out', x.shape) };
    return this.#backend.linear(hidden, this.linear2, out);
  }

  /** The weights in checkpoint layout, unpacked from the backend. */
  state(prefix: string, into: WeightMap): void {
    for (const name of ['linear1', 'linear2'] as const) {
      const { weight, bias } = this.#backend.linearUnpack(this[name]);
      into.set(`${prefix}.${name}.weight`, weight);
      into.set(`${prefix}.${name}.bias`, bias!);
    }
  }

  dispose(): void {
    this.linear1.dispose();
    this.linear2.dispose();
  }
}
