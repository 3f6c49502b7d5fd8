// Coverage feedback from V8's precise block coverage (node:inspector, the same
// counters c8 and `node --experimental-test-coverage` read). A feature is
// (block of one of our scripts, bucket of its hit count), as libFuzzer's
// 8-bit counters are. V8 reports a block only where its count differs from
// the enclosing range's, so each block ever seen is tracked per function and
// its count taken from the innermost range reported around it.
import inspector from 'node:inspector';

function bucket(count) {
  if (count <= 3) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  if (count < 128) return 7;
  return 8;
}

export class Coverage {
  #session = new inspector.Session();
  #prefixes;
  /** "url|function start" -> { id, blocks: [start, end][] } */
  #functions = new Map();
  /** Features seen so far: (function id, block index, bucket) packed in a number. */
  seen = new Set();

  /** `prefixes`: URLs (file:///…/dist/) whose scripts count; everything else (node, node_modules, the fuzzer) is left out. */
  constructor(prefixes) {
    this.#prefixes = prefixes;
    this.#session.connect();
    // The in-process session answers synchronously: the callback runs before post() returns.
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  #post(method, params) {
    let result;
    let failure;
    this.#session.post(method, params, (error, r) => {
      failure = error;
      result = r;
    });
    if (failure) throw failure;
    return result;
  }

  /** Resets the counters (before an execution). */
  reset() {
    this.#post('Profiler.takePreciseCoverage');
  }

  /** The features of the execution since the last reset/collect, and how many of them are new (then recorded). */
  collect() {
    const { result } = this.#post('Profiler.takePreciseCoverage');
    const features = [];
    for (const script of result) {
      if (!this.#prefixes.some((p) => script.url.startsWith(p))) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (ranges.length === 0 || ranges[0].count === 0) continue;
        const key = `${script.url}|${ranges[0].startOffset}`;
        let f = this.#functions.get(key);
        if (!f) this.#functions.set(key, (f = { id: this.#functions.size, blocks: [], index: new Map() }));
        for (const r of ranges) {
          const k = r.startOffset * 1e7 + r.endOffset;
          if (!f.index.has(k)) {
            f.index.set(k, f.blocks.length);
            f.blocks.push([r.startOffset, r.endOffset]);
          }
        }
        f.blocks.forEach(([start, end], b) => {
          let count = 0;
          // Ranges come parents first, so the last one around the block is the innermost.
          for (const r of ranges) if (r.startOffset <= start && end <= r.endOffset) count = r.count;
          if (count > 0) features.push((f.id * 4096 + Math.min(b, 4095)) * 16 + bucket(count));
        });
      }
    }
    let fresh = 0;
    for (const feature of features) {
      if (!this.seen.has(feature)) {
        this.seen.add(feature);
        fresh++;
      }
    }
    return { features, fresh };
  }

  get size() {
    return this.seen.size;
  }

  close() {
    this.#post('Profiler.stopPreciseCoverage');
    this.#session.disconnect();
  }
}
