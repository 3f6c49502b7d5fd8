// tokenizer.json decoders: a chain over the tokens' strings, then joined.
import { CHAR_TO_BYTE } from './byte-level.js';
import type { FileReader } from './json.js';
import { readPattern } from './normalizers.js';
import { readPrependScheme } from './pre-tokenizers.js';

export type Decoder = (tokens: string[]) => string[];

const utf8 = new TextDecoder('utf-8', { fatal: false });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The crate's `clean_up` of the WordPiece decoder (and Python's clean_up_tokenization). */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

function byteLevel(tokens: string[]): string[] {
  const bytes: number[] = [];
  for (const t of tokens) {
    const mapped: number[] = [];
    let all = true;
    for (const c of t) {
      const b = CHAR_TO_BYTE.get(c);
      if (b === undefined) {
        all = false;
        break;
      }
      mapped.push(b);
    }
    bytes.push(...(all ? mapped : new TextEncoder().encode(t)));
  }
  return [utf8.decode(Uint8Array.from(bytes))];
}

function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    try {
      out.push(strictUtf8.decode(Uint8Array.from(pending)));
    } catch {
      for (let i = 0; i < pending.length; i++) out.push('\ufffd');
    }
    pending = [];
  };
  for (const t of tokens) {
    const byte = t.length === 6 && t.startsWith('<0x') && t.endsWith('>') && /^[0-9a-fA-F]{2}$/.test(t.slice(3, 5)) ? parseInt(t.slice(3, 5), 16) : undefined;
    if (byte !== undefined) pending.push(byte);
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

function stripChars(token: string, content: string, start: number, stop: number): string {
  const chars = Array.from(token);
  let from = 0;
  for (let i = 0; i < Math.min(start, chars.length) && chars[i] === content; i++) from = i + 1;
  let to = chars.length;
  for (let i = 0; i < stop && chars.length - i - 1 >= 0 && chars[chars.length - i - 1] === content; i++) to = chars.length - i - 1;
  return chars.slice(from, Math.max(from, to)).join('');
}

export function readDecoder(r: FileReader, v: unknown, field: string): Decoder | undefined {
  if (v === null || v === undefined) return undefined;
  const d = r.object(v, field);
  switch (d.type) {
    case 'Sequence': {
      const parts = r
        .array(d.decoders, `${field}.decoders`)
        .map((q, i) => readDecoder(r, q, `${field}.decoders[${i}]`))
        .filter((q): q is Decoder => q !== undefined);
      return (tokens) => parts.reduce((t, q) => q(t), tokens);
    }
    case 'ByteLevel':
      return byteLevel;
    case 'Metaspace': {
      const replacement = r.string(d.replacement, `${field}.replacement`);
      const prepended = readPrependScheme(r, d, field) !== 'never';
      // As the crate: in the first token every replacement character goes (when a prefix was prepended).
      return (tokens) => tokens.map((t, i) => t.replaceAll(replacement, i === 0 && prepended ? '' : ' '));
    }
    case 'Replace': {
      const pattern = readPattern(r, d.pattern, `${field}.pattern`);
      const content = r.string(d.content, `${field}.content`);
      return (tokens) => tokens.map((t) => t.replace(pattern, () => content));
    }
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = r.string(d.content, `${field}.content`);
      const start = r.integer(d.start, `${field}.start`);
      const stop = r.integer(d.stop, `${field}.stop`);
      return (tokens) => tokens.map((t) => stripChars(t, content, start, stop));
    }
    case 'WordPiece': {
      const prefix = r.string(d.prefix ?? '##', `${field}.prefix`);
      const cleanup = r.boolean(d.cleanup, `${field}.cleanup`, true);
      return (tokens) =>
        tokens.map((t, i) => {
          let s = i === 0 ? t : t.startsWith(prefix) ? t.slice(prefix.length) : ' ' + t;
          if (cleanup) s = cleanUpTokenization(s).replaceAll(' do not', " don't");
          return s;
        });
    }
    case 'BPEDecoder': {
      const suffix = r.string(d.suffix ?? '</w>', `${field}.suffix`);
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '));
    }
    default:
      return r.unsupported(`${field}.type`, d.type);
  }
}
