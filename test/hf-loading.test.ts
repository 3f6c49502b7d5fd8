// Loading Hugging Face snapshots: what is read, what is refused and how
// (every problem an Error naming the file and the field or tensor), the
// generation defaults a snapshot brings, and saving one in aiayn's format.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Transformer, generate, readSafetensors, resolveConfig, writeSafetensors } from '../lib/index.js';
import { relativeBucket } from '../lib/model/relative-positions.js';

const fixtures = fileURLToPath(new URL('fixtures/hf/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'aiayn-hf-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A copy of fixture `variant` to break. */
function copy(variant: string): string {
  const dir = join(scratch, `${variant}-${copies++}`);
  cpSync(join(fixtures, variant), dir, { recursive: true });
  return dir;
}

function editJson(path: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

describe('loading a snapshot', () => {
  it('refuses a pickle and says how to convert it', () => {
    const dir = copy('marian');
    rmSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'pytorch_model.bin'), 'not read');
    expect(() => Transformer.load(dir)).toThrow(/pytorch_model\.bin: aiayn reads only safetensors.*save_pretrained\('.*', safe_serialization=True\)/);
  });

  it('names an unsupported model_type and the supported ones', () => {
    const dir = copy('marian');
    editJson(join(dir, 'config.json'), (c) => { c.model_type = 'gpt2'; });
    expect(() => Transformer.load(dir)).toThrow(/config\.json: model_type "gpt2" is not supported \(supported: marian, bart, mbart, m2m_100, t5\)/);
  });

  it('names a config value aiayn cannot run', () => {
    const dir = copy('marian');
    editJson(join(dir, 'config.json'), (c) => { c.activation_function = 'quick_gelu'; });
    expect(() => Transformer.load(dir)).toThrow(/config\.json: "activation_function" = "quick_gelu" is not supported/);
    editJson(join(dir, 'config.json'), (c) => { c.activation_function = 'swish'; c.decoder_attention_heads = 4; });
    expect(() => Transformer.load(dir)).toThrow(/"encoder_attention_heads" \(3\) and "decoder_attention_heads" \(4\) differ/);
  });

  it('names a generation setting it cannot honour, and several EOS ids', () => {
    const dir = copy('marian');
    editJson(join(dir, 'generation_config.json'), (g) => { g.typical_p = 0.5; });
    expect(() => Transformer.load(dir)).toThrow(/generation_config\.json: "typical_p" = 0\.5 is not supported/);
    editJson(join(dir, 'generation_config.json'), (g) => { delete g.typical_p; g.eos_token_id = [0, 5]; });
    expect(() => Transformer.load(dir)).toThrow(/generation_config\.json: "eos_token_id" must be one token id, got/);
    editJson(join(dir, 'generation_config.json'), (g) => { g.eos_token_id = 0; g.no_such_setting = 1; });
    expect(() => Transformer.load(dir)).toThrow(/unknown generation setting "no_such_setting"/);
  });

  it('lists missing and unexpected tensors by their checkpoint names', () => {
    const dir = copy('marian');
    const file = join(dir, 'model.safetensors');
    const { tensors } = readSafetensors(file);
    const moved = tensors.get('model.encoder.layers.1.fc2.bias')!;
    tensors.delete('model.encoder.layers.1.fc2.bias');
    tensors.set('model.encoder.layers.1.fc3.bias', moved);
    writeSafetensors(file, tensors);
    expect(() => Transformer.load(dir)).toThrow(
      /model\.safetensors: the weights do not match the config: missing tensors \(1\): model\.encoder\.layers\.1\.fc2\.bias\. unexpected tensors \(1\).*model\.encoder\.layers\.1\.fc3\.bias/,
    );
  });

  it('reads shards only from the snapshot directory', () => {
    const dir = copy('bart');
    editJson(join(dir, 'model.safetensors.index.json'), (index) => {
      const map = index.weight_map as Record<string, string>;
      map[Object.keys(map)[0]] = '../elsewhere.safetensors';
    });
    expect(() => Transformer.load(dir)).toThrow(/model\.safetensors\.index\.json: weight_map\[".*"\] must be a file name in the snapshot directory/);
  });

  it("keeps the snapshot's generation defaults, under each call's options", () => {
    const model = Transformer.load(join(fixtures, 'marian'));
    try {
      expect(model.generation).toMatchObject({ numBeams: 3, maxLength: 20, badWordsIds: [[555]], forcedEosTokenId: 0 });
      expect(model.config.bosId).toBe(555); // decoder_start_token_id
      const [byDefault] = generate(model, [[14, 103, 0]]);
      expect(byDefault.sequences[0].ids.length).toBeLessThanOrEqual(19); // max_length 20 with the start token
      const [short] = generate(model, [[14, 103, 0]], { maxNewTokens: 3, numBeams: 1 });
      expect(short.sequences[0].ids.length + (short.sequences[0].finishReason === 'stop' ? 1 : 0)).toBeLessThanOrEqual(3);
    } finally {
      model.dispose();
    }
  });

  it('saves a snapshot in aiayn format that loads to the same logits and generation defaults', () => {
    const model = Transformer.load(join(fixtures, 'bart'));
    const dir = join(scratch, 'saved-bart');
    try {
      model.save(dir);
      const again = Transformer.load(dir);
      try {
        expect(again.config).toEqual(model.config);
        expect(again.generation).toEqual(model.generation); // written to generation_config.json
        expect(model.generation).toMatchObject({ forcedBosTokenId: expect.any(Number) });
        const src = [[0, 11, 12, 13, 2], [0, 14, 2]];
        const a = model.decode([[2, 0, 7], [2, 0]], model.encode(src), [5, 3]);
        const b = again.decode([[2, 0, 7], [2, 0]], again.encode(src), [5, 3]);
        expect(Array.from(b.data)).toEqual(Array.from(a.data));
      } finally {
        again.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('names an unknown target language and lists known ones', () => {
    const model = Transformer.load(join(fixtures, 'bart'));
    try {
      expect(() => generate(model, [[0, 11, 2]], { targetLanguage: 'xx_YY' })).toThrow(/options\.targetLanguage "xx_YY" is not a language of the model's tokenizer/);
    } finally {
      model.dispose();
    }
  });
});

describe('config fields of the families', () => {
  const base = { dModel: 8, heads: 2, dFF: 16, encoderLayers: 1, decoderLayers: 1, srcVocab: 10, tgtVocab: 10, maxPositions: 8, padId: 0, bosId: 1, eosId: 2, unkId: 3 };
  it('checks them', () => {
    expect(resolveConfig({ ...base, heads: 3, headDim: 4 }).headDim).toBe(4);
    expect(() => resolveConfig({ ...base, heads: 3 })).toThrow(/config\.heads must be a divisor of dModel \(8\) unless headDim is given/);
    expect(() => resolveConfig({ ...base, positions: 'rotary' as never })).toThrow(/config\.positions must be 'shared', 'separate', 'relative', got "rotary"/);
    expect(() => resolveConfig({ ...base, outputScale: 0.5 })).toThrow(/config\.outputScale must be 1 unless tieOutput is true/);
    expect(() => resolveConfig({ ...base, norm: 'batchnorm' as never })).toThrow(/config\.norm must be/);
  });
});

describe('relativeBucket', () => {
  // Expected values printed by transformers 5.17's T5Attention._relative_position_bucket (num_buckets 32, max_distance 128).
  it("matches transformers' buckets", () => {
    const bi = { buckets: 32, maxDistance: 128, bidirectional: true };
    const causal = { buckets: 32, maxDistance: 128, bidirectional: false };
    // bidirectional: 16 per direction, exact below 8, then log-spaced up to 128.
    expect([0, 1, 7, 8, 12, 16, 127, 128, 1000].map((d) => relativeBucket(d, bi))).toEqual([0, 17, 23, 24, 25, 26, 31, 31, 31]);
    expect([-1, -7, -8, -12, -16, -1000].map((d) => relativeBucket(d, bi))).toEqual([1, 7, 8, 9, 10, 15]);
    // causal: the past only, exact below 16; the future all in bucket 0.
    expect([5, 0, -1, -15, -16, -20, -127, -5000].map((d) => relativeBucket(d, causal))).toEqual([0, 0, 1, 15, 16, 17, 31, 31]);
  });
});
