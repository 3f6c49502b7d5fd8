// Continuous batching: one decode state shared by many searches (requests),
// each owning consecutive rows. Between two decoder steps, searches join (their
// sources encoded together, cross keys/values computed once) and leave
// (finished or cancelled); the rows are compacted by one gather that also
// applies every beam reorder.
import type { Backend } from '../backend/backend.js';
import { Tensor } from '../tensor.js';
import type { Transformer } from '../model/transformer.js';
import type { DecodeState } from '../model/decode-state.js';
import type { Search, TokenEvent } from './search.js';

export class BatchRunner {
  readonly model: Transformer;
  readonly #backend: Backend;
  readonly #state: DecodeState;
  #searches: Search[] = [];
  /** The tokens each row feeds at the next step. */
  #tokens = new Int32Array(0);

  /** Over `state` (without rows), a new one by default. */
  constructor(model: Transformer, state = model.createState()) {
    this.model = model;
    this.#backend = model.backend;
    this.#state = state;
  }

  /** Rows in use. */
  get rows(): number {
    return this.#state.rows;
  }

  /** Searches running. */
  get size(): number {
    return this.#searches.length;
  }

  /** Bytes of the decode state's buffers. */
  get stateBytes(): number {
    return this.#state.bytes;
  }

  /**
   * Joins `searches` at the next step. Their sources are encoded in batches of
   * similar lengths (a padded position costs as much as a real one).
   */
  add(searches: readonly Search[]): void {
    if (searches.length === 0) return;
    // One growth for all of them (encoding groups one by one would grow the cross buffers once per group).
    this.#state.reserve(...this.#needs(searches));
    const joined = lengthGroups(searches);
    for (const group of joined) this.model.addRows(this.#state, group.map((s) => s.src), group.map((s) => s.initialRows));
    const starts = joined.flat().map((s) => s.start());
    const tokens = new Int32Array(this.#tokens.length + starts.reduce((n, t) => n + t.length, 0));
    tokens.set(this.#tokens);
    let at = this.#tokens.length;
    for (const t of starts) {
      tokens.set(t, at);
      at += t.length;
    }
    this.#tokens = tokens;
    this.#searches.push(...joined.flat());
  }

  /** Bytes of the decode state's buffers once `searches` have joined (what add() grows them to). */
  stateBytesWith(searches: readonly Search[]): number {
    return this.#state.bytesAfterReserve(...this.#needs(searches));
  }

  /** Rows, target and source positions the state must hold for `searches` to join. */
  #needs(searches: readonly Search[]): [number, number, number] {
    const rows = searches.reduce((n, s) => n + s.initialRows, this.rows);
    return [rows, Math.max(0, ...searches.map((s) => s.maxNewTokens)), Math.max(0, ...searches.map((s) => s.src.length))];
  }

  /** Drops `search`'s rows (a cancelled request); its result is never read. */
  remove(search: Search): void {
    const i = this.#searches.indexOf(search);
    if (i < 0) return;
    let first = 0;
    for (let j = 0; j < i; j++) first += this.#searches[j].rows;
    const n = search.rows;
    const keep = Int32Array.from({ length: this.rows - n }, (_, r) => (r < first ? r : r + n));
    this.#state.gather(keep);
    this.#tokens = Int32Array.from(keep, (r) => this.#tokens[r]);
    this.#searches.splice(i, 1);
  }

  /**
   * One decoder step over every row; each search reads its rows' logits and
   * picks its next tokens. Returns the searches that finished in this step
   * (they have left the batch).
   */
  step(): Search[] {
    if (this.#searches.length === 0) return [];
    const logits = this.model.step(this.#state, this.#tokens); // [rows, V]
    const V = logits.shape[1];
    const blocks: Block[] = [];
    const finished: Search[] = [];
    const events: Array<[Search, TokenEvent[]]> = [];
    const own = (first: number, n: number) => new Tensor(logits.data.subarray(first * V, (first + n) * V), [n, V]);
    let first = 0;
    for (const search of this.#searches) {
      search.prepare?.(own(first, search.rows));
      first += search.rows;
    }
    // One call for the batch, not one per search.
    const best = this.#searches.some((s) => s.usesBest) ? this.#backend.topK(logits, 1, { logSoftmax: true }) : undefined;
    first = 0;
    for (const search of this.#searches) {
      const n = search.rows;
      const top = best && search.usesBest
        ? { values: best.values.subarray(first, first + n), indices: best.indices.subarray(first, first + n) }
        : undefined;
      const next = search.step(own(first, n), this.#backend, top);
      if (next.events.length > 0 && search.onToken) events.push([search, next.events]);
      if (search.done) finished.push(search);
      else blocks.push({ search, first, rows: Array.from(next.parents, (p) => first + p), tokens: next.tokens });
      first += n;
    }
    const order = layout(blocks);
    const gather = order.flatMap((b) => b.rows);
    if (gather.length !== this.rows || gather.some((row, i) => row !== i)) this.#state.gather(gather);
    this.#tokens = Int32Array.from(order.flatMap((b) => Array.from(b.tokens)));
    this.#searches = order.map((b) => b.search);
    // Only now: a callback may step the same model (overwriting the logits) or add and remove searches.
    for (const [search, list] of events) for (const e of list) search.onToken!(e);
    return finished;
  }
}

/** A running search after a step: its first row before the step, the old rows its next rows continue, their tokens. */
interface Block {
  search: Search;
  first: number;
  rows: number[];
  tokens: Int32Array;
}

/**
 * The order of the surviving searches' rows for the next step. A departed
 * search leaves a gap; blocks from the end of the batch fill it where they fit,
 * so a few rows move instead of every later one shifting down (each moved row
 * copies its whole KV cache).
 */
function layout(blocks: Block[]): Block[] {
  const order: Block[] = [];
  let at = 0;
  let last = blocks.length - 1;
  for (let i = 0; i <= last; i++) {
    let gap = blocks[i].first - at;
    while (gap > 0 && last > i && blocks[last].rows.length <= gap) {
      order.push(blocks[last]);
      at += blocks[last].rows.length;
      gap -= blocks[last].rows.length;
      last--;
    }
    order.push(blocks[i]);
    at += blocks[i].rows.length;
  }
  return order;
}

/** Padded source positions one more encoder call is worth (its fixed cost, roughly, in positions). */
const ENCODE_CALL_POSITIONS = 32;

/**
 * Searches grouped by source length, shortest first: a source joins the
 * group before it unless that would add more padding than an encoder call of
 * its own costs.
 */
function lengthGroups(searches: readonly Search[]): Search[][] {
  const sorted = [...searches].sort((a, b) => a.src.length - b.src.length);
  const groups: Search[][] = [];
  for (const s of sorted) {
    const group = groups.at(-1);
    // Joining raises every member's padded length to this source's (the longest so far).
    if (group && group.length * (s.src.length - group.at(-1)!.src.length) <= ENCODE_CALL_POSITIONS) group.push(s);
    else groups.push([s]);
  }
  return groups;
}
