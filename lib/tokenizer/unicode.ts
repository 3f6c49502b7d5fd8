// Character classes as Rust's `char` methods define them (the `tokenizers`
// crate uses these, not JavaScript's \s), and grapheme clusters.

/** Rust's `char::is_whitespace`: the Unicode White_Space property (JavaScript's \s also has U+FEFF and lacks U+0085). */
export const WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const whitespace = new RegExp(`^[${WHITESPACE}]$`, 'u');
const punctuation = /^\p{P}$/u;
const numeric = /^[\p{Nd}\p{Nl}\p{No}]$/u;

export function isWhitespace(c: string): boolean {
  return whitespace.test(c);
}

/** `char::is_ascii_punctuation() || is_punctuation(c)` as the Punctuation pre-tokenizer tests it. */
export function isPunctuation(c: string): boolean {
  const code = c.codePointAt(0)!;
  const ascii = (code >= 0x21 && code <= 0x2f) || (code >= 0x3a && code <= 0x40) || (code >= 0x5b && code <= 0x60) || (code >= 0x7b && code <= 0x7e);
  return ascii || punctuation.test(c);
}

export function isNumeric(c: string): boolean {
  return numeric.test(c);
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Extended grapheme clusters, as Rust's `unicode-segmentation` `graphemes(true)`. */
export function* graphemes(text: string): Generator<string> {
  for (const s of segmenter.segment(text)) yield s.segment;
}

/** UTF-8 length of `text` in bytes. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Translates an Oniguruma pattern (the `tokenizers` crate's regex engine) to JavaScript: \s and \S
 * become Rust's whitespace class. Constructs JavaScript lacks (possessive or atomic groups) throw.
 */
export function onigurumaToRegExp(pattern: string, flags: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const n = pattern[i + 1];
      if (n === 's') out += inClass ? WHITESPACE : `[${WHITESPACE}]`;
      else if (n === 'S' && !inClass) out += `[^${WHITESPACE}]`;
      else out += c + n;
      i++;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  if (/\(\?>|[*+?}]\+/.test(pattern)) throw new Error(`unsupported regex construct in ${JSON.stringify(pattern)}`);
  return new RegExp(out, flags);
}
