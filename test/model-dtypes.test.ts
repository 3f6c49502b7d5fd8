// The Transformer with bf16 and int8 weights, on the PyTorch and Hugging Face
// fixtures: every op of a whole run (encoder, teacher-forced decoder, greedy
// steps) native against the reference on the same inputs (the reference
// rounds and quantizes the same way, lib/backend/dtypes.ts); the logits'
// distance from fp32; the memory the weights take; save/load; the engine;
// bad options.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Transformer, generate, info, type Backend, type Tensor, type WeightDType } from '../lib/index.js';
import { Engine } from '../lib/serve/engine.js';
import { isa } from './helpers.js';
import { pairedBackend } from './paired-backend.js';

const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url));
const DTYPES: WeightDType[] = ['bf16', 'int8'];

interface Fixture {
  load: (options: { backend: 'native' | 'reference' | Backend; dtype: WeightDType; outputDtype?: WeightDType }) => Transformer;
  src: number[][];
  tgt: number[][];
}

function pytorchFixture(name: string): Fixture {
  const dir = join(fixtures, 'pytorch', name);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { src: number[][]; tgt: number[][] };
  return { load: (o) => Transformer.fromPyTorch(join(dir, 'model.safetensors'), config, o), ...cases };
}

function hfFixture(name: string): Fixture {
  const dir = join(fixtures, 'hf', name);
  const f = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).forward;
  const trim = (rows: number[][], masks: number[][]) => rows.map((r, b) => r.filter((_, t) => masks[b][t] === 1));
  return { load: (o) => Transformer.load(dir, o), src: trim(f.input_ids, f.attention_mask), tgt: trim(f.decoder_input_ids, f.decoder_attention_mask) };
}

/** Teacher-forced logits at the valid positions, and greedy ids. */
function outputs(model: Transformer, fx: Fixture): { logits: number[]; greedy: number[][] } {
  const memory = model.encode(fx.src);
  const all: Tensor = model.decode(fx.tgt, memory, fx.src.map((s) => s.length)); // [B, T, V]
  const [, T, V] = all.shape;
  const logits = fx.tgt.flatMap((t, b) => [...all.data.subarray(b * T * V, (b * T + t.length) * V)]);
  const greedy = generate(model, fx.src, { maxNewTokens: 12, numBeams: 1, doSample: false }).map((r) => r.sequences[0].ids);
  return { logits, greedy };
}

