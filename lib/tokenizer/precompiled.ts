// SentencePiece's precompiled character map (normalizer_spec.precompiled_charsmap,
// or a tokenizer.json `Precompiled` normalizer): a darts-clone double-array trie
// from UTF-8 sequences to offsets in a blob of NUL-terminated replacements.
// The two libraries read it differently, and both ways are here:
// sentencepiece takes the longest match at each byte position
// (`normalizePrefix`); the `tokenizers` crate goes grapheme by grapheme and takes
// the shortest match (`normalizeGraphemes`, the spm_precompiled crate's way).
import { graphemes } from './unicode.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class CharsMap {
  readonly #units: Uint32Array;
  readonly #normalized: Uint8Array;

  /** `blob`: [trie size in bytes, u32 LE][trie units, u32 LE][replacements]. `source` names it in errors. */
  constructor(blob: Uint8Array, source: string) {
    if (blob.length < 4) throw new Error(`${source}: precompiled_charsmap must hold at least 4 bytes, got ${blob.length}`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length || trieSize === 0) {
      throw new Error(`${source}: precompiled_charsmap trie size must be a multiple of 4 in [4, ${blob.length - 4}], got ${trieSize}`);
    }
    this.#units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.#units.length; i++) this.#units[i] = view.getUint32(4 + 4 * i, true);
    this.#normalized = blob.subarray(4 + trieSize);
  }

  /** Calls `found(length, value)` for every trie key that prefixes bytes[start, end), shortest first. */
  commonPrefixSearch(bytes: Uint8Array, start: number, end: number, found: (length: number, value: number) => boolean | void): void {
    const units = this.#units;
    let node = offset(units[0]);
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c === 0) return;
      node ^= c;
      if (node >= units.length) return;
      const unit = units[node];
      if ((unit & 0x800000ff) >>> 0 !== c) return;
      node ^= offset(unit);
      if (node >= units.length) return;
      if ((unit >>> 8) & 1 && found(i + 1 - start, units[node] & 0x7fffffff) === true) return;
    }
  }

  /** The replacement bytes at `value` (up to the NUL). */
  replacement(value: number): Uint8Array {
    const n = this.#normalized;
    let end = value;
    while (end < n.length && n[end] !== 0) end++;
    return n.subarray(Math.min(value, n.length), end);
  }

  /** sentencepiece: the longest rule matching bytes at `start`: [consumed length, replacement], or undefined. */
  longestPrefix(bytes: Uint8Array, start: number): [number, Uint8Array] | undefined {
    let length = 0;
    let value = 0;
    this.commonPrefixSearch(bytes, start, bytes.length, (l, v) => {
      if (l > length) [length, value] = [l, v];
    });
    return length > 0 ? [length, this.replacement(value)] : undefined;
  }

  /** The spm_precompiled crate's rule for one chunk: the replacement of its shortest matching prefix. */
  #transform(chunk: string): string | undefined {
    const bytes = encoder.encode(chunk);
    let result: string | undefined;
    this.commonPrefixSearch(bytes, 0, bytes.length, (_, v) => {
      result = decoder.decode(this.replacement(v));
      return true;
    });
    return result;
  }

  /**
   * The `tokenizers` crate's Precompiled normalizer: a grapheme shorter than 6 UTF-8 bytes with a
   * matching prefix becomes that prefix's replacement (the rest of the grapheme is dropped, as the
   * crate does); otherwise each character is replaced on its own.
   */
  normalizeGraphemes(text: string): string {
    // An ASCII character after an ASCII character and before one (CR LF aside) is a grapheme of its
    // own; only the stretches between such characters need Intl.Segmenter.
    const ascii = (k: number) => text.charCodeAt(k) < 0x80;
    const alone = (k: number) =>
      ascii(k) && (k === 0 || (ascii(k - 1) && text[k - 1] !== '\r')) && (k + 1 === text.length || (ascii(k + 1) && !(text[k] === '\r' && text[k + 1] === '\n')));
    let out = '';
    for (let i = 0; i < text.length; ) {
      let j = i;
      while (j < text.length && !alone(j)) j++;
      if (j > i) for (const g of graphemes(text.slice(i, j))) out += this.#grapheme(g);
      for (; j < text.length && alone(j); j++) out += this.#grapheme(text[j]);
      i = j;
    }
    return out;
  }

  readonly #cache = new Map<string, string>();

  #grapheme(g: string): string {
    const cached = this.#cache.get(g);
    if (cached !== undefined) return cached;
    let out: string | undefined;
    if (encoder.encode(g).length < 6) out = this.#transform(g);
    if (out === undefined) {
      out = '';
      for (const c of g) out += this.#transform(c) ?? c;
    }
    if (this.#cache.size >= 65536) this.#cache.clear(); // bounded memory on adversarial input
    this.#cache.set(g, out);
    return out;
  }
}

function offset(unit: number): number {
  return (unit >>> 10) * ((unit & 0x200) !== 0 ? 256 : 1);
}
