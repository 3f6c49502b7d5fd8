// The Transformer on both backends: native against reference on random
// configs, the KV cache against recomputing the prefix, save/load, checkpoint
// checks, and bad input.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CharTokenizer, Tensor, Transformer, generate, readSafetensors, type GenerationOptions, type TransformerConfig } from '../lib/index.js';
import { randomWeights } from '../lib/model/weights.js';
import { resolveConfig } from '../lib/model/config.js';
import { expectClose, isa, rng } from './helpers.js';

const base: Partial<TransformerConfig> = {
  dModel: 32, heads: 4, dFF: 64, encoderLayers: 2, decoderLayers: 2, srcVocab: 23, tgtVocab: 29,
  maxPositions: 40, padId: 0, bosId: 1, eosId: 2, unkId: 3,
};

function randomSeqs(next: () => number, B: number, vocab: number, minLen: number, maxLen: number, first?: number): number[][] {
  return Array.from({ length: B }, () => {
    const n = minLen + Math.floor(next() * (maxLen - minLen + 1));
    return Array.from({ length: n }, (_, t) => (t === 0 && first !== undefined ? first : 4 + Math.floor(next() * (vocab - 4))));
  });
}

/** The best sequence's ids per source. */
function greedy(model: Transformer, src: number[][], options: GenerationOptions = {}): number[][] {
  return generate(model, src, options).map((g) => g.sequences[0].ids);
}

