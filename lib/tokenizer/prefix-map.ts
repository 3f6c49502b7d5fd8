// Strings by their prefixes: finds every vocabulary entry that starts at a
// position of a text, shortest first (what a trie's common-prefix search gives).

export class PrefixMap {
  /** Every prefix of every entry: the entry's value when the prefix is an entry, else -1. */
  readonly #prefixes = new Map<string, number>();
  #maxLength = 0;

  /** Adds `key` with a value ≥ 0; a later value replaces an earlier one. */
  set(key: string, value: number): void {
    if (key.length === 0) return;
    for (let n = 1; n < key.length; n++) {
      const p = key.slice(0, n);
      if (!this.#prefixes.has(p)) this.#prefixes.set(p, -1);
    }
    this.#prefixes.set(key, value);
    this.#maxLength = Math.max(this.#maxLength, key.length);
  }

  get(key: string): number | undefined {
    const v = this.#prefixes.get(key);
    return v === undefined || v < 0 ? undefined : v;
  }

  /** Calls `found(end, value)` for each entry equal to text[start, end), by increasing end. */
  matches(text: string, start: number, found: (end: number, value: number) => void): void {
    const last = Math.min(text.length, start + this.#maxLength);
    for (let end = start + 1; end <= last; end++) {
      const v = this.#prefixes.get(text.slice(start, end));
      if (v === undefined) return;
      if (v >= 0) found(end, v);
    }
  }

  /** End of the longest entry starting at `start`, or -1. */
  longest(text: string, start: number): number {
    let best = -1;
    this.matches(text, start, (end) => (best = end));
    return best;
  }
}
