// The fused decoder step (Backend.decoderStepPlan, one native call per step)
// against the op-by-op composition it replaces: the same native kernels called
// one by one (bit-identical logits expected: the same calls on the same
// operands) and the reference backend (within 1e-4 of the largest |logit|),
// for every family's configuration, over rows that join, fork and leave at
// different positions; plus greedy and beam ids, and bad input.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor, Transformer, generate, native, type TransformerConfig } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { expectClose, isa, rng } from './helpers.js';

const base: Partial<TransformerConfig> = {
  dModel: 32, heads: 4, dFF: 48, encoderLayers: 2, decoderLayers: 2, srcVocab: 31, tgtVocab: 37,
  maxPositions: 24, padId: 0, bosId: 1, eosId: 2, unkId: 3,
};

const families: Array<[string, Partial<TransformerConfig>]> = [
  ['paper: post-LN, relu, sinusoidal', {}],
  ['pre-LN gelu, odd sizes, 3 layers', { normFirst: true, activation: 'gelu', dModel: 30, heads: 3, dFF: 50, decoderLayers: 3 }],
  ['BART: learned positions per side, embedding norm, gelu, unscaled', {
    positions: 'separate', embeddingNorm: true, activation: 'gelu', scaleEmbeddings: false, finalNorm: false,
  }],
  ['M2M100/NLLB: pre-LN, positions over non-pad tokens', { normFirst: true, skipPadPositions: true }],
  ['Marian: shared embeddings, tied output, silu', { srcVocab: 37, shareEmbeddings: true, tieOutput: true, activation: 'silu', finalNorm: false }],
  ['T5: RMSNorm, relative bias, gated gelu_tanh, no biases', {
    srcVocab: 37, positions: 'relative', relativeBuckets: 8, relativeMaxDistance: 16, norm: 'rmsnorm', normFirst: true,
    gatedFeedForward: true, activation: 'gelu_tanh', bias: false, outputBias: false, scaleAttention: false,
    scaleEmbeddings: false, shareEmbeddings: true, tieOutput: true, outputScale: 32 ** -0.5, layerNormEps: 1e-6,
  }],
  ['post-LN gated silu with RMSNorm', { norm: 'rmsnorm', gatedFeedForward: true, activation: 'silu' }],
];

/**
 * Logits of every step of one scenario: two rows, a third source joining with
 * two copies while they are 3 positions in, beams forking and rows leaving
 * (gather), pad tokens fed now and then. Tokens come from a fixed stream, so
 * every model sees the same inputs.
 */
function scenario(model: Transformer): Float32Array[] {
  const c = model.config;
  const next = rng(7);
  const token = () => (next() < 0.15 ? c.padId : 4 + Math.floor(next() * (c.tgtVocab - 4)));
  const state = model.createState();
  const out: Float32Array[] = [];
  const step = () => {
    const tokens = Int32Array.from({ length: state.rows }, (_, r) => (state.position(r) === 0 ? c.bosId : token()));
    out.push(model.step(state, tokens).data.slice());
  };
  const id = (i: number) => 4 + (i % (c.srcVocab - 4));
  model.addRows(state, [[5, 6, 7, 8, 9, 10].map(id), [11, 12].map(id)]);
  for (let i = 0; i < 3; i++) step();
  model.addRows(state, [[13, 14, 15, 4].map(id)], [2]);
  for (let i = 0; i < 2; i++) step();
  state.gather([3, 0, 0, 2]);
  for (let i = 0; i < 3; i++) step();
  state.gather([1]);
  step();
  return out;
}

