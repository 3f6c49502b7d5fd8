// Generation options: one typed set for every strategy, with Hugging Face's
// names and meanings (camel-cased), resolved and checked once per request.
import { checkInt, describe } from '../tensor.js';
import type { TransformerConfig } from '../model/config.js';

export interface GenerationOptions {
  /** Most new tokens per sequence (an ending EOS or a forced first token counted). Default min(64, config.maxPositions), or maxLength - 1. */
  maxNewTokens?: number;
  /** Hugging Face's max_length: the decoder's length with its start token, so maxNewTokens = maxLength - 1. maxNewTokens wins when both are given. */
  maxLength?: number;
  /**
   * End a sequence at EOS (default true). With false, every sequence runs
   * exactly maxNewTokens steps and EOS is an ordinary id: for benchmarks.
   */
  stopAtEos?: boolean;
  /** Beam search with this many beams; 1 (default) is greedy or sampling. */
  numBeams?: number;
  /** Beam scores are sum(log p) / generatedLength ** lengthPenalty (EOS counted, the start token not). Default 1. */
  lengthPenalty?: number;
  /**
   * When beam search stops (Hugging Face's meanings): true, as soon as
   * numBeams hypotheses have ended; false (default), when no running beam can
   * beat the worst of them at its current length; 'never', when none could
   * at any length up to maxNewTokens.
   */
  earlyStopping?: boolean | 'never';
  /** Sequences returned per input: the best beams (<= numBeams), or independent samples. Default 1. */
  numReturnSequences?: number;
  /** Sample the next token instead of taking the most likely. Default false; the sampling options need it. */
  doSample?: boolean;
  /** Divides the logits before sampling; > 0. Default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens only; 0 (default) is off. */
  topK?: number;
  /** Sample among the smallest set of most likely tokens whose probability reaches topP; (0, 1], 1 (default) is off. */
  topP?: number;
  /** Seeds sampling: the same seed gives the same ids on both backends and every ISA. Default: a random seed. */
  seed?: number;
  /** > 1 discourages tokens already in the sequence (CTRL's penalty, as Hugging Face); in [1e-6, 1e6]. Default 1 (off). */
  repetitionPenalty?: number;
  /** No n-gram of this size occurs twice in a sequence; 0 (default) is off. */
  noRepeatNgramSize?: number;
  /** EOS is banned until this many tokens are generated. Default 0. */
  minNewTokens?: number;
  /** Token sequences that must not be generated (each a non-empty array of ids). */
  badWordsIds?: ReadonlyArray<ReadonlyArray<number>>;
  /** The first generated token is forced to this id (mBART/M2M100's target language). */
  forcedBosTokenId?: number;
  /** The token generated at the last allowed step is forced to this id. */
  forcedEosTokenId?: number;
  /** Log-softmax the scores again after the processors (Hugging Face's renormalize_logits). Default false. */
  renormalizeLogits?: boolean;
  /**
   * Return each generated token's log-probability. Default false. Greedy and
   * sampling: the log-softmax of the processed logits (before temperature,
   * top-k and top-p). Beam search, as Hugging Face: the processors act on the
   * log-softmax and their output, not renormalised, is what is summed.
   */
  logprobs?: boolean;
}

export type FinishReason = 'stop' | 'length';

export interface GeneratedSequence {
  /** Generated ids, without the start token and without the EOS that ended the sequence. */
  ids: number[];
  /** Sum of the tokens' log-probabilities; for beam search divided by generatedLength ** lengthPenalty. */
  score: number;
  /** With options.logprobs: per token of `ids`, then the ending EOS's when finishReason is 'stop'. */
  logprobs?: number[];
  /** 'stop': EOS was generated; 'length': maxNewTokens was reached. */
  finishReason: FinishReason;
  /** For text inputs: `ids` decoded by the model's tokenizer without special tokens. */
  text?: string;
}

/** The result for one input. */
export interface Generation {
  /**
   * numReturnSequences sequences; for beam search best first, and fewer when
   * numBeams exceeds the sequences the vocabulary allows. A score of -Infinity
   * means every continuation was banned and a banned token had to be taken.
   */
  sequences: GeneratedSequence[];
}

/** Options after defaults and checks. */
export interface ResolvedOptions {
  maxNewTokens: number;
  stopAtEos: boolean;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  numReturnSequences: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  minNewTokens: number;
  badWordsIds: number[][];
  forcedBosTokenId: number | undefined;
  forcedEosTokenId: number | undefined;
  renormalizeLogits: boolean;
  logprobs: boolean;
}

const KNOWN = new Set<string>([
  'maxNewTokens', 'stopAtEos', 'numBeams', 'lengthPenalty', 'earlyStopping', 'numReturnSequences', 'doSample',
  'temperature', 'topK', 'topP', 'seed', 'repetitionPenalty', 'noRepeatNgramSize', 'minNewTokens', 'badWordsIds',
  'forcedBosTokenId', 'forcedEosTokenId', 'logprobs', 'maxLength', 'renormalizeLogits',
]);

const SAMPLING = ['temperature', 'topK', 'topP', 'seed'] as const;

function finite(name: string, value: unknown, ok: (v: number) => boolean, expected: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value) || !ok(value)) throw new RangeError(`${name} must be ${expected}, got ${value}`);
  return value;
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/**
 * A model's own defaults under the caller's options. The defaults' sampling
 * settings apply only when sampling ends up on, and their maxLength is capped
 * by the model's positions; the caller's options are checked as given.
 */
