// Position-wise feed-forward network (paper §3.3): linear2(act(linear1(x))),
// the activation fused into the first linear layer. Gated (T5 v1.1's
// gated-GELU): linear1 computes [x W1a, x W1b] in one GEMM and
// glu() takes act(x W1a) · x W1b.
import type { Tensor } from '../tensor.js';
import type { Activation, Backend, LinearWeights, WeightDType } from '../backend/backend.js';
import type { TransformerConfig } from './config.js';
import type { WeightMap, WeightSource } from './weights.js';
import type { Workspace } from './workspace.js';

export class FeedForward {
  readonly linear1: LinearWeights;
  readonly linear2: LinearWeights;
  readonly #backend: Backend;
  readonly #ws: Workspace;
  readonly #activation: Activation;
  readonly #gated: boolean;

  constructor(backend: Backend, ws: Workspace, weights: WeightSource, prefix: string, c: TransformerConfig, dtype: WeightDType) {
    this.#backend = backend;
    this.#ws = ws;
    this.#activation = c.activation;
    this.#gated = c.gatedFeedForward;
    const pack = (name: string) => backend.linearPack(
      weights.takeTransient(`${prefix}.${name}.weight`),
      c.bias ? weights.take(`${prefix}.${name}.bias`) : undefined,
      { dtype },
    );
    this.linear1 = pack('linear1');
    this.linear2 = pack('linear2');
  }

  /** x [B, T, D] -> [B, T, D]: added onto `residual` in place when given, else into the workspace. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const F = this.linear2.inFeatures;
    let hidden: Tensor;
    if (this.#gated) {
      const both = this.#ws.take('ff.gate', [...lead, 2 * F]); // [B, T, 2F]: x W1a, x W1b
      this.#backend.linear(x, this.linear1, { out: both });
      hidden = this.#backend.glu(both, this.#activation, { out: this.#ws.take('ff.hidden', [...lead, F]) }); // [B, T, F]
    } else {
      hidden = this.#ws.take('ff.hidden', [...lead, F]); // [B, T, F]
      this.#backend.linear(x, this.linear1, { activation: this.#activation, out: hidden });
    }
    const out = residual ? { residual, out: residual } : { out: this.#ws.take('ff.out', x.shape) };
    return this.#backend.linear(hidden, this.linear2, out);
  }

  /** The weights in checkpoint layout, unpacked from the backend. */
  state(prefix: string, into: WeightMap): void {
    for (const name of ['linear1', 'linear2'] as const) {
      const { weight, bias } = this.#backend.linearUnpack(this[name]);
      into.set(`${prefix}.${name}.weight`, weight);
      if (bias) into.set(`${prefix}.${name}.bias`, bias);
    }
  }

  dispose(): void {
    this.linear1.dispose();
    this.linear2.dispose();
  }
}