describe(`fused decoder step on ${isa}`, () => {
  for (const [name, extra] of families) {
    it(`equals the op-by-op step: ${name}`, () => {
      const config = { ...base, ...extra };
      const fused = Transformer.random(config, { seed: 11 });
      const ops = Transformer.random(config, { seed: 11, fusedStep: false });
      const reference = Transformer.random(config, { seed: 11, backend: 'reference' });
      const got = scenario(fused);
      const want = scenario(reference);
      expect(got).toEqual(scenario(ops));
      expect(got).toHaveLength(want.length);
      got.forEach((logits, i) => {
        const scale = Math.max(...want[i].map(Math.abs));
        expectClose(logits, want[i], 1e-4 * scale, 0, `step ${i} logits`);
      });
      const src = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14]];
      for (const options of [{ maxNewTokens: 10 }, { maxNewTokens: 8, numBeams: 3 }]) {
        const ids = (m: Transformer) => generate(m, src, options).map((g) => g.sequences.map((s) => s.ids));
        const expected = ids(reference);
        expect(ids(fused), JSON.stringify(options)).toEqual(expected);
        expect(ids(ops), JSON.stringify(options)).toEqual(expected);
      }
      for (const m of [fused, ops, reference]) m.dispose();
    });
  }

  // The checkpoints of test/fixtures: each Hugging Face family's snapshot and the PyTorch tutorial's models.
  const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url));
  const snapshots = readdirSync(join(fixtures, 'hf'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(fixtures, 'hf', d.name, 'config.json')))
    .map((d) => d.name);
  const tutorials = readdirSync(join(fixtures, 'pytorch'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  const checkpoints: Array<[string, (fusedStep: boolean) => Transformer]> = [
    ...snapshots.map((name): [string, (f: boolean) => Transformer] => [`hf/${name}`, (fusedStep) => Transformer.load(join(fixtures, 'hf', name), { fusedStep })]),
    ...tutorials.map((name): [string, (f: boolean) => Transformer] => {
      const dir = join(fixtures, 'pytorch', name);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      return [`pytorch/${name}`, (fusedStep) => Transformer.fromPyTorch(join(dir, 'model.safetensors'), config, { fusedStep })];
    }),
  ];
  it(`equals the op-by-op step on every checkpoint of test/fixtures (${checkpoints.map(([n]) => n).join(', ')})`, () => {
    expect(snapshots.length).toBeGreaterThanOrEqual(8);
    expect(tutorials.length).toBeGreaterThanOrEqual(3);
    for (const [name, load] of checkpoints) {
      const [fused, ops] = [load(true), load(false)];
      expect(scenario(fused), name).toEqual(scenario(ops));
      fused.dispose();
      ops.dispose();
    }
  });

  it('writes each row\'s keys and values at its own position (rows at different positions)', () => {
    const fused = Transformer.random(base, { seed: 4 });
    const ops = Transformer.random(base, { seed: 4, fusedStep: false });
    const states = [fused, ops].map((m) => {
      const s = m.createState();
      m.addRows(s, [[5, 6, 7]]);
      m.step(s, new Int32Array([1]));
      m.addRows(s, [[8, 9]]); // row 1 at position 0, row 0 at 1
      m.step(s, new Int32Array([12, 1]));
      return s;
    });
    const [a, b] = states.map((s) => s.stepBuffers);
    expect(a.Tcap).toBe(b.Tcap);
    a.self.forEach((buffer, l) => expect(buffer, `layer ${l}`).toEqual(b.self[l]));
    // Row 0's second position and row 1's first are written, row 1's second is not.
    const row = 2 * base.dModel!;
    expect(a.self[0].subarray(row, 2 * row).some((v) => v !== 0)).toBe(true);
    expect(a.self[0].subarray(a.Tcap * row, (a.Tcap + 1) * row).some((v) => v !== 0)).toBe(true);
    expect(a.self[0].subarray((a.Tcap + 1) * row, (a.Tcap + 2) * row).every((v) => v === 0)).toBe(true);
    fused.dispose();
    ops.dispose();
  });

  it('a step is one backend call: no op of the backend runs in it', () => {
    const calls: string[] = [];
    const counting = new Proxy(native, {
      get(target, key: keyof typeof native) {
        const value = target[key];
        if (typeof value !== 'function' || key === 'decoderStepPlan') return value;
        return (...args: unknown[]) => {
          calls.push(key);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    for (const fusedStep of [true, false]) {
      const model = Transformer.random(base, { seed: 1, backend: counting, fusedStep });
      const state = model.createState();
      model.addRows(state, [[5, 6, 7]]);
      calls.length = 0;
      model.step(state, new Int32Array([1]));
      model.step(state, new Int32Array([9]));
      if (fusedStep) expect(calls).toEqual([]);
      else expect(calls.length).toBeGreaterThan(2 * base.decoderLayers! * 10);
      model.dispose();
    }
  });

  it('model options: fusedStep must be a boolean', () => {
    expect(() => Transformer.random(base, { fusedStep: 'yes' as unknown as boolean })).toThrow(
      new TypeError('options.fusedStep must be a boolean, got "yes"'),
    );
  });
});

describe('DecoderStepPlan: bad input', () => {
  const model = Transformer.random(base, { seed: 2, fusedStep: false });
  const config = model.config;
  const D = config.dModel;
  const pack = (n: number, k: number) => native.linearPack(Tensor.zeros([n, k]), Tensor.zeros([n]));
  const norm = { gamma: Tensor.zeros([D]), beta: Tensor.zeros([D]) };
  const layer = () => ({
    selfQ: pack(D, D), selfKV: pack(2 * D, D), selfOut: pack(D, D), crossQ: pack(D, D), crossOut: pack(D, D),
    ff1: pack(48, D), ff2: pack(D, 48), norm1: norm, norm2: norm, norm3: norm,
  });
  const spec = () => ({
    heads: 4, headDim: D / 4, normFirst: false, activation: 'relu' as const, gated: false, eps: 1e-5,
    attentionScale: 0.5, embedding: Tensor.zeros([37, D]), embeddingScale: 1, generator: pack(37, D), layers: [layer()],
  });
  const inputs = (R: number) => ({
    tokens: new Int32Array(R), positions: new Int32Array(R), srcLengths: new Int32Array(R).fill(2),
    self: [new Float32Array(R * 4 * 2 * D)], cross: [new Float32Array(R * 2 * 2 * D)], Tcap: 4, Scap: 2,
    out: Tensor.zeros([R, 37]),
  });

  it('checks the spec', () => {
    const s = spec();
    expect(() => native.decoderStepPlan!({ ...s, layers: [{ ...layer(), selfKV: pack(D, D) }] })).toThrow(
      new RangeError(`spec.layers[0].selfKV must be [${2 * D}, ${D}] weights, got [${D}, ${D}]`),
    );
    expect(() => native.decoderStepPlan!({ ...s, activation: 'tanh' as 'relu' })).toThrow(RangeError);
    expect(() => native.decoderStepPlan!({ ...s, generator: {} as never })).toThrow(
      /spec.generator must come from the native backend's linearPack/,
    );
    expect(() => native.decoderStepPlan!({ ...s, layers: [{ ...layer(), norm2: { gamma: Tensor.zeros([D - 1]) } }] })).toThrow(
      new RangeError(`spec.layers[0].norm2.gamma must have shape [${D}], got [${D - 1}]`),
    );
  });

  it('checks each step\'s inputs, in TypeScript and again in the addon', () => {
    const plan = native.decoderStepPlan!(spec());
    expect(() => plan.step({ ...inputs(2), positions: new Int32Array(1) })).toThrow(
      new RangeError('inputs.positions must have 2 entries (one per row), got 1'),
    );
    expect(() => plan.step({ ...inputs(2), out: Tensor.zeros([2, 36]) })).toThrow(
      new RangeError('inputs.out must have shape [2, 37], got [2, 36]'),
    );
    expect(() => plan.step({ ...inputs(1), self: [] })).toThrow(TypeError);
    // Past the cache, past the vocabulary, past the source: refused by the addon, never written.
    expect(() => plan.step({ ...inputs(1), positions: new Int32Array([4]) })).toThrow(/positions must be in \[0, Tcap - 1\]/);
    expect(() => plan.step({ ...inputs(1), tokens: new Int32Array([37]) })).toThrow(/tokens must be in \[0, V\)/);
    expect(() => plan.step({ ...inputs(1), srcLengths: new Int32Array([3]) })).toThrow(/srcLengths must be in \[0, Scap\]/);
    expect(() => plan.step({ ...inputs(2), self: [new Float32Array(4 * 2 * D)] })).toThrow(/self\[0\] must have at least/);
    expect(plan.step(inputs(2)).shape).toEqual([2, 37]);
    plan.dispose();
    expect(() => plan.step(inputs(1))).toThrow(new Error('the decoder step plan was disposed'));
  });

  it('a plan whose weights were disposed refuses to step (raw addon too)', () => {
    const s = spec();
    const plan = native.decoderStepPlan!(s);
    s.layers[0].ff2.dispose();
    expect(() => plan.step(inputs(1))).toThrow(new Error("a decoder step's weights were disposed"));
    const addon = loadAddon();
    expect(() => new addon.DecoderStepPlan({} as never)).toThrow(TypeError);
    plan.dispose();
    model.dispose();
  });
});
