// Parity with PyTorch, an oracle nobody here wrote: the tutorial's
// Seq2SeqTransformer with random weights, run by tools/pytorch_fixtures.py
// (see test/fixtures/pytorch/README.md). Both backends must reproduce its
// encoder output and logits at every valid position and its greedy ids.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Transformer, generate, readSafetensors, type Tensor } from '../lib/index.js';
import { isa } from './helpers.js';

const fixtures = fileURLToPath(new URL('fixtures/pytorch/', import.meta.url));
const names = readdirSync(fixtures, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

interface Cases {
  src: number[][];
  tgt: number[][];
  greedy: number[][];
}

/** max |a - b| over the first `lengths[b]` positions of each row of [B, T, X] tensors. */
function maxDiffValid(a: Tensor, b: Tensor, lengths: number[]): { diff: number; scale: number } {
  const [B, T, X] = b.shape;
  expect(a.shape).toEqual(b.shape);
  let diff = 0;
  let scale = 0;
  for (let r = 0; r < B; r++) {
    for (let i = r * T * X; i < (r * T + lengths[r]) * X; i++) {
      diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
      scale = Math.max(scale, Math.abs(b.data[i]));
    }
  }
  return { diff, scale };
}

describe(`PyTorch parity on ${isa}`, () => {
  it('has fixtures', () => expect(names.length).toBeGreaterThanOrEqual(3));

  for (const name of names) {
    for (const backend of ['native', 'reference'] as const) {
      it(`${name}, ${backend}: encoder output, logits and greedy ids`, () => {
        const dir = join(fixtures, name);
        const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Cases;
        const expected = readSafetensors(join(dir, 'outputs.safetensors')).tensors;
        const model = Transformer.fromPyTorch(join(dir, 'model.safetensors'), config, { backend });
        const srcLengths = cases.src.map((s) => s.length);

        const memory = model.encode(cases.src);
        const m = maxDiffValid(memory, expected.get('memory')!, srcLengths);
        expect(m.diff, `memory max |Δ| (scale ${m.scale})`).toBeLessThanOrEqual(1e-4 * m.scale);

        const logits = model.decode(cases.tgt, memory, srcLengths);
        const l = maxDiffValid(logits, expected.get('logits')!, cases.tgt.map((t) => t.length));
        expect(l.diff, `logits max |Δ| (scale ${l.scale})`).toBeLessThanOrEqual(1e-4 * l.scale);
        console.log(`parity ${name} ${backend} ${isa}: memory max|Δ| ${m.diff.toExponential(2)}, logits max|Δ| ${l.diff.toExponential(2)} (max|logit| ${l.scale.toFixed(2)})`);

        // PyTorch's rows run 20 steps past any EOS; generate() stops at EOS and drops it.
        const greedy = cases.greedy.map((row) => (row.includes(config.eosId) ? row.slice(0, row.indexOf(config.eosId)) : row));
        expect(generate(model, cases.src, { maxNewTokens: 20 }).map((g) => g.sequences[0].ids)).toEqual(greedy);
        cases.src.forEach((s, b) => expect(generate(model, [s], { maxNewTokens: 20 })[0].sequences[0].ids).toEqual(greedy[b]));
        model.dispose();
      });
    }
  }
});