/** Greedy decoding without a cache: the whole prefix through decode() each step. */
function greedyRecompute(model: Transformer, src: number[][], steps: number): number[][] {
  const c = model.config;
  const memory = model.encode(src);
  const lengths = src.map((s) => s.length);
  const prefixes = src.map(() => [c.bosId]);
  const out: number[][] = src.map(() => []);
  const done = src.map(() => false);
  for (let step = 0; step < steps && !done.every(Boolean); step++) {
    const logits = model.decode(prefixes, memory, lengths); // [B, T, V]
    const [B, T, V] = logits.shape;
    for (let b = 0; b < B; b++) {
      const row = logits.data.subarray((b * T + prefixes[b].length - 1) * V, (b * T + prefixes[b].length) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
      if (!done[b]) {
        if (best === c.eosId) done[b] = true;
        else out[b].push(best);
      }
      prefixes[b].push(best);
    }
  }
  return out;
}

describe(`Transformer on ${isa}`, () => {
  const variants: Array<[string, Partial<TransformerConfig>]> = [
    ['post-LN relu', {}],
    ['pre-LN gelu, no final norm', { normFirst: true, activation: 'gelu', finalNorm: false }],
    ['shared embeddings, tied output', { srcVocab: 29, shareEmbeddings: true, tieOutput: true }],
    ['odd sizes', { dModel: 30, heads: 3, dFF: 50, encoderLayers: 1, decoderLayers: 3 }],
  ];

  for (const [name, extra] of variants) {
    it(`native matches reference: ${name}`, () => {
      const config = { ...base, ...extra };
      const next = rng(name.length);
      const native = Transformer.random(config, { seed: 5, backend: 'native' });
      const reference = Transformer.random(config, { seed: 5, backend: 'reference' });
      const src = randomSeqs(next, 3, native.config.srcVocab, 1, 12);
      const tgt = randomSeqs(next, 3, native.config.tgtVocab, 1, 9, native.config.bosId);
      const mn = native.encode(src);
      const mr = reference.encode(src);
      expect(mn.shape).toEqual([3, Math.max(...src.map((s) => s.length)), native.config.dModel]);
      expectClose(mn.data, mr.data, 1e-4, 1e-4, 'memory');
      const lengths = src.map((s) => s.length);
      const ln = native.decode(tgt, mn, lengths);
      const lr = reference.decode(tgt, mr, lengths);
      const scale = Math.max(...lr.data.map(Math.abs));
      expectClose(ln.data, lr.data, 1e-4 * scale, 0, 'logits');
      expect(greedy(native, src, { maxNewTokens: 12 })).toEqual(greedy(reference, src, { maxNewTokens: 12 }));
      native.dispose();
      reference.dispose();
    });
  }

  it('native matches reference on randomly drawn configs', () => {
    const next = rng(2024);
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)];
    for (let trial = 0; trial < 6; trial++) {
      const heads = pick([1, 2, 3, 4]);
      const config: Partial<TransformerConfig> = {
        ...base,
        dModel: heads * pick([4, 7, 8, 16]),
        heads,
        dFF: pick([8, 31, 64]),
        encoderLayers: pick([0, 1, 2]),
        decoderLayers: pick([1, 2]),
        srcVocab: pick([5, 13, 40]),
        tgtVocab: pick([6, 17, 33]),
        activation: pick(['relu', 'gelu'] as const),
        normFirst: next() < 0.5,
        finalNorm: next() < 0.5,
      };
      const what = JSON.stringify(config);
      const n = Transformer.random(config, { seed: trial, backend: 'native' });
      const r = Transformer.random(config, { seed: trial, backend: 'reference' });
      const src = randomSeqs(next, 2, config.srcVocab!, 1, 9);
      const tgt = randomSeqs(next, 2, config.tgtVocab!, 1, 7, config.bosId);
      const mem = r.encode(src);
      expectClose(n.encode(src).data, mem.data, 1e-4, 1e-4, `memory ${what}`);
      const logits = r.decode(tgt, mem);
      const scale = Math.max(...logits.data.map(Math.abs));
      expectClose(n.decode(tgt, mem).data, logits.data, 1e-4 * scale, 0, `logits ${what}`);
      n.dispose();
    }
  });

  it('greedy generation with the KV cache equals recomputing the prefix each step', () => {
    for (const backend of ['native', 'reference'] as const) {
      const model = Transformer.random({ ...base, normFirst: backend === 'reference' }, { seed: 9, backend });
      const src = randomSeqs(rng(3), 4, base.srcVocab!, 2, 10);
      const steps = 15;
      expect(greedy(model, src, { maxNewTokens: steps }), backend).toEqual(greedyRecompute(model, src, steps));
      model.dispose();
    }
  });

  it('stopAtEos: false runs every row for exactly maxNewTokens steps', () => {
    // A 5-token target vocabulary, so that random rows do meet EOS.
    const small = { ...base, tgtVocab: 5 };
    const model = Transformer.random(small, { seed: 0 });
    const src = randomSeqs(rng(4), 6, base.srcVocab!, 1, 9);
    const full = greedy(model, src, { maxNewTokens: 12, stopAtEos: false });
    const stopped = greedy(model, src, { maxNewTokens: 12 });
    expect(full.some((row) => row.includes(base.eosId!))).toBe(true);
    full.forEach((row, b) => {
      expect(row).toHaveLength(12);
      const eos = row.indexOf(base.eosId!);
      expect(stopped[b]).toEqual(eos >= 0 ? row.slice(0, eos) : row);
    });
    expect(() => greedy(model, src, { stopAtEos: 'no' as never })).toThrow(/options.stopAtEos must be a boolean, got "no"/);
    model.dispose();
  });

  it('padding does not change a row: batched equals one at a time', () => {
    const model = Transformer.random(base, { seed: 2 });
    const src = randomSeqs(rng(8), 3, base.srcVocab!, 1, 14);
    const batched = greedy(model, src, { maxNewTokens: 10 });
    src.forEach((s, b) => expect(greedy(model, [s], { maxNewTokens: 10 })[0]).toEqual(batched[b]));
    model.dispose();
  });

  it('saves and loads config.json, model.safetensors and tokenizer.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiayn-model-'));
    try {
      const tokenizer = CharTokenizer.fromText('abc');
      const model = Transformer.fromWeights(
        { ...base, srcVocab: tokenizer.vocabSize, tgtVocab: tokenizer.vocabSize },
        randomWeights(resolveConfig({ ...base, srcVocab: 7, tgtVocab: 7 }), 4),
        { tokenizer },
      );
      model.save(dir);
      const again = Transformer.load(dir);
      expect(again.config).toEqual(model.config);
      expect(again.tokenizer?.toJSON()).toEqual(tokenizer.toJSON());
      const src = [[4, 5, 6, 5]];
      expect(greedy(again, src, { maxNewTokens: 8 })).toEqual(greedy(model, src, { maxNewTokens: 8 }));
      expectClose(again.encode(src).data, model.encode(src).data, 0);
      writeFileSync(join(dir, 'config.json'), '{"dModel": 32');
      expect(() => Transformer.load(dir)).toThrow(/config.json: not valid JSON/);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...model.config, heads: 5, headDim: undefined }));
      expect(() => Transformer.load(dir)).toThrow(/config.json: config.heads must be a divisor of dModel \(32\) unless headDim is given, got 5/);
      expect(() => Transformer.load(join(dir, 'nope'))).toThrow(/nope[/\\]config.json: cannot read the model config/);
      model.dispose();
      again.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('save writes back exactly the weights it was built from, on both backends and every weight-sharing variant', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiayn-state-'));
    try {
      const variants: Array<Partial<TransformerConfig>> = [
        base,
        { ...base, tgtVocab: 23, shareEmbeddings: true, tieOutput: true },
        { ...base, finalNorm: false, normFirst: true },
      ];
      for (const backend of ['native', 'reference'] as const) {
        for (const variant of variants) {
          const weights = randomWeights(resolveConfig(variant), 5);
          const model = Transformer.fromWeights(variant, weights, { backend });
          model.save(dir);
          const saved = readSafetensors(join(dir, 'model.safetensors')).tensors;
          expect([...saved.keys()]).toEqual([...weights.keys()]);
          for (const [name, t] of weights) {
            expect(saved.get(name)!.shape, name).toEqual(t.shape);
            expect(Array.from(saved.get(name)!.data), name).toEqual(Array.from(t.data));
          }
          model.dispose();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('allocates no activation buffers per decode step: only per request', () => {
    // The native backend only: the reference's own ops (its topK's log-softmax) allocate as they please.
    for (const backend of ['native'] as const) {
      const model = Transformer.random(base, { seed: 8, backend });
      const src = [[4, 5, 6], [7, 8]];
      greedy(model, src, { maxNewTokens: 3, stopAtEos: false }); // warms the workspace
      const zeros = vi.spyOn(Tensor, 'zeros');
      const calls = (steps: number) => {
        zeros.mockClear();
        greedy(model, src, { maxNewTokens: steps, stopAtEos: false });
        return zeros.mock.calls.length;
      };
      const few = calls(2);
      const bytes = model.workspaceBytes;
      expect(bytes, backend).toBeGreaterThan(0);
      expect(calls(12), backend).toBe(few);
      expect(few, backend).toBe(0); // cross keys/values go from the workspace into the decode state
      zeros.mockClear();
      model.encode(src); // a result the caller keeps: the spy does see allocations
      expect(zeros.mock.calls.length, backend).toBeGreaterThan(0);
      expect(model.workspaceBytes, backend).toBe(bytes);
      zeros.mockRestore();
      model.dispose();
    }
  });

  it('results it returns are its own: later calls do not overwrite them', () => {
    const model = Transformer.random(base, { seed: 6 });
    const [a, b] = [[[4, 5, 6]], [[7, 8, 9, 10, 11]]];
    const memory = model.encode(a);
    const memoryCopy = memory.data.slice();
    const logits = model.decode([[1, 4]], memory);
    const logitsCopy = logits.data.slice();
    model.encode(b);
    model.decode([[1, 5, 6]], model.encode(b));
    greedy(model, b, { maxNewTokens: 5 });
    expect(memory.data).toEqual(memoryCopy);
    expect(logits.data).toEqual(logitsCopy);
    model.dispose();
  });

  it('refuses a tokenizer whose vocabulary or special ids differ from the config', () => {
    const tokenizer = CharTokenizer.fromText('abcdefghijklmnopqrs'); // 23 ids
    expect(() => Transformer.random({ ...base, tgtVocab: 23 }, { tokenizer })).not.toThrow();
    expect(() => Transformer.random(base, { tokenizer })).toThrow(/the tokenizer does not fit the model: vocabulary 23 != config.tgtVocab 29/);
    expect(() => Transformer.random({ ...base, tgtVocab: 23, padId: 1, unkId: 0 }, { tokenizer })).toThrow(/padId 0 != config.padId 1, unkId 3 != config.unkId 0/);
  });

  it('step and addRows check their arguments', () => {
    const model = Transformer.random(base, { seed: 3 });
    const other = Transformer.random(base, { seed: 3 });
    const state = model.createState();
    expect(() => model.step(state, new Int32Array(0))).toThrow(/state has no rows: add some with addRows first/);
    expect(model.addRows(state, [[4, 5], [6]], [2, 1])).toBe(0);
    expect(state.rows).toBe(3);
    expect(model.addRows(state, [[7]])).toBe(3);
    expect(() => model.step(state, new Int32Array(3))).toThrow(/tokens must have 4 entries \(one per row\), got 3/);
    expect(() => model.step(state, [1, 1, 1, 1] as never)).toThrow(/tokens must be an Int32Array, got Array\(4\)/);
    expect(() => model.step(state, Int32Array.of(1, 1, 29, 1))).toThrow(/tokens\[2\] must be an id in \[0, 28\], got 29/);
    expect(() => other.step(state, new Int32Array(4))).toThrow(/state was created by another model/);
    expect(() => model.step({} as never, new Int32Array(4))).toThrow(/state must be a DecodeState, got Object/);
    expect(() => model.addRows(state, [[4]], [0])).toThrow(/copies\[0\] must be an integer in \[1, 4096\], got 0/);
    expect(() => model.addRows(state, [[4]], [1, 1])).toThrow(/copies must have 1 entries/);
    expect(() => state.gather([0, 4])).toThrow(/indices\[1\] must be an integer in \[0, 3\], got 4/);
    expect(() => state.reserve(4, 41)).toThrow(/positions must be an integer in \[0, 40\], got 41/);
    expect(() => state.reserve(-1, 2)).toThrow(/rows must be an integer >= 0, got -1/);
    const before = state.bytes;
    state.reserve(8, 20, 10);
    expect(state.bytes).toBeGreaterThan(before);
    expect([0, 1, 2, 3].map((r) => state.srcLength(r))).toEqual([2, 2, 1, 1]); // contents kept
    expect(model.step(state, Int32Array.of(1, 1, 1, 1)).shape).toEqual([4, 29]);
    expect([0, 1, 2, 3].map((r) => state.position(r))).toEqual([1, 1, 1, 1]);
    expect([0, 1, 2, 3].map((r) => state.srcLength(r))).toEqual([2, 2, 1, 1]);
    state.gather([3, 0]);
    expect(state.rows).toBe(2);
    expect([state.srcLength(0), state.srcLength(1)]).toEqual([1, 2]);
    const full = Transformer.random({ ...base, maxPositions: 3 }, { seed: 3 });
    const s3 = full.createState();
    full.addRows(s3, [[4]]);
    for (let t = 0; t < 3; t++) full.step(s3, Int32Array.of(1));
    expect(() => full.step(s3, Int32Array.of(1))).toThrow(/a row would pass config.maxPositions \(3\) target positions/);
    for (const m of [model, other, full]) m.dispose();
    expect(() => model.createState()).toThrow(/the model was disposed/);
  });

  it('reports every missing key, unexpected key and shape mismatch at once', () => {
    const c = resolveConfig(base);
    const weights = randomWeights(c, 1);
    weights.delete('generator.bias');
    weights.delete('transformer.decoder.layers.1.norm3.weight');
    weights.set('transformer.decoder.layers.2.norm1.weight', Tensor.zeros([32]));
    weights.set('src_tok_emb.embedding.weight', Tensor.zeros([22, 32]));
    let message = '';
    try {
      Transformer.fromWeights(base, weights, { source: 'ckpt.safetensors' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^ckpt.safetensors: weights do not match the config/);
    expect(message).toMatch(/missing keys \(2\): transformer.decoder.layers.1.norm3.weight, generator.bias/);
    expect(message).toMatch(/unexpected keys \(1\): transformer.decoder.layers.2.norm1.weight/);
    expect(message).toMatch(/shape mismatches \(1\): src_tok_emb.embedding.weight: expected \[23, 32\], got \[22, 32\]/);
  });

  it('validates the config, naming the field', () => {
    const bad: Array<[Partial<TransformerConfig>, RegExp]> = [
      [{ heads: 5 }, /config.heads must be a divisor of dModel \(32\) unless headDim is given, got 5/],
      [{ dModel: 0 }, /config.dModel must be an integer in \[1, …\], got 0/],
      [{ dFF: 6.5 }, /config.dFF must be an integer/],
      [{ eosId: 29 }, /config.eosId must be an integer in \[0, 22\], got 29/],
      [{ padId: -1 }, /config.padId must be an integer in \[0, 22\], got -1/],
      [{ activation: 'tanh' as 'relu' }, /config.activation must be 'relu', 'gelu', 'gelu_tanh', 'silu', got "tanh"/],
      [{ normFirst: 'yes' as never }, /config.normFirst must be a boolean, got "yes"/],
      [{ layerNormEps: 0 }, /config.layerNormEps must be a finite number > 0, got 0/],
      [{ shareEmbeddings: true }, /config.shareEmbeddings must be false when srcVocab \(23\) differs from tgtVocab \(29\)/],
      [{ dmodel: 3 } as never, /config has an unknown field "dmodel"/],
      [{ encoderLayers: undefined }, /config.encoderLayers must be an integer in \[0, …\], got undefined/],
    ];
    for (const [extra, message] of bad) expect(() => Transformer.random({ ...base, ...extra })).toThrow(message);
  });

  it('rejects bad input with clear errors', () => {
    const model = Transformer.random(base, { seed: 1 });
    const memory = model.encode([[4, 5]]);
    expect(() => model.encode([])).toThrow(/src must hold at least one sequence, got an empty batch/);
    expect(() => model.encode([[4], []])).toThrow(/src\[1\] must not be empty/);
    expect(() => model.encode([[4, 23]])).toThrow(/src\[0\]\[1\] must be an integer id in \[0, 22\], got 23/);
    expect(() => model.encode([[4, 1.5]])).toThrow(RangeError);
    expect(() => model.encode('abc' as never)).toThrow(/src must be an array of id sequences, got "abc"/);
    expect(() => model.encode([new Float32Array(2) as never])).toThrow(/src\[0\] must be an array or Int32Array of ids, got Float32Array\(2\)/);
    expect(() => model.encode([new Array(41).fill(4)])).toThrow(/src\[0\] has 41 tokens, more than config.maxPositions \(40\)/);
    expect(() => model.decode([[1, 4]], Tensor.zeros([2, 2, 32]))).toThrow(/memory must have shape \[1, S, 32\]/);
    expect(() => model.decode([[1, 4]], memory, [3])).toThrow(/srcLengths\[0\] must be an integer in \[1, 2\], got 3/);
    expect(() => model.decode([[1, 4]], memory, [1, 2])).toThrow(/srcLengths must have 1 entries/);
    expect(() => model.decode([[1, 29]], memory)).toThrow(/tgt\[0\]\[1\] must be an integer id in \[0, 28\], got 29/);
    expect(() => greedy(model, [[4]], { maxNewTokens: 0 })).toThrow(/options.maxNewTokens must be an integer in \[1, 40\], got 0/);
    expect(() => greedy(model, [[4]], { maxNewTokens: 41 })).toThrow(RangeError);
    expect(() => Transformer.random(base, { backend: 'gpu' as never })).toThrow(/backend must be 'native' or 'reference'/);
    model.dispose();
    expect(() => greedy(model, [[4]])).toThrow(/the model was disposed/);
    expect(() => model.step(model.createState(), new Int32Array(1))).toThrow(/the model was disposed/);
    model.dispose();
  });
});
