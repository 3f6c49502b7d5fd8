// Added tokens (special or not): found in the text before anything else, the
// `tokenizers` crate's way — leftmost-longest, with single_word, lstrip and rstrip.
import { PrefixMap } from './prefix-map.js';
import { isWhitespace } from './unicode.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  /** Matched in the normalized text (else in the raw text). */
  normalized: boolean;
}

/** A piece of the text: a found added token (`id`) or text still to tokenize. */
export interface Segment {
  text: string;
  id?: number;
}

const wordChar = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_C}]/u;

/** The code point that ends at `end`. */
function lastChar(text: string, end: number): string {
  const low = text.charCodeAt(end - 1);
  return end >= 2 && low >= 0xdc00 && low < 0xe000 ? text.slice(end - 2, end) : text[end - 1];
}

export class AddedTokenMatcher {
  readonly #map = new PrefixMap();
  readonly #tokens: AddedToken[];

  constructor(tokens: readonly AddedToken[]) {
    this.#tokens = [...tokens];
    this.#tokens.forEach((t, i) => this.#map.set(t.content, i));
  }

  get empty(): boolean {
    return this.#tokens.length === 0;
  }

  /** Splits `text` on the added tokens. */
  split(text: string): Segment[] {
    if (this.#tokens.length === 0 || text.length === 0) return [{ text }];
    const out: Segment[] = [];
    let done = 0; // end of the last piece emitted
    for (let i = 0; i < text.length; ) {
      const end = this.#map.longest(text, i);
      if (end < 0) {
        i++;
        continue;
      }
      const token = this.#tokens[this.#map.get(text.slice(i, end))!];
      let start = i;
      let stop = end;
      i = end;
      if (token.singleWord) {
        const before = start > 0 && wordChar.test(lastChar(text, start));
        const after = stop < text.length && wordChar.test(String.fromCodePoint(text.codePointAt(stop)!));
        if (before || after) continue;
      }
      if (token.lstrip) {
        let s = start;
        while (s > done && isWhitespace(lastChar(text, s))) s -= lastChar(text, s).length;
        start = s;
      }
      if (token.rstrip) {
        while (stop < text.length && isWhitespace(String.fromCodePoint(text.codePointAt(stop)!))) stop += text.codePointAt(stop)! > 0xffff ? 2 : 1;
      }
      if (start > done) out.push({ text: text.slice(done, start) });
      out.push({ text: text.slice(start, stop), id: token.id });
      done = stop;
    }
    if (done < text.length) out.push({ text: text.slice(done) });
    return out;
  }
}
