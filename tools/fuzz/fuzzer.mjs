// The coverage-guided loop: pick a corpus entry, mutate it, run the target,
// keep the mutant if it reached a new feature, report any input that breaks the
// invariant (a wrong error, a slow run, a large allocation). In-process and
// deterministic for a seed; tools/fuzz/worker.mjs adds the hang watchdog.
import { Coverage } from './coverage.mjs';
import { dictionaryOf, mutate } from './mutate.mjs';
import { Prng } from './prng.mjs';
import { signature, violation } from './invariant.mjs';

export class Fuzzer {
  /**
   * `target`: a module of tools/fuzz/targets; `prefixes`: script URLs whose
   * coverage counts; `onExec(input)`: called before each execution (the
   * watchdog's heartbeat) and `onExecEnd()` after it; `onFinding(finding)`,
   * `onNewInput(input)` for each input added to the corpus.
   */
  constructor({ target, seed = 1, prefixes, hangMs = 3000, onExec = () => {}, onExecEnd = () => {}, onFinding = () => {}, onNewInput = () => {} }) {
    this.target = target;
    this.rng = new Prng(seed);
    this.coverage = new Coverage(prefixes);
    this.hangMs = hangMs;
    this.onExec = onExec;
    this.onExecEnd = onExecEnd;
    this.onFinding = onFinding;
    this.onNewInput = onNewInput;
    this.corpus = [];
    this.execs = 0;
    this.findings = new Map(); // signature -> finding
    this.state = target.setup();
    this.dict = dictionaryOf(target.seeds(), target.dictionary ?? []);
  }

  /** Runs one input: its new features and the finding it caused, if any. */
  async execute(input) {
    this.onExec(input);
    this.coverage.reset();
    const before = process.memoryUsage();
    const start = performance.now();
    let error;
    let problem;
    try {
      const result = await this.target.run(this.state, input);
      problem = this.target.verify?.(this.state, input, result);
    } catch (e) {
      error = e;
      problem = violation(e, this.target.expect(this.state, e)) ?? this.target.classify?.(e);
    }
    const ms = performance.now() - start;
    this.onExecEnd();
    const after = process.memoryUsage();
    const { fresh } = this.coverage.collect();
    this.execs++;
    let kind = problem ? (error ? 'error' : 'wrong-result') : undefined;
    // Memory the run still held when it returned (the result included), beyond what its size justifies.
    const grown = after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);
    if (!kind && grown > 128 * 2 ** 20 + 256 * input.length) [kind, problem] = ['memory', `held ${(grown / 2 ** 20).toFixed(0)} MiB after a ${input.length}-byte input`];
    if (!kind && ms > this.hangMs) [kind, problem] = ['slow', `took ${ms.toFixed(0)} ms (limit ${this.hangMs})`];
    let finding;
    if (kind) {
      const sig = signature(kind, problem, error);
      finding = { kind, problem, signature: sig, input, stack: error instanceof Error ? error.stack : undefined };
      if (!this.findings.has(sig)) {
        this.findings.set(sig, finding);
        this.onFinding(finding);
      }
    }
    return { fresh, finding };
  }

  /** Runs seed inputs; those that reach new features start the corpus. */
  async load(inputs) {
    for (const input of inputs) {
      const { fresh } = await this.execute(input);
      if (fresh > 0 || this.corpus.length === 0) this.corpus.push(input);
    }
  }

  /** Mutates and runs until `seconds` pass or `runs` executions are done. */
  async fuzz({ seconds = Infinity, runs = Infinity } = {}) {
    const end = performance.now() + seconds * 1000;
    const maxLength = this.target.maxLength ?? 1 << 20;
    for (let i = 0; i < runs && performance.now() < end; i++) {
      const base = this.rng.pick(this.corpus);
      const other = this.rng.pick(this.corpus);
      const input = mutate(this.rng, base, { kind: this.target.kind, dict: this.dict, other, maxLength });
      const { fresh } = await this.execute(input);
      if (fresh > 0) {
        this.corpus.push(input);
        this.onNewInput(input);
      }
    }
  }

  /**
   * Inputs in size order, kept when they add a feature and fit in `maxBytes`
   * in all: a smaller corpus with the same coverage (or most of it, when the budget binds).
   */
  async merge(inputs, maxBytes = Infinity) {
    const kept = [];
    let bytes = 0;
    for (const input of [...inputs].sort((a, b) => a.length - b.length)) {
      const { fresh } = await this.execute(input);
      if (fresh > 0 && bytes + input.length <= maxBytes) {
        kept.push(input);
        bytes += input.length;
      }
    }
    return kept;
  }

  get stats() {
    return { execs: this.execs, corpus: this.corpus.length, features: this.coverage.size, findings: this.findings.size };
  }

  close() {
    this.coverage.close();
    this.target.teardown?.(this.state);
  }
}
