// The native backend's fused decoder step: a DecoderStepPlan of the addon
// built once from a model's packed weights, run once per step. Arguments are
// checked here with precise messages; the addon re-checks bounds.
import { Tensor, checkInt, describe, formatShape } from '../tensor.js';
import type { Activation, DecoderStepInputs, DecoderStepPlan, DecoderStepSpec, LinearWeights, NormParams } from './backend.js';
import { DTYPE_CODE, loadAddon, type DecoderStepPlanHandle, type PackedLinearHandle } from './addon.js';
import { EmbeddingTable } from './embedding-table.js';

const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu']; // index = aiayn::Activation

/** The packed handle of native weights of shape [N, K] (TypeError / Error / RangeError naming `name`). */
export type HandleOf = (weights: LinearWeights, name: string) => PackedLinearHandle;

function checkMatrix(name: string, t: unknown, rows: number | undefined, cols: number): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${name} must be a Tensor, got ${describe(t)}`);
  if (t.rank !== 2 || (rows !== undefined && t.shape[0] !== rows) || t.shape[1] !== cols) {
    throw new RangeError(`${name} must have shape [${rows ?? 'n'}, ${cols}], got ${formatShape(t.shape)}`);
  }
  return t;
}

function checkNorm(name: string, p: NormParams | undefined, D: number): [Float32Array, Float32Array | null] {
  if (p === null || typeof p !== 'object') throw new TypeError(`${name} must be { gamma, beta? }, got ${describe(p)}`);
  const vector = (what: string, t: unknown) => {
    if (!(t instanceof Tensor)) throw new TypeError(`${name}.${what} must be a Tensor, got ${describe(t)}`);
    if (t.rank !== 1 || t.shape[0] !== D) throw new RangeError(`${name}.${what} must have shape [${D}], got ${formatShape(t.shape)}`);
    return t.data;
  };
  return [vector('gamma', p.gamma), p.beta === undefined ? null : vector('beta', p.beta)];
}

class NativeDecoderStepPlan implements DecoderStepPlan {
  readonly #handle: DecoderStepPlanHandle;
  readonly #V: number;
  readonly #layers: number;
  readonly #hasPositions: boolean;
  #disposed = false;

  constructor(spec: DecoderStepSpec, handleOf: HandleOf) {
    if (spec === null || typeof spec !== 'object') throw new TypeError(`spec must be a DecoderStepSpec, got ${describe(spec)}`);
    const H = checkInt('spec.heads', spec.heads, 1);
    const Dh = checkInt('spec.headDim', spec.headDim, 1);
    const A = H * Dh;
    const embedding = spec.embedding instanceof EmbeddingTable
      ? spec.embedding
      : checkMatrix('spec.embedding', spec.embedding, undefined, spec.embedding?.shape?.[1] ?? 0);
    const [V, D] = embedding.shape;
    const activation = ACTIVATIONS.indexOf(spec.activation);
    if (activation < 0) throw new RangeError(`spec.activation must be one of ${ACTIVATIONS.join(', ')}, got ${describe(spec.activation)}`);
    for (const name of ['normFirst', 'gated'] as const) {
      if (typeof spec[name] !== 'boolean') throw new TypeError(`spec.${name} must be a boolean, got ${describe(spec[name])}`);
    }
    for (const name of ['eps', 'attentionScale', 'embeddingScale'] as const) {
      if (typeof spec[name] !== 'number' || !Number.isFinite(spec[name])) {
        throw new RangeError(`spec.${name} must be a finite number, got ${describe(spec[name])}`);
      }
    }
    const linear = (w: LinearWeights, name: string, N: number, K: number) => {
      const handle = handleOf(w, name);
      if (w.outFeatures !== N || w.inFeatures !== K) {
        throw new RangeError(`${name} must be [${N}, ${K}] weights, got [${w.outFeatures}, ${w.inFeatures}]`);
      }
      return handle;
    };
    if (!Array.isArray(spec.layers)) throw new TypeError(`spec.layers must be an array, got ${describe(spec.layers)}`);
    const F = spec.layers.length > 0 ? spec.layers[0].ff2?.inFeatures : 1;
    const layers = spec.layers.map((l, i) => {
      const at = `spec.layers[${i}]`;
      if (l === null || typeof l !== 'object') throw new TypeError(`${at} must be DecoderLayerParams, got ${describe(l)}`);
      return {
        selfQ: linear(l.selfQ, `${at}.selfQ`, A, D), selfKV: linear(l.selfKV, `${at}.selfKV`, 2 * A, D),
        selfOut: linear(l.selfOut, `${at}.selfOut`, D, A), crossQ: linear(l.crossQ, `${at}.crossQ`, A, D),
        crossOut: linear(l.crossOut, `${at}.crossOut`, D, A),
        ff1: linear(l.ff1, `${at}.ff1`, spec.gated ? 2 * F : F, D), ff2: linear(l.ff2, `${at}.ff2`, D, F),
        norm1: checkNorm(`${at}.norm1`, l.norm1, D), norm2: checkNorm(`${at}.norm2`, l.norm2, D),
        norm3: checkNorm(`${at}.norm3`, l.norm3, D),
      };
    });
    const positions = spec.positions === undefined ? null : checkMatrix('spec.positions', spec.positions, undefined, D);
    let L = 0;
    if (spec.positionBias !== undefined) {
      const cols = spec.positionBias?.shape?.[1];
      checkMatrix('spec.positionBias', spec.positionBias, H, typeof cols === 'number' && cols % 2 === 1 ? cols : -1);
      L = (cols + 1) / 2;
    }
    this.#handle = new (loadAddon().DecoderStepPlan)({
      D, H, Dh, F, V, normFirst: spec.normFirst, gated: spec.gated, activation, eps: spec.eps,
      attentionScale: spec.attentionScale, embedding: embedding.data, embeddingScale: spec.embeddingScale,
      embeddingDType: embedding instanceof EmbeddingTable ? DTYPE_CODE[embedding.dtype] : DTYPE_CODE.fp32,
      embeddingScales: embedding instanceof EmbeddingTable ? embedding.scales : null,
      positions: positions ? positions.data : null, positionBias: spec.positionBias ? spec.positionBias.data : null, L,
      embeddingNorm: spec.embeddingNorm ? checkNorm('spec.embeddingNorm', spec.embeddingNorm, D) : null,
      finalNorm: spec.finalNorm ? checkNorm('spec.finalNorm', spec.finalNorm, D) : null,
      generator: linear(spec.generator, 'spec.generator', V, D),
      layers,
    });
    this.#V = V;
    this.#layers = layers.length;
    this.#hasPositions = positions !== null;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  step(inputs: DecoderStepInputs): Tensor {
    if (this.#disposed) throw new Error('the decoder step plan was disposed');
    const { tokens, positions, positionIds, srcLengths, self, cross, Tcap, Scap, out } = inputs;
    const ints = (name: string, a: unknown, R: number) => {
      if (!(a instanceof Int32Array)) throw new TypeError(`inputs.${name} must be an Int32Array, got ${describe(a)}`);
      if (a.length !== R) throw new RangeError(`inputs.${name} must have ${R} entries (one per row), got ${a.length}`);
    };
    if (!(tokens instanceof Int32Array) || tokens.length === 0) {
      throw new TypeError(`inputs.tokens must be a non-empty Int32Array, got ${describe(tokens)}`);
    }
    const R = tokens.length;
    ints('positions', positions, R);
    ints('srcLengths', srcLengths, R);
    if (positionIds !== undefined) {
      ints('positionIds', positionIds, R);
      if (!this.#hasPositions) throw new RangeError('inputs.positionIds needs spec.positions');
    }
    checkInt('inputs.Tcap', Tcap, 1);
    checkInt('inputs.Scap', Scap, 1);
    for (const [name, buffers] of [['self', self], ['cross', cross]] as const) {
      if (!Array.isArray(buffers) || buffers.length !== this.#layers || !buffers.every((b) => b instanceof Float32Array)) {
        throw new TypeError(`inputs.${name} must be an array of ${this.#layers} Float32Arrays (one per layer), got ${describe(buffers)}`);
      }
    }
    if (!(out instanceof Tensor)) throw new TypeError(`inputs.out must be a Tensor, got ${describe(out)}`);
    if (out.rank !== 2 || out.shape[0] !== R || out.shape[1] !== this.#V) {
      throw new RangeError(`inputs.out must have shape [${R}, ${this.#V}], got ${formatShape(out.shape)}`);
    }
    this.#handle.step(tokens, positions, positionIds ?? null, srcLengths, R, Tcap, Scap, self, cross, out.data);
    return out;
  }

  dispose(): void {
    this.#disposed = true;
    this.#handle.dispose();
  }
}

export function nativeDecoderStepPlan(spec: DecoderStepSpec, handleOf: HandleOf): DecoderStepPlan {
  return new NativeDecoderStepPlan(spec, handleOf);
}
