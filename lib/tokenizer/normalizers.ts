// tokenizer.json normalizers, as the `tokenizers` crate applies them to each
// piece of text between added tokens.
import type { FileReader } from './json.js';
import { CharsMap } from './precompiled.js';
import { isWhitespace, onigurumaToRegExp } from './unicode.js';

export type Normalizer = (text: string) => string;

/** A `{ String }` or `{ Regex }` pattern of tokenizer.json, as a global RegExp. */
export function readPattern(r: FileReader, v: unknown, field: string): RegExp {
  const p = r.object(v, field);
  if (typeof p.String === 'string') return new RegExp(p.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
  if (typeof p.Regex === 'string') {
    try {
      return onigurumaToRegExp(p.Regex, 'gu');
    } catch (error) {
      throw new Error(`${r.file}: ${field}.Regex: ${(error as Error).message}`, { cause: error });
    }
  }
  return r.fail(field, '{ "String": … } or { "Regex": … }', v);
}

function strip(text: string, left: boolean, right: boolean): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  if (left) while (start < end && isWhitespace(chars[start])) start++;
  if (right) while (end > start && isWhitespace(chars[end - 1])) end--;
  return chars.slice(start, end).join('');
}

/** Rust's per-character `to_lowercase` (no final-sigma rule, unlike String.prototype.toLowerCase). */
function lowercase(text: string): string {
  let out = '';
  for (const c of text) out += c.toLowerCase();
  return out;
}

export function readNormalizer(r: FileReader, v: unknown, field: string): Normalizer | undefined {
  if (v === null || v === undefined) return undefined;
  const n = r.object(v, field);
  switch (n.type) {
    case 'Sequence': {
      const parts = r
        .array(n.normalizers, `${field}.normalizers`)
        .map((p, i) => readNormalizer(r, p, `${field}.normalizers[${i}]`))
        .filter((p): p is Normalizer => p !== undefined);
      return (text) => parts.reduce((t, p) => p(t), text);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = n.type;
      return (text) => text.normalize(form);
    }
    case 'Lowercase':
      return lowercase;
    case 'Strip': {
      const left = r.boolean(n.strip_left, `${field}.strip_left`, true);
      const right = r.boolean(n.strip_right, `${field}.strip_right`, true);
      return (text) => strip(text, left, right);
    }
    case 'Replace': {
      const pattern = readPattern(r, n.pattern, `${field}.pattern`);
      const content = r.string(n.content, `${field}.content`);
      return (text) => text.replace(pattern, () => content);
    }
    case 'Prepend': {
      const prepend = r.string(n.prepend, `${field}.prepend`);
      return (text) => (text.length > 0 ? prepend + text : text);
    }
    case 'Precompiled': {
      const b64 = r.optionalString(n.precompiled_charsmap, `${field}.precompiled_charsmap`);
      if (!b64) return undefined; // an empty map normalizes nothing
      const map = new CharsMap(Buffer.from(b64, 'base64'), `${r.file}: ${field}`);
      return (text) => map.normalizeGraphemes(text);
    }
    default:
      return r.unsupported(`${field}.type`, n.type);
  }
}
