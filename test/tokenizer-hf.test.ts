// The Hugging Face tokenizers against Python's (test/fixtures/hf/*/expected.json,
// written by tools/hf_fixtures.py), their parts on hand-made inputs, and bad input.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Bpe } from '../lib/tokenizer/bpe.js';
import { BYTE_TO_CHAR, bytesToChars, CHAR_TO_BYTE } from '../lib/tokenizer/byte-level.js';
import { HFTokenizer } from '../lib/tokenizer/hf-tokenizer.js';
import { loadTokenizer } from '../lib/tokenizer/load.js';
import { MarianTokenizer } from '../lib/tokenizer/marian.js';
import { M2M100Tokenizer } from '../lib/tokenizer/m2m100.js';
import { CharsMap } from '../lib/tokenizer/precompiled.js';
import { readFields } from '../lib/tokenizer/protobuf.js';
import { SentencePieceModel } from '../lib/tokenizer/sentencepiece.js';
import { Unigram } from '../lib/tokenizer/unigram.js';

const HF = join(import.meta.dirname, 'fixtures', 'hf');
const variants = existsSync(HF) ? readdirSync(HF).filter((v) => existsSync(join(HF, v, 'expected.json'))) : [];

interface Expected {
  texts: string[];
  notes?: string[];
  special: { pad: number | null; eos: number | null; unk: number | null };
  encode: { src_lang: string | null; ids: number[][] }[];
  decode: { src_lang: string | null; skip_special: string[]; keep_special: string[] }[];
}

describe.each(variants)('%s tokenizer matches Python', (variant) => {
  const dir = join(HF, variant);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
  const tokenizer = loadTokenizer(dir)!;
  // marian-separate's decodes were recorded with use_source_tokenizer=True (see its notes).
  const decodeExtra = JSON.stringify(expected.notes ?? []).includes('use_source_tokenizer=True') ? { useSourceTokenizer: true } : {};

  it('loads, with the special ids of the files', () => {
    expect(tokenizer).toBeDefined();
    expect(tokenizer.eosId).toBe(expected.special.eos ?? undefined);
    expect(tokenizer.unkId).toBe(expected.special.unk ?? undefined);
  });

  expected.encode.forEach((run, r) => {
    // The first run is the tokenizer's default source language; later ones name theirs.
    const options = r > 0 && run.src_lang !== null ? { sourceLanguage: run.src_lang } : {};
    it(`encodes every text (src_lang ${run.src_lang})`, () => {
      expect(expected.texts.map((t) => Array.from(tokenizer.encode(t, options)))).toEqual(run.ids);
    });
    it(`decodes every row, special tokens skipped and kept (src_lang ${run.src_lang})`, () => {
      const decode = (skip: boolean) => run.ids.map((ids) => (tokenizer as MarianTokenizer).decode(ids, { skipSpecialTokens: skip, ...decodeExtra }));
      expect(decode(true)).toEqual(expected.decode[r].skip_special);
      expect(decode(false)).toEqual(expected.decode[r].keep_special);
    });
  });
});

describe('tokenizer parts', () => {
  it('reads protobuf varints, strings, fixed32 and negative int32', () => {
    // field 1 varint 300, field 2 "hi", field 3 float 1.5, field 4 int32 -1 (10-byte varint)
    const buf = Uint8Array.from([0x08, 0xac, 0x02, 0x12, 0x02, 0x68, 0x69, 0x1d, 0, 0, 0xc0, 0x3f, 0x20, ...Array(9).fill(0xff), 0x01]);
    const fields = [...readFields(buf, 'x')];
    expect(fields.map((f) => f.number)).toEqual([1, 2, 3, 4]);
    expect(fields[0].value).toBe(300);
    expect(new TextDecoder().decode(fields[1].bytes)).toBe('hi');
    expect(fields[2].value).toBe(1.5);
    expect(fields[3].int32).toBe(-1);
    expect(() => [...readFields(buf.subarray(0, 5), 'm.spm')]).toThrow(/m\.spm: field 2 of 2 bytes runs past the end/);
    expect(() => [...readFields(Uint8Array.from([0x08, 0x80]), 'm.spm')]).toThrow(/m\.spm: truncated varint/);
  });

  it('looks characters up in a precompiled charsmap as the tokenizers crate does', () => {
    const json = JSON.parse(readFileSync(join(HF, 'mbart', 'tokenizer.json'), 'utf8'));
    const b64 = json.normalizer.normalizers.find((n: { type: string }) => n.type === 'Precompiled').precompiled_charsmap;
    const map = new CharsMap(Buffer.from(b64, 'base64'), 'mbart');
    // Expected values from tokenizers.normalizers.Precompiled(...).normalize_str.
    const cases: [string, string][] = [['ﬁsh', 'fish'], ['①㎏', '1kg'], ['ＡＢＣ\u3000x', 'ABC x'], ['e\u0301', 'é'], ['\u00a0a  b', ' a  b'], ['Ǆ', 'DŽ'], ['😀👨‍👩‍👧', '😀👨‍👩‍👧'], ['x\u200by', 'x y']];
    for (const [input, output] of cases) expect(map.normalizeGraphemes(input)).toBe(output);
    const bytes = new TextEncoder().encode('ﬁx');
    const [length, replacement] = map.longestPrefix(bytes, 0)!;
    expect([length, new TextDecoder().decode(replacement)]).toEqual([3, 'fi']);
    expect(map.longestPrefix(bytes, 3)).toBeUndefined();
    expect(() => new CharsMap(Uint8Array.from([8, 0, 0, 0, 1]), 'cm')).toThrow(/cm: precompiled_charsmap trie size/);
  });

  it('finds the best Unigram path and fuses unknown characters', () => {
    const vocab: [string, number][] = [['<unk>', 0], ['a', -1], ['b', -1], ['ab', -1.5], ['abc', -4], ['c', -2]];
    const u = new Unigram(vocab, 0, false);
    const ids = (text: string) => {
      const out: number[] = [];
      u.tokenize(text, out);
      return out;
    };
    expect(ids('abc')).toEqual([3, 5]); // ab + c (-3.5) beats abc (-4) and a + b + c (-4)
    expect(ids('abxyc')).toEqual([3, 0, 5]); // x and y are one <unk>
    expect(ids('')).toEqual([]);
  });

  it('merges BPE pairs by rank, leftmost first', () => {
    const vocab = new Map(['a', 'b', 'c', 'ab', 'bc', 'abc', '<unk>'].map((t, i) => [t, i]));
    const bpe = new Bpe(vocab, { merges: [['b', 'c'], ['a', 'b'], ['a', 'bc']], unkToken: '<unk>', fuseUnk: true });
    const ids = (text: string) => {
      const out: number[] = [];
      bpe.tokenize(text, out);
      return out;
    };
    expect(ids('abc')).toEqual([5]); // b c first (rank 0), then a bc
    expect(ids('abab')).toEqual([3, 3]);
    expect(ids('axyb')).toEqual([0, 6, 1]);
    expect(() => new Bpe(vocab, { merges: [['c', 'a']] })).toThrow(/merges\[0\] \("c" "a"\) must join vocabulary tokens/);
  });

  it('maps every byte to a printable character and back', () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    BYTE_TO_CHAR.forEach((c, b) => expect(CHAR_TO_BYTE.get(c)).toBe(b));
    expect(bytesToChars(' é')).toBe('ĠÃ©');
  });
});

