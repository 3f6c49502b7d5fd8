// Greedy decoding and sampling: numReturnSequences independent sequences of
// one input, a row each; a sequence leaves the batch when it ends. Sampling
// warps the processed logits by temperature, then top-k, then top-p (Hugging
// Face's order), and draws from one seeded generator per request, a draw per
// token in row order, so a seed reproduces the same ids.
import { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import { rng } from '../random.js';
import type { TransformerConfig } from '../model/config.js';
import type { GeneratedSequence, Generation, ResolvedOptions } from './options.js';
import { SearchBase, type Search, type StepResult, type TokenEvent, type TopOne } from './search.js';

/** Candidates asked of topK first when only top-p limits sampling; grown until they hold topP of the mass. */
const TOP_P_FIRST_K = 64;

interface Sequence {
  index: number;
  tokens: number[]; // decoder input: start token, then the generated ids
  score: number;
  logprobs: number[] | undefined;
  finishReason?: GeneratedSequence['finishReason'];
}

export class SequenceSearch extends SearchBase implements Search {
  readonly #random: (() => number) | undefined;
  readonly #sequences: Sequence[];
  /** The sequence each current row decodes. */
  #live: Sequence[];
  #scratch: Float32Array | undefined;
  /** Whether prepare() ran on this step's logits. */
  #prepared = false;

  constructor(src: Int32Array, options: ResolvedOptions, config: Readonly<TransformerConfig>) {
    super(src, options, config, options.numReturnSequences);
    this.#random = options.doSample ? rng(options.seed) : undefined;
    this.#sequences = Array.from({ length: this.initialRows }, (_, index) => ({
      index, tokens: [config.bosId], score: 0, logprobs: options.logprobs ? [] : undefined,
    }));
    this.#live = this.#sequences.slice();
  }

  get rows(): number {
    return this.#live.length;
  }

  get done(): boolean {
    return this.#live.length === 0;
  }

  start(): Int32Array {
    return Int32Array.from(this.#live, (s) => s.tokens[0]);
  }

  readonly usesBest = true;

  prepare(logits: Tensor): void {
    this.#prepared = true;
    if (this.processors.length === 0) return;
    const V = this.vocab;
    this.#live.forEach((s, r) => {
      const row = logits.data.subarray(r * V, (r + 1) * V);
      for (const p of this.processors) p(row, s.tokens, s.tokens.length - 1);
    });
  }

  step(logits: Tensor, backend: Backend, best?: TopOne): StepResult {
    if (!this.#prepared) this.prepare(logits);
    this.#prepared = false;
    const V = this.vocab;
    const live = this.#live;
    // The most likely token of each row and its log-probability give each row's log-sum-exp.
    best ??= backend.topK(logits, 1, { logSoftmax: true });
    const next: Sequence[] = [];
    const tokens: number[] = [];
    const parents: number[] = [];
    const events: TokenEvent[] = [];
    for (let r = 0; r < live.length; r++) {
      const row = logits.data.subarray(r * V, (r + 1) * V);
      const drawn = this.#random ? this.#sample(row, backend) : -1;
      const id = drawn >= 0 ? drawn : best.indices[r];
      // row[best] - its log-prob is the row's log-sum-exp; a row with every token banned has none.
      const top = row[best.indices[r]];
      const logprob = top === -Infinity ? -Infinity : row[id] - (top - best.values[r]);
      const s = live[r];
      s.score += logprob;
      s.logprobs?.push(logprob);
      if (this.options.stopAtEos && id === this.eosId) {
        s.finishReason = 'stop';
      } else {
        s.tokens.push(id);
        if (s.tokens.length - 1 === this.options.maxNewTokens) s.finishReason = 'length';
      }
      events.push({
        index: s.index, id, logprob: s.logprobs ? logprob : undefined,
        special: s.finishReason === 'stop', finishReason: s.finishReason,
      });
      if (s.finishReason === undefined) {
        next.push(s);
        tokens.push(id);
        parents.push(r);
      }
    }
    this.#live = next;
    return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), events };
  }

  result(): Generation {
    if (!this.done) throw new Error('the search has not finished');
    return {
      sequences: this.#sequences.map((s) => ({
        ids: s.tokens.slice(1),
        score: s.score,
        ...(s.logprobs ? { logprobs: s.logprobs } : {}),
        finishReason: s.finishReason!,
      })),
    };
  }

  /** One draw from the warped distribution of `row` (processed logits [V]); -1 when every token is banned. */
  #sample(row: Float32Array, backend: Backend): number {
    const { temperature, topK, topP } = this.options;
    const V = this.vocab;
    let scaled = row;
    if (temperature !== 1) {
      // Shifted by the maximum first, so that a tiny temperature gives -Infinity (greedy), not an overflow.
      let max = -Infinity;
      for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
      if (max === -Infinity) return -1;
      this.#scratch ??= new Float32Array(V);
      scaled = this.#scratch;
      for (let i = 0; i < V; i++) scaled[i] = (row[i] - max) / temperature;
    }
    const u = this.#random!();
    const x = new Tensor(scaled, [1, V]);
    if (topK === 0 && topP === 1) {
      const p = backend.softmax(x).data;
      return drawIndex(p, u, p.length, (i) => i);
    }
    let k = topK > 0 ? topK : Math.min(V, TOP_P_FIRST_K);
    for (;;) {
      const { values, indices } = backend.topK(x, k, { logSoftmax: true });
      // Probabilities, renormalised over the top k when top-k is on.
      const p = Float64Array.from(values, Math.exp);
      if (topK > 0) {
        const sum = p.reduce((a, b) => a + b, 0);
        for (let i = 0; i < k; i++) p[i] /= sum;
      }
      let kept = k;
      if (topP < 1) {
        let mass = 0;
        kept = 0;
        while (kept < k && mass < topP) mass += p[kept++];
        if (mass < topP && topK === 0 && k < V) {
          k = Math.min(V, k * 8);
          continue;
        }
      }
      return drawIndex(p, u, kept, (i) => indices[i]);
    }
  }
}

/** The id of the index whose cumulative weight first passes u * (total of the first n weights); never one of weight 0; -1 if all are 0. */
function drawIndex(weights: ArrayLike<number>, u: number, n: number, id: (i: number) => number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last = i;
    if (acc > target) return id(i);
  }
  return last < 0 ? -1 : id(last);
}