function withDefaults(o: Record<string, unknown>, defaults: GenerationOptions, config: Readonly<TransformerConfig>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...defaults };
  const doSample = o.doSample ?? defaults.doSample ?? false;
  if (!doSample) for (const name of SAMPLING) delete merged[name];
  if (o.maxNewTokens !== undefined || o.maxLength !== undefined) {
    delete merged.maxNewTokens;
    delete merged.maxLength;
  } else if (typeof merged.maxLength === 'number') {
    merged.maxLength = Math.min(merged.maxLength, config.maxPositions + 1);
  }
  for (const [key, value] of Object.entries(o)) if (value !== undefined) merged[key] = value;
  return merged;
}

/**
 * Fills defaults (the model's `defaults`, e.g. its generation_config.json,
 * then aiayn's) and checks every option against the model's config: a
 * TypeError or RangeError naming `options.<field>`, the expected and the actual
 * value. Unknown fields are errors, and so are sampling options without
 * doSample (nothing is silently ignored). `extra` lists fields a caller
 * handles itself (e.g. an engine's `signal`).
 */
export function resolveGenerationOptions(
  options: unknown,
  config: Readonly<TransformerConfig>,
  extra: readonly string[] = [],
  defaults: GenerationOptions = {},
): ResolvedOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key) && !extra.includes(key)) throw new RangeError(`options has an unknown field ${JSON.stringify(key)}`);
  }
  const o = withDefaults(options as Record<string, unknown>, defaults, config);
  const V = config.tgtVocab;
  const id = (name: string, v: unknown) => checkInt(`options.${name}`, v, 0, V - 1);
  // The start token sits at position 0 and the last generated token is never fed back.
  const maxTokens = config.maxPositions;
  const fromLength = o.maxLength === undefined ? undefined : checkInt('options.maxLength', o.maxLength, 2, maxTokens + 1) - 1;
  const maxNewTokens = checkInt('options.maxNewTokens', o.maxNewTokens ?? fromLength ?? Math.min(64, maxTokens), 1, maxTokens);
  const numBeams = checkInt('options.numBeams', o.numBeams ?? 1, 1, 256);
  const doSample = bool('options.doSample', o.doSample ?? false);
  if (!doSample) {
    for (const name of SAMPLING) {
      if (o[name] !== undefined && o[name] !== null) throw new RangeError(`options.${name} needs options.doSample: true (greedy and beam search do not sample)`);
    }
  }
  if (doSample && numBeams > 1) throw new RangeError('options.doSample: true with options.numBeams > 1 (beam sampling) is not supported');
  const numReturnSequences = checkInt('options.numReturnSequences', o.numReturnSequences ?? 1, 1, doSample ? 256 : numBeams);
  const badWords = o.badWordsIds ?? [];
  if (!Array.isArray(badWords)) throw new TypeError(`options.badWordsIds must be an array of id arrays, got ${describe(badWords)}`);
  const badWordsIds = badWords.map((seq: unknown, i) => {
    if (!Array.isArray(seq)) throw new TypeError(`options.badWordsIds[${i}] must be a non-empty array of ids, got ${describe(seq)}`);
    if (seq.length === 0) throw new RangeError(`options.badWordsIds[${i}] must be a non-empty array of ids, got an empty one`);
    return seq.map((v: unknown, j) => id(`badWordsIds[${i}][${j}]`, v));
  });
  const earlyStopping = o.earlyStopping ?? false;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never') {
    const Class = typeof earlyStopping === 'boolean' || typeof earlyStopping === 'string' ? RangeError : TypeError;
    throw new Class(`options.earlyStopping must be true, false or 'never', got ${describe(earlyStopping)}`);
  }
  const seed = o.seed === undefined || o.seed === null ? (Math.random() * 2 ** 32) >>> 0 : checkInt('options.seed', o.seed, 0, 2 ** 53 - 1);
  return {
    maxNewTokens,
    stopAtEos: bool('options.stopAtEos', o.stopAtEos ?? true),
    numBeams,
    lengthPenalty: finite('options.lengthPenalty', o.lengthPenalty ?? 1, () => true, 'a finite number'),
    earlyStopping,
    numReturnSequences,
    doSample,
    temperature: finite('options.temperature', o.temperature ?? 1, (v) => v > 0, 'a finite number > 0'),
    topK: checkInt('options.topK', o.topK ?? 0, 0, V),
    topP: finite('options.topP', o.topP ?? 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    seed,
    // Bounded so that a penalised logit stays a finite float32.
    repetitionPenalty: finite('options.repetitionPenalty', o.repetitionPenalty ?? 1, (v) => v >= 1e-6 && v <= 1e6, 'in [1e-6, 1e6]'),
    noRepeatNgramSize: checkInt('options.noRepeatNgramSize', o.noRepeatNgramSize ?? 0, 0, config.maxPositions),
    minNewTokens: checkInt('options.minNewTokens', o.minNewTokens ?? 0, 0, maxNewTokens),
    badWordsIds,
    forcedBosTokenId: o.forcedBosTokenId === undefined ? undefined : id('forcedBosTokenId', o.forcedBosTokenId),
    forcedEosTokenId: o.forcedEosTokenId === undefined ? undefined : id('forcedEosTokenId', o.forcedEosTokenId),
    renormalizeLogits: bool('options.renormalizeLogits', o.renormalizeLogits ?? false),
    logprobs: bool('options.logprobs', o.logprobs ?? false),
  };
}
