// Character-level tokenizer: one id per Unicode code point, after four
// special tokens. Unknown characters map to <unk>; encoding never throws on text.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { describe } from '../tensor.js';
import type { Tokenizer, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer.js';

export interface CharTokenizerJSON {
  type: 'char';
  /** Special tokens in id order: pad, bos, eos, unk. */
  specials: [string, string, string, string];
  /** Characters in id order, starting at id 4. */
  chars: string[];
}

export interface EncodeOptions extends TokenizerEncodeOptions {
  /** Prepend <bos>. Default false. */
  bos?: boolean;
  /** Append <eos>. Default `addSpecialTokens` (true): the model's source is the characters, then <eos>. */
  eos?: boolean;
}

export interface DecodeOptions extends TokenizerDecodeOptions {
  /** The older name of `skipSpecialTokens: false`. */
  keepSpecial?: boolean;
}

export interface EncodedBatch {
  /** [B, T] row-major, padded with <pad> to the longest row. */
  ids: Int32Array;
  shape: [number, number];
  /** Unpadded length of each row. */
  lengths: Int32Array;
}

const SPECIALS: [string, string, string, string] = ['<pad>', '<bos>', '<eos>', '<unk>'];

export class CharTokenizer implements Tokenizer {
  readonly padId = 0;
  readonly bosId = 1;
  readonly eosId = 2;
  readonly unkId = 3;
  readonly languages: ReadonlyMap<string, number> = new Map();
  readonly #chars: readonly string[];
  readonly #ids: ReadonlyMap<string, number>;

  /** `chars`: the vocabulary, one code point each, in id order from 4; duplicates are an error. */
  constructor(chars: Iterable<string>) {
    const list: string[] = [];
    const ids = new Map<string, number>();
    for (const c of chars) {
      if (typeof c !== 'string' || Array.from(c).length !== 1) {
        throw new TypeError(`chars must be single characters, got ${describe(c)}`);
      }
      if (ids.has(c)) throw new RangeError(`chars must not repeat, got ${JSON.stringify(c)} twice`);
      ids.set(c, SPECIALS.length + list.length);
      list.push(c);
    }
    this.#chars = list;
    this.#ids = ids;
  }

  /** The sorted set of characters (code points) in `corpus`. */
  static fromText(corpus: string | Iterable<string>): CharTokenizer {
    const texts = typeof corpus === 'string' ? [corpus] : corpus;
    const set = new Set<string>();
    for (const text of texts) {
      if (typeof text !== 'string') throw new TypeError(`corpus must hold strings, got ${describe(text)}`);
      for (const c of text) set.add(c);
    }
    return new CharTokenizer([...set].sort());
  }

  static fromJSON(json: unknown, source = 'tokenizer JSON'): CharTokenizer {
    const j = json as Partial<CharTokenizerJSON> | null;
    if (j === null || typeof j !== 'object' || j.type !== 'char' || !Array.isArray(j.chars)) {
      throw new Error(`${source}: expected { "type": "char", "chars": [...] }`);
    }
    if (JSON.stringify(j.specials) !== JSON.stringify(SPECIALS)) {
      throw new Error(`${source}: specials must be ${JSON.stringify(SPECIALS)}, got ${JSON.stringify(j.specials)}`);
    }
    try {
      return new CharTokenizer(j.chars);
    } catch (error) {
      throw new Error(`${source}: ${(error as Error).message}`, { cause: error });
    }
  }

  static load(path: string): CharTokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read the tokenizer (${(error as Error).message})`, { cause: error });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
    }
    return CharTokenizer.fromJSON(json, path);
  }

  get vocabSize(): number {
    return SPECIALS.length + this.#chars.length;
  }

  toJSON(): CharTokenizerJSON {
    return { type: 'char', specials: [...SPECIALS], chars: [...this.#chars] };
  }

  /** Writes tokenizer.json-style JSON atomically (temp file, then rename). */
  save(path: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.toJSON()) + '\n');
    renameSync(tmp, path);
  }

  /** The characters' ids, then <eos> (unless `addSpecialTokens: false` or `eos: false`); <bos> first only when asked. */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${describe(text)}`);
    const bos = options.bos ?? false;
    const eos = options.eos ?? options.addSpecialTokens ?? true;
    const chars = Array.from(text);
    const ids = new Int32Array(chars.length + (bos ? 1 : 0) + (eos ? 1 : 0));
    let i = 0;
    if (bos) ids[i++] = this.bosId;
    for (const c of chars) ids[i++] = this.#ids.get(c) ?? this.unkId;
    if (eos) ids[i++] = this.eosId;
    return ids;
  }

  tokenToId(token: string): number | undefined {
    const special = SPECIALS.indexOf(token as (typeof SPECIALS)[number]);
    return special >= 0 ? special : this.#ids.get(token);
  }

  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    return id < SPECIALS.length ? SPECIALS[id] : this.#chars[id - SPECIALS.length];
  }

  /** Encodes each text and pads every row with <pad> to the longest one. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): EncodedBatch {
    if (!Array.isArray(texts)) throw new TypeError(`texts must be an array of strings, got ${describe(texts)}`);
    if (texts.length === 0) throw new RangeError('texts must not be empty');
    const rows = texts.map((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`texts[${i}] must be a string, got ${describe(t)}`);
      return this.encode(t, options);
    });
    const T = Math.max(1, ...rows.map((r) => r.length));
    const ids = new Int32Array(rows.length * T).fill(this.padId); // [B, T]
    rows.forEach((r, b) => ids.set(r, b * T));
    return { ids, shape: [rows.length, T], lengths: Int32Array.from(rows, (r) => r.length) };
  }

  /** Ids back to text. Special tokens are dropped unless `skipSpecialTokens: false`; ids out of range throw. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const keepSpecial = options.keepSpecial ?? !(options.skipSpecialTokens ?? true);
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`ids[${i}] must be an integer in [0, ${this.vocabSize - 1}], got ${id}`);
      }
      if (id >= SPECIALS.length) out += this.#chars[id - SPECIALS.length];
      else if (keepSpecial) out += SPECIALS[id];
    }
    return out;
  }
}
