// The shipped demo model (models/pt-numbers): aiayn's greedy outputs equal
// PyTorch's own on the committed 500-example sample, and held-out accuracy
// is at least 99 % on 2000 examples, on the ISA in use.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Transformer } from '../lib/index.js';
import { generateText } from '../lib/cli/text.js';
import { isa } from './helpers.js';

const dir = 'models/pt-numbers';
const heldout = JSON.parse(readFileSync(`${dir}/heldout.json`, 'utf8')) as Array<{ text: string; digits: string }>;
const pytorch = JSON.parse(readFileSync(`${dir}/pytorch_predictions.json`, 'utf8')) as { predictions: string[] };

function generateAll(model: Transformer, texts: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < texts.length; i += 100) out.push(...generateText(model, texts.slice(i, i + 100), { maxNewTokens: 8 }));
  return out;
}

describe(`demo model on ${isa}`, () => {
  it("agrees with PyTorch's greedy predictions on the committed sample", () => {
    const model = Transformer.load(dir);
    const texts = heldout.slice(0, pytorch.predictions.length).map((e) => e.text);
    expect(pytorch.predictions).toHaveLength(500);
    expect(generateAll(model, texts)).toEqual(pytorch.predictions);
    model.dispose();
  });

  it('reaches >= 99 % exact match on 2000 held-out examples', () => {
    const model = Transformer.load(dir);
    expect(heldout).toHaveLength(2000);
    const out = generateAll(model, heldout.map((e) => e.text));
    const correct = out.filter((o, i) => o === heldout[i].digits).length;
    expect(correct / heldout.length).toBeGreaterThanOrEqual(0.99);
    model.dispose();
  });
});
