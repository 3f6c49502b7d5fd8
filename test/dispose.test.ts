// dispose() frees what a model holds even while the model object stays
// referenced (issue #11, found by tools/soak): its packed weights (counted by
// the addon: info().packedWeights) and the KV buffers of the decode state
// generate() keeps per model between calls. A model dropped without dispose()
// is collected with all of it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Transformer, generate, info } from '../lib/index.js';
import { heldout } from './serve-helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** ArrayBuffer bytes still referenced after a full collection. */
function arrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

const MiB = 1024 * 1024;
const texts = heldout.slice(0, 16).map((e) => e.text);

describe('dispose()', () => {
  it('frees every packed weight of the model', () => {
    const before = info();
    const model = Transformer.load('models/pt-numbers');
    const loaded = info();
    expect(loaded.packedWeights - before.packedWeights).toBe(25); // 2 × 4 encoder + 2 × 8 decoder linears (self-attention packs Wq and [Wk; Wv] apart) + the generator
    expect(loaded.packedBytes - before.packedBytes).toBeGreaterThan(2 * MiB);
    model.dispose();
    expect(info()).toMatchObject({ packedWeights: before.packedWeights, packedBytes: before.packedBytes });
  });

  it('releases the decode state it keeps for generate(): no rows, no bytes', () => {
    const model = Transformer.load('models/pt-numbers');
    generate(model, texts.slice(0, 2), { numBeams: 2 });
    const state = model.keptState();
    expect(state.bytes).toBeGreaterThan(0);
    model.dispose();
    expect(state.rows).toBe(0);
    expect(state.bytes).toBe(0);
    expect(() => model.keptState()).toThrow(/the model was disposed/);
  });

  it("frees generate()'s kept decode state while the model object is still referenced", () => {
    const before = arrayBuffers();
    const model = Transformer.load('models/pt-numbers');
    generate(model, texts, { numBeams: 4, maxNewTokens: 80 }); // 64 rows × 80 positions: MiBs of KV cache
    const held = arrayBuffers() - before;
    expect(held).toBeGreaterThan(4 * MiB);
    model.dispose();
    expect(arrayBuffers() - before).toBeLessThan(MiB);
    expect(model.config.dModel).toBe(128); // still referenced here
  });

  it('models dropped without dispose() go with their buffers, even within one synchronous job', () => {
    const before = arrayBuffers();
    for (let i = 0; i < 4; i++) generate(Transformer.load('models/pt-numbers'), texts, { numBeams: 4, maxNewTokens: 80 });
    expect(arrayBuffers() - before).toBeLessThan(2 * MiB);
  });
});
