// A decoding strategy for one input, as the batch runner drives it: it owns
// some consecutive rows of a shared batch, reads their logits after each
// decoder step, and says which tokens its rows feed next and which rows they
// continue (beams fork and die, finished samples leave). It never sees the
// other requests' rows, so its result does not depend on them.
import type { Tensor } from '../tensor.js';
import type { Backend } from '../backend/backend.js';
import type { TransformerConfig } from '../model/config.js';
import type { FinishReason, Generation, ResolvedOptions } from './options.js';
import { buildProcessors, type LogitsProcessor } from './processors.js';

/** One generated token as streamed: sequence `index` of the request. */
export interface TokenEvent {
  index: number;
  id: number;
  /** The token's log-probability, with options.logprobs. */
  logprob?: number;
  /** True for the ending EOS (or other special ids). */
  special: boolean;
  /** Set on the last token of sequence `index`. */
  finishReason?: FinishReason;
}

/** Per row: the most likely token and its log-probability. */
export interface TopOne {
  values: Float32Array;
  indices: Int32Array;
}

export interface StepResult {
  /** The token each row feeds at the next step. */
  tokens: Int32Array;
  /** For each next row, which of this search's current rows it continues. */
  parents: Int32Array;
  /** Tokens that became final in this step, in order. */
  events: TokenEvent[];
}

export interface Search {
  /** The source ids. */
  readonly src: Int32Array;
  /** Rows it occupies when it joins. */
  readonly initialRows: number;
  /** Most tokens a row generates (positions it needs in the decode state). */
  readonly maxNewTokens: number;
  /** Rows it occupies now; 0 once done. */
  readonly rows: number;
  readonly done: boolean;
  /** The tokens its rows feed at the first step (the start token). */
  start(): Int32Array;
  /**
   * Called on every search's rows before any steps: rewrites its logits
   * [rows, V] in place (logits processors), so that `best` can be computed
   * for the whole batch at once.
   */
  prepare?(logits: Tensor): void;
  /** Whether step() reads `best`. */
  readonly usesBest: boolean;
  /**
   * Reads logits [rows, V] of its rows and decides the next step (rows may
   * shrink to 0). `best`, when usesBest: each row's most likely token and its
   * log-probability (topK 1 of the log-softmax, after prepare()).
   */
  step(logits: Tensor, backend: Backend, best?: TopOne): StepResult;
  /** The result, once done. */
  result(): Generation;
  /**
   * Called by the runner for each of a step's events once the whole batch has
   * stepped, so a callback may use the model or the runner.
   */
  onToken?: (event: TokenEvent) => void;
}

/** What every search keeps: its source, its options and the logits processors they ask for. */
export abstract class SearchBase {
  readonly src: Int32Array;
  readonly initialRows: number;
  readonly maxNewTokens: number;
  onToken?: (event: TokenEvent) => void;
  protected readonly options: ResolvedOptions;
  protected readonly eosId: number;
  protected readonly vocab: number;
  protected readonly processors: LogitsProcessor[];

  constructor(src: Int32Array, options: ResolvedOptions, config: Readonly<TransformerConfig>, rows: number) {
    this.src = src;
    this.options = options;
    this.initialRows = rows;
    this.maxNewTokens = options.maxNewTokens;
    this.eosId = config.eosId;
    this.vocab = config.tgtVocab;
    this.processors = buildProcessors(options, config.eosId);
  }
}