describe(`weight dtypes on ${isa} (${JSON.stringify(info().gemm)})`, () => {
  const cases: Array<[string, () => Fixture]> = [
    ['pytorch/paper', () => pytorchFixture('paper')],
    ['pytorch/preln-gelu', () => pytorchFixture('preln-gelu')],
    ['hf/marian', () => hfFixture('marian')],
    ['hf/bart', () => hfFixture('bart')],
    ['hf/t5-gated', () => hfFixture('t5-gated')],
  ];
  /** max |a - b| / max |b|. */
  const relative = (a: number[], b: number[]) =>
    a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  for (const [name, make] of cases) {
    for (const dtype of DTYPES) {
      it(`${name} ${dtype}: every op of the run within 1e-5 of the reference's on the same inputs`, () => {
        const fx = make();
        const backend = pairedBackend(1e-5);
        const model = fx.load({ backend, dtype });
        try {
          expect([model.dtype, model.outputDtype]).toEqual([dtype, dtype]);
          outputs(model, fx);
        } finally {
          model.dispose();
        }
        for (const op of ['linear', 'attention', 'embedding']) expect(backend.calls.get(op), op).toBeGreaterThan(0);
      });
    }
  }

  // PyTorch's own bf16 autocast and dynamic int8 move these fixtures' logits by 4.5e-3..7.5e-3 and
  // 1.6e-2..3.3e-2 of the largest (tools/dtype_deviation.py); a wrong scale or rounding would move them by ~1.
  for (const name of ['paper', 'odd', 'preln-gelu']) {
    it(`pytorch/${name}: bf16 logits within 2e-2 and int8 within 5e-2 of fp32's, relative to the largest`, () => {
      const fx = pytorchFixture(name);
      const [fp32, bf16, int8] = (['fp32', 'bf16', 'int8'] as const).map((dtype) => {
        const model = fx.load({ backend: 'native', dtype });
        try {
          return outputs(model, fx).logits;
        } finally {
          model.dispose();
        }
      });
      expect(relative(bf16, fp32)).toBeLessThanOrEqual(2e-2);
      expect(relative(int8, fp32)).toBeLessThanOrEqual(5e-2);
      expect(relative(bf16, fp32)).toBeGreaterThan(0);
    });
  }

  for (const dtype of DTYPES) {
    it(`${dtype}: the fused decoder step gives the op-by-op step's logits bit for bit`, () => {
      const fx = hfFixture('t5-gated');
      const [fused, ops] = [true, false].map((fusedStep) => {
        const model = Transformer.load(join(fixtures, 'hf', 't5-gated'), { dtype, fusedStep });
        try {
          const state = model.createState();
          model.addRows(state, fx.src);
          const steps: number[][] = [];
          const tokens = new Int32Array(fx.src.length).fill(model.config.bosId);
          for (let i = 0; i < 6; i++) {
            const logits = model.step(state, tokens);
            steps.push([...logits.data]);
            model.backend.argmax(logits).forEach((id, r) => (tokens[r] = id));
          }
          return steps;
        } finally {
          model.dispose();
        }
      });
      expect(fused).toEqual(ops);
    });
  }

  it('bf16 weights take half the memory of fp32, int8 a quarter (plus per-row scales)', () => {
    const fx = pytorchFixture('paper');
    const bytes = (dtype: WeightDType) => {
      const before = info().packedBytes;
      const model = fx.load({ backend: 'native', dtype });
      const held = info().packedBytes - before;
      model.dispose();
      return held;
    };
    const [fp32, bf16, int8] = (['fp32', 'bf16', 'int8'] as const).map(bytes);
    expect(bf16 / fp32).toBeGreaterThan(0.45);
    expect(bf16 / fp32).toBeLessThan(0.56);
    expect(int8 / fp32).toBeGreaterThan(0.2);
    expect(int8 / fp32).toBeLessThan(0.33);
  });

  it('outputDtype keeps the output projection (and only it) in another dtype', () => {
    const fx = pytorchFixture('paper');
    const backend = pairedBackend(1e-5);
    const model = fx.load({ backend, dtype: 'int8', outputDtype: 'fp32' });
    try {
      expect([model.dtype, model.outputDtype]).toEqual(['int8', 'fp32']);
      const { tgtVocab: V, dModel: D } = model.config;
      const output = backend.packed.filter((p) => p.shape[0] === V && p.shape[1] === D);
      expect(output).toEqual([{ shape: [V, D], dtype: 'fp32' }]);
      expect(backend.packed.filter((p) => p.dtype === 'int8')).toHaveLength(backend.packed.length - 1);
      outputs(model, fx);
    } finally {
      model.dispose();
    }
  });

  for (const dtype of DTYPES) {
    it(`an ${dtype} model saved and loaded again in ${dtype} gives the same logits`, () => {
      const fx = pytorchFixture('odd');
      const dir = mkdtempSync(join(tmpdir(), 'aiayn-dtype-'));
      try {
        const model = fx.load({ backend: 'native', dtype });
        const before = outputs(model, fx);
        model.save(dir);
        model.dispose();
        const again = Transformer.load(dir, { dtype });
        const after = outputs(again, fx);
        again.dispose();
        // bf16 values survive exactly; int8 requantizes q · s to the same q, with s within an ulp.
        const scale = before.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(after.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - before.logits[i])), 0)).toBeLessThanOrEqual(1e-6 * scale);
        expect(after.greedy).toEqual(before.greedy);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('the engine loads the model in the dtype asked and generates what the model does', async () => {
    const dir = join(fixtures, 'hf', 'marian');
    const fx = hfFixture('marian');
    const model = Transformer.load(dir, { dtype: 'int8' });
    const want = generate(model, fx.src, { maxNewTokens: 8 }).map((r) => r.sequences[0].ids);
    model.dispose();
    const engine = await Engine.load(dir, { dtype: 'int8' });
    try {
      const got = await Promise.all(fx.src.map((ids) => engine.generate(ids, { maxNewTokens: 8 })));
      expect(got.map((r) => r.sequences[0].ids)).toEqual(want);
    } finally {
      await engine.close();
    }
  });

  it('rejects an unknown dtype, naming the option', () => {
    const fx = pytorchFixture('paper');
    expect(() => fx.load({ backend: 'native', dtype: 'fp16' as WeightDType })).toThrow(
      new RangeError('options.dtype must be one of fp32, bf16, int8, got "fp16"'),
    );
    expect(() => fx.load({ backend: 'native', dtype: 'int8', outputDtype: 'int4' } as never)).toThrow(
      new RangeError('options.outputDtype must be one of fp32, bf16, int8, got "int4"'),
    );
  });
});
