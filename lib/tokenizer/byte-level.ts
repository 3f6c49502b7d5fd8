// GPT-2's byte-to-character table (byte-level BPE: BART, RoBERTa) and its regex.
import { WHITESPACE } from './unicode.js';

/** BYTE_TO_CHAR[b]: the printable character byte b is written as. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return table;
})();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The GPT-2 split, with Rust's whitespace class for \s. */
export const GPT2_PATTERN = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WHITESPACE}\\p{L}\\p{N}]+|[${WHITESPACE}]+(?![^${WHITESPACE}])|[${WHITESPACE}]+`,
  'gu',
);

const encoder = new TextEncoder();

/** `text`'s UTF-8 bytes, each as its printable character. */
export function bytesToChars(text: string): string {
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}