describe('tokenizer bad input', () => {
  const withDir = (files: Record<string, string | Uint8Array>, f: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'aiayn-tok-'));
    try {
      for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
      f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('finds no tokenizer in a directory without tokenizer files', () => {
    withDir({ 'config.json': '{}' }, (dir) => expect(loadTokenizer(dir)).toBeUndefined());
  });

  it('names the file and the component of a tokenizer.json it cannot run', () => {
    const json = JSON.parse(readFileSync(join(HF, 'bart', 'tokenizer.json'), 'utf8'));
    expect(() => new HFTokenizer({ ...json, normalizer: { type: 'Magic' } }, 't.json')).toThrow(/t\.json: normalizer\.type of type "Magic" is not supported/);
    expect(() => new HFTokenizer({ ...json, model: { type: 'WordLevel' } }, 't.json')).toThrow(/t\.json: model\.type of type "WordLevel"/);
    expect(() => new HFTokenizer({ ...json, model: { ...json.model, dropout: 0.1 } }, 't.json')).toThrow(/t\.json: model\.dropout must be null/);
    expect(() => new HFTokenizer({ ...json, added_tokens: [{ id: -1, content: 'x' }] }, 't.json')).toThrow(/t\.json: added_tokens\[0\]\.id must be an integer/);
    withDir({ 'tokenizer.json': '{"model": ' }, (dir) => expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: not valid JSON/));
  });

  it('names a truncated or corrupt SentencePiece model', () => {
    const spm = readFileSync(join(HF, 'marian', 'source.spm'));
    expect(() => new SentencePieceModel(spm.subarray(0, spm.length - 7), 'source.spm')).toThrow(/^source\.spm: /);
    expect(() => new SentencePieceModel(Uint8Array.from([0x0f]), 'source.spm')).toThrow(/source\.spm: unsupported wire type 7/);
    withDir({ 'sp.model': Uint8Array.from([]) }, (dir) => expect(() => loadTokenizer(dir)).toThrow(/sp\.model: no pieces/));
  });

  it('throws TypeError for text that is not a string and RangeError for bad ids; ids past the vocabulary as Python decodes them', () => {
    for (const v of variants) {
      const tokenizer = loadTokenizer(join(HF, v))!;
      expect(() => tokenizer.encode(5 as never)).toThrow(TypeError);
      const past = [0, tokenizer.vocabSize];
      if (tokenizer instanceof HFTokenizer) {
        // The tokenizers crate has no token there and skips it (a model's table may be larger: T5's 32128 vs 32100).
        expect(tokenizer.decode(past)).toBe(tokenizer.decode([0]));
      } else if (tokenizer instanceof M2M100Tokenizer) {
        // transformers' M2M100Tokenizer: decoder.get(index, unk_token) (the model has 8 more "madeupword" rows).
        expect(tokenizer.decode([tokenizer.vocabSize], { skipSpecialTokens: false })).toBe('<unk>');
      } else {
        expect(() => tokenizer.decode(past)).toThrow(new RangeError(`ids[1] must be an integer in [0, ${tokenizer.vocabSize - 1}], got ${tokenizer.vocabSize}`));
      }
      expect(() => tokenizer.decode([-1])).toThrow(RangeError);
      expect(() => tokenizer.encode('a', { sourceLanguage: 'xx_Nope' })).toThrow(RangeError);
    }
  });

  it('copies of a fixture load the same', () => {
    withDir({}, (dir) => {
      for (const f of ['source.spm', 'target.spm', 'vocab.json', 'tokenizer_config.json']) copyFileSync(join(HF, 'marian', f), join(dir, f));
      expect(Array.from(loadTokenizer(dir)!.encode('Hello world'))).toEqual(Array.from(loadTokenizer(join(HF, 'marian'))!.encode('Hello world')));
    });
  });
});
