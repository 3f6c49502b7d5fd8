// The `tokenizers` crate's BPE model: a word's characters (or their byte
// tokens, or <unk>) merged by rank, lowest rank first, leftmost on ties.
import { Heap } from './heap.js';

export interface BpeOptions {
  /** Merges in rank order, each a pair of vocabulary tokens. */
  merges: ReadonlyArray<readonly [string, string]>;
  unkToken?: string | null;
  continuingSubwordPrefix?: string | null;
  endOfWordSuffix?: string | null;
  /** Unknown characters in a row become one <unk>. */
  fuseUnk?: boolean;
  /** Unknown characters become their <0xXX> byte tokens when the vocabulary has them. */
  byteFallback?: boolean;
  /** A word found whole in the vocabulary is one token, merges or not. */
  ignoreMerges?: boolean;
}

interface Merge {
  rank: number;
  id: number;
}

interface QueueEntry {
  pos: number;
  rank: number;
  id: number;
}

const byQueueOrder = (a: QueueEntry, b: QueueEntry) => a.rank < b.rank || (a.rank === b.rank && a.pos < b.pos);

export class Bpe {
  readonly #vocab: ReadonlyMap<string, number>;
  readonly #merges = new Map<number, Map<number, Merge>>();
  readonly #options: BpeOptions;
  readonly #unkId: number | undefined;

  /** `vocab`: token → id. Throws RangeError naming a merge whose parts or result are not in the vocabulary. */
  constructor(vocab: ReadonlyMap<string, number>, options: BpeOptions) {
    this.#vocab = vocab;
    this.#options = options;
    const prefixLength = options.continuingSubwordPrefix?.length ?? 0;
    options.merges.forEach(([a, b], rank) => {
      const left = vocab.get(a);
      const right = vocab.get(b);
      const merged = prefixLength > 0 && b.startsWith(options.continuingSubwordPrefix!) ? a + b.slice(prefixLength) : a + b;
      const id = vocab.get(merged);
      if (left === undefined || right === undefined || id === undefined) {
        throw new RangeError(`merges[${rank}] (${JSON.stringify(a)} ${JSON.stringify(b)}) must join vocabulary tokens into one, got ${JSON.stringify(merged)} missing`);
      }
      let row = this.#merges.get(left);
      if (!row) this.#merges.set(left, (row = new Map()));
      if (!row.has(right)) row.set(right, { rank, id });
    });
    if (options.unkToken != null) this.#unkId = vocab.get(options.unkToken);
  }

  /** Token ids of one pre-tokenized word. */
  tokenize(word: string, out: number[]): void {
    if (word.length === 0) return;
    const o = this.#options;
    if (o.ignoreMerges) {
      const id = this.#vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    const symbols: number[] = [];
    let unk = false; // a pending <unk> (fused over unknown characters in a row)
    const chars = Array.from(word);
    for (let i = 0; i < chars.length; i++) {
      let s = chars[i];
      if (i > 0 && o.continuingSubwordPrefix) s = o.continuingSubwordPrefix + s;
      if (i === chars.length - 1 && o.endOfWordSuffix) s += o.endOfWordSuffix;
      const id = this.#vocab.get(s);
      if (id !== undefined) {
        if (unk) symbols.push(this.#unkId!);
        unk = false;
        symbols.push(id);
        continue;
      }
      if (o.byteFallback) {
        const bytes = Array.from(new TextEncoder().encode(s), (b) => this.#vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
        if (bytes.every((b) => b !== undefined)) {
          // As the crate: a pending <unk> stays pending across byte tokens.
          symbols.push(...(bytes as number[]));
          continue;
        }
      }
      if (this.#unkId === undefined) {
        if (o.unkToken != null) throw new RangeError(`unk_token ${JSON.stringify(o.unkToken)} must be in the vocabulary`);
        continue; // no <unk>: the crate drops the character
      }
      if (unk && !o.fuseUnk) symbols.push(this.#unkId);
      unk = true;
    }
    if (unk) symbols.push(this.#unkId!);
    this.#mergeAll(symbols, out);
  }

  #mergeAll(ids: number[], out: number[]): void {
    const n = ids.length;
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const alive = new Uint8Array(n).fill(1);
    const queue = new Heap<QueueEntry>(byQueueOrder);
    for (let i = 0; i + 1 < n; i++) {
      const m = this.#merges.get(ids[i])?.get(ids[i + 1]);
      if (m) queue.push({ pos: i, rank: m.rank, id: m.id });
    }
    for (let top = queue.pop(); top; top = queue.pop()) {
      const p = top.pos;
      if (!alive[p] || next[p] === -1) continue;
      const r = next[p];
      const m = this.#merges.get(ids[p])?.get(ids[r]);
      if (!m || m.id !== top.id) continue; // an outdated entry
      ids[p] = m.id;
      alive[r] = 0;
      next[p] = next[r];
      if (next[r] !== -1) prev[next[r]] = p;
      if (prev[p] >= 0) {
        const left = this.#merges.get(ids[prev[p]])?.get(ids[p]);
        if (left) queue.push({ pos: prev[p], rank: left.rank, id: left.id });
      }
      if (next[p] !== -1) {
        const right = this.#merges.get(ids[p])?.get(ids[next[p]]);
        if (right) queue.push({ pos: p, rank: right.rank, id: right.id });
      }
    }
    for (let i = 0; i < n; i++) if (alive[i]) out.push(ids[i]);
  }
}
