import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../lib/tokenizer/char.js';

describe('CharTokenizer', () => {
  const tok = CharTokenizer.fromText(['dois mil', 'cem', 'não']);

  it('numbers the specials first, then the sorted characters', () => {
    expect([tok.padId, tok.bosId, tok.eosId, tok.unkId]).toEqual([0, 1, 2, 3]);
    expect(tok.toJSON().chars).toEqual([' ', 'c', 'd', 'e', 'i', 'l', 'm', 'n', 'o', 's', 'ã']);
    expect(tok.vocabSize).toBe(4 + 11);
  });

  it('encodes with optional bos/eos, maps unknown characters to <unk>, decodes back', () => {
    const ids = tok.encode('cem x', { bos: true, eos: true });
    expect(Array.from(ids)).toEqual([1, 5, 7, 10, 4, 3, 2]);
    expect(tok.decode(ids)).toBe('cem ');
    expect(tok.decode(ids, { keepSpecial: true })).toBe('<bos>cem <unk><eos>');
    expect(tok.decode(tok.encode('não'))).toBe('não');
  });

  it('counts code points, not UTF-16 units', () => {
    const emoji = CharTokenizer.fromText('a😀');
    expect(Array.from(emoji.encode('😀a', { addSpecialTokens: false }))).toEqual([5, 4]);
    expect(emoji.decode([5, 4])).toBe('😀a');
  });

  it('pads a batch to its longest row', () => {
    const batch = tok.encodeBatch(['cem', 'dois mil', ''], { eos: true });
    expect(batch.shape).toEqual([3, 9]);
    expect(Array.from(batch.lengths)).toEqual([4, 9, 1]);
    expect(Array.from(batch.ids.subarray(0, 9))).toEqual([5, 7, 10, 2, 0, 0, 0, 0, 0]);
    expect(Array.from(batch.ids.subarray(18, 27))).toEqual([2, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('saves and loads tokenizer.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiayn-tok-'));
    try {
      const path = join(dir, 'tokenizer.json');
      tok.save(path);
      expect(JSON.parse(readFileSync(path, 'utf8')).type).toBe('char');
      const again = CharTokenizer.load(path);
      expect(again.toJSON()).toEqual(tok.toJSON());
      writeFileSync(path, '{"type": "char", "specials": ["<pad>"], "chars": []}');
      expect(() => CharTokenizer.load(path)).toThrow(/tokenizer.json: specials must be/);
      writeFileSync(path, '{not json');
      expect(() => CharTokenizer.load(path)).toThrow(/tokenizer.json: not valid JSON/);
      expect(() => CharTokenizer.load(join(dir, 'missing.json'))).toThrow(/missing.json: cannot read the tokenizer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad input with clear errors', () => {
    expect(() => tok.encode(5 as never)).toThrow(/text must be a string, got 5/);
    expect(() => tok.encodeBatch([])).toThrow(RangeError);
    expect(() => tok.encodeBatch(['a', null as never])).toThrow(/texts\[1\] must be a string, got null/);
    expect(() => tok.decode([0, 99])).toThrow(/ids\[1\] must be an integer in \[0, 14\], got 99/);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
    expect(() => new CharTokenizer(['a', 'a'])).toThrow(/must not repeat/);
    expect(() => new CharTokenizer(['ab'])).toThrow(/single characters/);
    expect(() => CharTokenizer.fromText([3 as never])).toThrow(/corpus must hold strings, got 3/);
  });
});
