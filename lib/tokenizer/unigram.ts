// Unigram segmentation: the best-scoring path through the pieces that match
// the text (Viterbi), in the two flavours that matter for exactness — the
// `tokenizers` crate's (float64 scores, every vocabulary entry matches) and the
// sentencepiece library's (float32 path scores, user-defined pieces win).
import { PrefixMap } from './prefix-map.js';

/** Below the lowest piece score: an unknown character's score (both libraries). */
const UNK_PENALTY = 10;

export interface Segment {
  start: number;
  end: number;
  /** The matched piece's id, or the unknown id for a character no piece covers. */
  id: number;
}

export interface ViterbiOptions {
  pieces: PrefixMap;
  /** The score of piece `id` matched at text[start, end). */
  score(id: number, text: string, start: number, end: number): number;
  unkScore: number;
  unkId: number;
  /** Rounds a path score as stored (Math.fround for sentencepiece's float). */
  store(score: number): number;
}

/** The best path over `text` (UTF-16 positions, stepping by code point), ties to the earlier start. */
export function viterbi(text: string, o: ViterbiOptions): Segment[] {
  const n = text.length;
  const score = new Float64Array(n + 1);
  const from = new Int32Array(n + 1).fill(-1);
  const ids = new Int32Array(n + 1);
  for (let start = 0; start < n; ) {
    const base = score[start];
    const charEnd = start + (text.codePointAt(start)! > 0xffff ? 2 : 1);
    let single = false;
    o.pieces.matches(text, start, (end, id) => {
      const candidate = o.score(id, text, start, end) + base;
      if (from[end] === -1 || candidate > score[end]) {
        score[end] = o.store(candidate);
        from[end] = start;
        ids[end] = id;
      }
      if (end === charEnd) single = true;
    });
    if (!single) {
      const candidate = o.unkScore + base;
      if (from[charEnd] === -1 || candidate > score[charEnd]) {
        score[charEnd] = o.store(candidate);
        from[charEnd] = start;
        ids[charEnd] = o.unkId;
      }
    }
    start = charEnd;
  }
  const path: Segment[] = [];
  for (let end = n; end > 0; end = from[end]) path.push({ start: from[end], end, id: ids[end] });
  return path.reverse();
}

function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** The `tokenizers` crate's Unigram model (its `encode_optimized`, fuse_unk on). */
export class Unigram {
  readonly #ids = new Map<string, number>();
  readonly #pieces = new PrefixMap();
  readonly #scores: Float64Array;
  readonly #unkId: number | undefined;
  readonly #byteFallback: boolean;
  readonly #minScore: number;

  constructor(vocab: ReadonlyArray<readonly [string, number]>, unkId: number | undefined, byteFallback: boolean) {
    this.#scores = Float64Array.from(vocab, ([, s]) => s);
    vocab.forEach(([piece], id) => {
      this.#ids.set(piece, id);
      this.#pieces.set(piece, id);
    });
    this.#unkId = unkId;
    this.#byteFallback = byteFallback;
    this.#minScore = vocab.reduce((m, [, s]) => Math.min(m, s), Infinity);
  }

  tokenize(text: string, out: number[]): void {
    if (text.length === 0) return;
    const unkId = this.#unkId ?? -1;
    const path = viterbi(text, {
      pieces: this.#pieces,
      score: (id) => this.#scores[id],
      unkScore: this.#minScore - UNK_PENALTY,
      unkId,
      store: (s) => s,
    });
    // Runs of unknown pieces are fused into one string first, as the crate does.
    const strings: string[] = [];
    for (let i = 0; i < path.length; i++) {
      let { start, end } = path[i];
      if (path[i].id === unkId && unkId >= 0) {
        while (i + 1 < path.length && path[i + 1].id === unkId) end = path[++i].end;
      }
      strings.push(text.slice(start, end));
    }
    for (const s of strings) {
      const id = this.#ids.get(s);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      if (this.#byteFallback) {
        const bytes = Array.from(new TextEncoder().encode(s), (b) => this.#ids.get(byteToken(b)));
        if (bytes.every((b) => b !== undefined)) {
          out.push(...(bytes as number[]));
          continue;
        }
      }
      if (this.#unkId === undefined) throw new RangeError(`the Unigram model has no unk_id for ${JSON.stringify(s)}`);
      out.push(this.#unkId);
    }
  }
}

export { byteToken, UNK_PENALTY };
