// Beam search with Hugging Face's semantics (transformers 5's vectorised
// search): numBeams rows; each step takes the 2 * numBeams best continuations
// of all beams by sum of log-probs; those ending the sequence (EOS, or the last
// allowed token) and ranked within the first numBeams become hypotheses scored
// sum / generatedLength ** lengthPenalty (EOS counted, the start token not);
// the best numBeams others run on. The rows follow their beams through the
// batch runner's row gather, so the KV cache is reordered, never rebuilt.
import type { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import type { TransformerConfig } from '../model/config.js';
import type { GeneratedSequence, Generation, ResolvedOptions } from './options.js';
import { SearchBase, type Search, type StepResult, type TokenEvent } from './search.js';

interface Beam {
  tokens: number[]; // decoder input: start token, then the generated ids
  sum: number; // sum of the tokens' (processed) log-probabilities
  logprobs: number[];
}

interface Hypothesis {
  ids: number[];
  sum: number;
  score: number;
  logprobs: number[];
  finishReason: GeneratedSequence['finishReason'];
}

interface Candidate {
  sum: number;
  beam: number;
  id: number;
  logprob: number;
}

export class BeamSearch extends SearchBase implements Search {
  #running: Beam[];
  /** The best numBeams hypotheses so far, best first. */
  #finished: Hypothesis[] = [];
  #generated = 0;
  #done = false;

  constructor(src: Int32Array, options: ResolvedOptions, config: Readonly<TransformerConfig>) {
    super(src, options, config, options.numBeams);
    this.#running = Array.from({ length: options.numBeams }, () => ({ tokens: [config.bosId], sum: 0, logprobs: [] }));
  }

  get rows(): number {
    return this.#done ? 0 : this.#running.length;
  }

  get done(): boolean {
    return this.#done;
  }

  start(): Int32Array {
    return Int32Array.from(this.#running, (b) => b.tokens[0]);
  }

  readonly usesBest = false;

  step(logits: Tensor, backend: Backend): StepResult {
    const nb = this.options.numBeams;
    const V = this.vocab;
    const running = this.#running;
    const k = Math.min(2 * nb, V);
    let top: { values: Float32Array; indices: Int32Array };
    if (this.processors.length > 0) {
      // As Hugging Face: the processors see log-probabilities, and their output is what is summed.
      backend.logSoftmax(logits, { out: logits });
      running.forEach((b, r) => {
        const row = logits.data.subarray(r * V, (r + 1) * V);
        for (const p of this.processors) p(row, b.tokens, this.#generated);
      });
      top = backend.topK(logits, k);
    } else {
      top = backend.topK(logits, k, { logSoftmax: true });
    }
    // All beams start equal: the first step expands beam 0 only.
    const beams = this.#generated === 0 ? 1 : running.length;
    const candidates: Candidate[] = [];
    for (let beam = 0; beam < beams; beam++) {
      for (let j = 0; j < k; j++) {
        const logprob = top.values[beam * k + j];
        candidates.push({ sum: running[beam].sum + logprob, beam, id: top.indices[beam * k + j], logprob });
      }
    }
    // Explicit comparisons: -Infinity - -Infinity is NaN (a row whose every token is banned).
    candidates.sort((a, b) => (a.sum > b.sum ? -1 : a.sum < b.sum ? 1 : a.beam - b.beam || a.id - b.id));
    candidates.length = Math.min(candidates.length, 2 * nb);

    const length = this.#generated + 1; // generated tokens after this step, the new one counted
    const last = length === this.options.maxNewTokens;
    const full = this.#finished.length === nb && this.options.earlyStopping === true;
    const next: Beam[] = [];
    const tokens: number[] = [];
    const parents: number[] = [];
    candidates.forEach((c, rank) => {
      const parent = running[c.beam];
      const eos = this.options.stopAtEos && c.id === this.eosId;
      if (eos || last) {
        if (rank < nb && !full) {
          this.#addHypothesis({
            ids: eos ? parent.tokens.slice(1) : [...parent.tokens.slice(1), c.id],
            sum: c.sum,
            score: c.sum / length ** this.options.lengthPenalty,
            logprobs: [...parent.logprobs, c.logprob],
            finishReason: eos ? 'stop' : 'length',
          });
        }
      } else if (next.length < nb) {
        next.push({ tokens: [...parent.tokens, c.id], sum: c.sum, logprobs: [...parent.logprobs, c.logprob] });
        tokens.push(c.id);
        parents.push(c.beam);
      }
    });
    this.#generated = length;
    this.#running = next;
    this.#done = next.length === 0 || last || !this.#canImprove();
    if (this.#done) return { tokens: new Int32Array(0), parents: new Int32Array(0), events: this.#events() };
    return { tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), events: [] };
  }

  result(): Generation {
    if (!this.#done) throw new Error('the search has not finished');
    return {
      sequences: this.#returned().map((h) => ({
        ids: h.ids,
        score: h.score,
        ...(this.options.logprobs ? { logprobs: h.logprobs } : {}),
        finishReason: h.finishReason,
      })),
    };
  }

  #returned(): Hypothesis[] {
    return this.#finished.slice(0, this.options.numReturnSequences);
  }

  /** Keeps the best numBeams hypotheses; an equal score does not displace an earlier one. */
  #addHypothesis(h: Hypothesis): void {
    const list = this.#finished;
    let at = list.length;
    while (at > 0 && list[at - 1].score < h.score) at--;
    list.splice(at, 0, h);
    if (list.length > this.options.numBeams) list.length = this.options.numBeams;
  }

  /** Hugging Face's stopping heuristic: could the best running beam still beat the worst kept hypothesis? */
  #canImprove(): boolean {
    const { numBeams, earlyStopping, lengthPenalty, maxNewTokens } = this.options;
    if (this.#finished.length < numBeams) return true;
    if (earlyStopping === true) return false;
    const worst = this.#finished[this.#finished.length - 1].score;
    const bestLength = earlyStopping === 'never' && lengthPenalty > 0 ? maxNewTokens : this.#generated;
    return this.#running[0].sum / bestLength ** lengthPenalty > worst;
  }

  /** The returned sequences' tokens, at the end: beams are not final before. */
  #events(): TokenEvent[] {
    const events: TokenEvent[] = [];
    const logprob = (h: Hypothesis, t: number) => (this.options.logprobs ? h.logprobs[t] : undefined);
    this.#returned().forEach((h, index) => {
      const n = h.ids.length;
      h.ids.forEach((id, t) => events.push({
        index, id, logprob: logprob(h, t), special: false,
        finishReason: t === n - 1 && h.finishReason === 'length' ? 'length' : undefined,
      }));
      if (h.finishReason === 'stop') events.push({ index, id: this.eosId, logprob: logprob(h, n), special: true, finishReason: 'stop' });
    });
    return events;
  }
}
