// Inputs the fuzzer (tools/fuzz) found, and the ones its review found, each
// replayed against the parser that mishandled it: every one now gives a clear
// Error naming the file or field, quickly and without a large allocation.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../lib/io/checkpoint.js';
import { readModelDir } from '../lib/io/model-dir.js';
import { loadTokenizer } from '../lib/tokenizer/load.js';
import { Transformer } from '../lib/index.js';

const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'aiayn-fuzz-regressions-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A copy of `fixture` (a path under test/fixtures or the repository) with `file` replaced by `content`. */
function withFile(fixture: string, file: string, content: string | Uint8Array): string {
  const dir = join(scratch, `${copies++}`);
  cpSync(fixture.startsWith('models/') ? fixture : join(fixtures, fixture), dir, { recursive: true });
  writeFileSync(join(dir, file), content);
  return dir;
}

function editedJson(path: string, edit: (json: Record<string, unknown>) => void): string {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  return JSON.stringify(json);
}

/** ArrayBuffer bytes held after `f` returned (its result kept alive). */
function arrayBuffersHeldBy(f: () => unknown): number {
  const before = process.memoryUsage().arrayBuffers;
  const result = f();
  const after = process.memoryUsage().arrayBuffers;
  expect(result).toBeDefined();
  return after - before;
}

describe('model.safetensors.index.json', () => {
  it('that is not an object is an Error naming it (was: "Cannot read properties of null")', () => {
    const dir = withFile('hf/bart', 'model.safetensors.index.json', 'null');
    expect(() => openCheckpoint(dir)).toThrow(/model\.safetensors\.index\.json: must be a JSON object, got null/);
  });

  it('naming a shard with a NUL byte is an Error naming the entry (was: Node\'s ERR_INVALID_ARG_VALUE)', () => {
    const dir = withFile('hf/bart', 'model.safetensors.index.json', JSON.stringify({ weight_map: { 'model.shared.weight': '\u0000' } }));
    expect(() => openCheckpoint(dir)).toThrow(/model\.safetensors\.index\.json: weight_map\["model\.shared\.weight"\] must be a file name/);
  });
});

describe('config.json', () => {
  it('with a million decoder layers is refused before a million layers of recipes are built (was: a hang)', () => {
    const config = editedJson(join(fixtures, 'hf/t5/config.json'), (c) => { c.num_decoder_layers = 986034; });
    const dir = withFile('hf/t5', 'config.json', config);
    expect(() => readModelDir(dir)).toThrow(/config\.json: 2 encoder and 986034 decoder layers cannot match the \d+ tensors of .*model\.safetensors/);
  });

  it("of aiayn's own with 2^53 - 1 layers is refused before the expected weights are listed (was: a hang)", () => {
    const config = editedJson('models/pt-numbers/config.json', (c) => { c.encoderLayers = Number.MAX_SAFE_INTEGER; });
    const dir = withFile('models/pt-numbers', 'config.json', config);
    expect(() => readModelDir(dir)).toThrow(/model\.safetensors: 9007199254740991 encoder and 2 decoder layers cannot match the \d+ tensors of the weights/);
  });

  it('asking Marian for a 2^30-row computed position table is refused before allocating it (was: "Invalid typed array length")', () => {
    const config = editedJson(join(fixtures, 'hf/marian/config.json'), (c) => { c.max_position_embeddings = 2 ** 30; });
    const dir = withFile('hf/marian', 'config.json', config);
    expect(() => readModelDir(dir)).toThrow(/positional_encoding\.pos_embedding: computing \[1073741824, \d+\] \(from config\.json's sizes\) would take \d+ values, more than 16777216/);
  });

  it("with T5's n_positions at 2^28 is refused before sizing the relative-position table by it (was: 12 GB resident and 3.5 minutes)", () => {
    const config = editedJson(join(fixtures, 'hf/t5/config.json'), (c) => { c.n_positions = 2 ** 28; });
    const dir = withFile('hf/t5', 'config.json', config);
    // Named with the file, as config.json's other errors (was: the table's own check, naming no file).
    expect(() => Transformer.load(dir, { backend: 'reference' })).toThrow(/\/config\.json: config\.maxPositions must be at most \d+ with relative positions \(a table of \d+ heads × \(2·maxPositions - 1\) values, at most 16777216\), got 268435456/);
  });

  it('lists at most 20 missing tensors in its error', () => {
    const config = editedJson(join(fixtures, 'hf/t5/config.json'), (c) => { c.num_layers = 40; });
    const dir = withFile('hf/t5', 'config.json', config);
    expect(() => readModelDir(dir)).toThrow(/missing tensors \(\d+\): [^…]*… \(\d+ more\)/);
  });
});

describe('generation_config.json', () => {
  it('with a bad value is refused at load, naming the file and its field (was: accepted, then an error naming options.numBeams on every request)', () => {
    const json = editedJson(join(fixtures, 'hf/marian/generation_config.json'), (g) => { g.num_beams = 'four'; });
    const dir = withFile('hf/marian', 'generation_config.json', json);
    expect(() => readModelDir(dir)).toThrow(/generation_config\.json: "num_beams" must be a number, got "four"/);
    const sequences = editedJson(join(fixtures, 'hf/marian/generation_config.json'), (g) => { g.num_return_sequences = 4; });
    expect(() => readModelDir(withFile('hf/marian', 'generation_config.json', sequences))).toThrow(/generation_config\.json: [^]*"num_return_sequences"[^]*, got 4/);
  });
});

describe('tokenizer files', () => {
  it('an added token with id 169995738 costs no 170 MB table (was: a 170 MB array and 11 s)', () => {
    const json = editedJson(join(fixtures, 'hf/t5/tokenizer.json'), (t) => {
      (t.added_tokens as Record<string, unknown>[]).push({ id: 169995738, content: '<far>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    });
    const dir = withFile('hf/t5', 'tokenizer.json', json);
    const held = arrayBuffersHeldBy(() => loadTokenizer(dir));
    expect(held).toBeLessThan(16 * 2 ** 20);
    const tokenizer = loadTokenizer(dir)!;
    expect(tokenizer.vocabSize).toBe(169995739);
    expect(tokenizer.decode([169995738], { skipSpecialTokens: false })).toBe(tokenizer.idToToken(169995738));
  });

  it('a vocabulary id beyond 2^53 is an Error naming it', () => {
    const json = editedJson(join(fixtures, 'hf/bart/tokenizer.json'), (t) => { ((t.model as Record<string, unknown>).vocab as Record<string, number>).hello = 1e300; });
    const dir = withFile('hf/bart', 'tokenizer.json', json);
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: model\.vocab\["hello"\] must be an integer ≥ 0, got 1e\+300/);
  });

  it('Marian and M2M100 vocabularies of 150k tokens load (was: "Maximum call stack size exceeded" from Math.max(...ids))', () => {
    const big = (path: string) => editedJson(path, (v) => { for (let i = 0; i < 150_000; i++) v[`extra${i}`] = 100_000 + i; });
    const marian = withFile('hf/marian', 'vocab.json', big(join(fixtures, 'hf/marian/vocab.json')));
    expect(loadTokenizer(marian)!.vocabSize).toBe(250_000);
    const m2m100 = withFile('hf/m2m100', 'vocab.json', big(join(fixtures, 'hf/m2m100/vocab.json')));
    expect(loadTokenizer(m2m100)!.vocabSize).toBe(250_000);
  });
});
