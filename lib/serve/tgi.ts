// Hugging Face text-generation-inference's API over the engine: POST
// /generate, POST /generate_stream and GET /info, with TGI's field names,
// response and stream shapes and its error body ({error, error_type}; 422 for
// validation, 429 when overloaded).
//
// Semantics (TGI's): greedy unless do_sample is true or a sampling warper is
// set (temperature != 1, top_k, top_p < 1), as TGI's token chooser does; seed
// is reported in details when sampling (the server draws one when none is
// given). best_of > 1 samples best_of sequences and returns the one with the
// highest log-probability (details.best_of_sequences holds the others); it
// needs sampling and is refused on /generate_stream, as in TGI. Extensions:
// num_beams, length_penalty, early_stopping, no_repeat_ngram_size,
// min_new_tokens, target_language and source_language (the tokenizer's language
// codes). Parameters this server cannot honour (stop,
// return_full_text, decoder_input_details, truncate, typical_p, watermark,
// top_n_tokens, grammar, frequency_penalty, adapter_id) are a 422 when they ask
// for anything. As in TGI, stream events carry details (finish_reason,
// generated_tokens, seed) on the last event only with parameters.details.
import { randomInt } from 'node:crypto';
import { describe } from '../tensor.js';
import type { FinishReason, GenerationOptions } from '../generate/options.js';
import type { LanguageOptions } from '../generate/text.js';
import {
  ApiError,
  SseWriter,
  ValidationError,
  asObject,
  checkPromptLength,
  checkRows,
  field,
  json,
  optBool,
  optEarlyStopping,
  optInt,
  optNumber,
  optString,
  rejectUnknown,
  runGeneration,
  sendJson,
  unsupported,
  type RequestContext,
  type RunOptions,
  type SequenceResult,
  type TokenInfo,
} from './api.js';

const KNOWN_TOP = new Set(['inputs', 'parameters']);
const KNOWN_PARAMETERS = new Set([
  // TGI's
  'best_of', 'temperature', 'repetition_penalty', 'frequency_penalty', 'top_k', 'top_p', 'typical_p', 'do_sample',
  'max_new_tokens', 'return_full_text', 'stop', 'truncate', 'watermark', 'details', 'decoder_input_details', 'seed',
  'top_n_tokens', 'grammar', 'adapter_id',
  // extensions
  'num_beams', 'length_penalty', 'early_stopping', 'no_repeat_ngram_size', 'min_new_tokens', 'target_language', 'source_language',
]);

const P = (name: string) => `parameters.${name}`;

const PARAMS: RunOptions['params'] = {
  input: 'inputs',
  options: {
    maxNewTokens: P('max_new_tokens'), numBeams: P('num_beams'), lengthPenalty: P('length_penalty'), earlyStopping: P('early_stopping'),
    numReturnSequences: P('best_of'), doSample: P('do_sample'), temperature: P('temperature'), topK: P('top_k'), topP: P('top_p'),
    seed: P('seed'), repetitionPenalty: P('repetition_penalty'), noRepeatNgramSize: P('no_repeat_ngram_size'),
    minNewTokens: P('min_new_tokens'), logprobs: P('details'), targetLanguage: P('target_language'), sourceLanguage: P('source_language'),
  },
};

/** TGI's error body and its error_type for a status. */
export function tgiError(error: ApiError): unknown {
  const type: Record<number, string> = {
    404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'validation',
    429: 'overloaded', 500: 'generation', 503: 'unavailable',
  };
  return { error: error.message, error_type: type[error.status] ?? (error.status < 500 ? 'validation' : 'generation') };
}

/** The event that ends a stream that failed after it began (TGI sends no [DONE]). */
export function tgiStreamError(error: ApiError): string[] {
  return [json(tgiError(error))];
}

interface TgiRequest {
  inputs: string;
  options: GenerationOptions & LanguageOptions;
  details: boolean;
  bestOf: number;
  /** The seed sent to the engine when sampling, else null. */
  seed: number | null;
}

function parse(ctx: RequestContext, body: unknown, stream: boolean): TgiRequest {
  const top = asObject(body, 'the request body', null);
  rejectUnknown(top, KNOWN_TOP, '');
  const inputs = field(top, 'inputs');
  if (typeof inputs !== 'string') throw new ValidationError(`inputs must be a string, got ${describe(inputs)}`, 'inputs');
  if (inputs.length === 0) throw new ValidationError('inputs must not be empty', 'inputs');
  checkPromptLength(ctx, inputs, 'inputs');
  const o = asObject(field(top, 'parameters') ?? {}, 'parameters', 'parameters');
  rejectUnknown(o, KNOWN_PARAMETERS, 'parameters.');

  unsupported(o, 'stop', P('stop'), (v) => Array.isArray(v) && v.length === 0, 'stop sequences are not implemented (generation ends at EOS or max_new_tokens)');
  unsupported(o, 'return_full_text', P('return_full_text'), (v) => v === false, 'an encoder-decoder output does not continue its input');
  unsupported(o, 'decoder_input_details', P('decoder_input_details'), (v) => v === false, 'prefill log-probabilities are not computed');
  unsupported(o, 'truncate', P('truncate'), () => false, 'inputs are never truncated; a long input is an error');
  unsupported(o, 'typical_p', P('typical_p'), () => false, 'typical sampling is not implemented');
  unsupported(o, 'watermark', P('watermark'), (v) => v === false, 'watermarking is not implemented');
  unsupported(o, 'top_n_tokens', P('top_n_tokens'), (v) => v === 0, 'top alternatives are not returned');
  unsupported(o, 'grammar', P('grammar'), () => false, 'constrained decoding is not implemented');
  unsupported(o, 'frequency_penalty', P('frequency_penalty'), (v) => v === 0, 'use repetition_penalty');
  unsupported(o, 'adapter_id', P('adapter_id'), () => false, 'adapters are not supported');

  const cap = ctx.limits.maxTokensCap;
  const maxNewTokens = optInt(o, 'max_new_tokens', P('max_new_tokens'), 1, Number.MAX_SAFE_INTEGER) ?? Math.min(100, cap);
  if (maxNewTokens > cap) throw new ValidationError(`${P('max_new_tokens')} must be at most ${cap} on this server, got ${maxNewTokens}`, P('max_new_tokens'));
  const temperature = optNumber(o, 'temperature', P('temperature'), (v) => v > 0, '> 0');
  const topK = optInt(o, 'top_k', P('top_k'), 1, Number.MAX_SAFE_INTEGER);
  const topP = optNumber(o, 'top_p', P('top_p'), (v) => v > 0 && v <= 1, 'in (0, 1]');
  const seed = optInt(o, 'seed', P('seed'), 0, Number.MAX_SAFE_INTEGER);
  const doSample = optBool(o, 'do_sample', P('do_sample')) ?? false;
  const sampling = doSample || (temperature !== undefined && temperature !== 1) || topK !== undefined || (topP !== undefined && topP < 1);
  const numBeams = optInt(o, 'num_beams', P('num_beams'), 1, 256) ?? 1;
  if (numBeams > 1 && sampling) {
    throw new ValidationError(`${P('num_beams')} > 1 (beam search) does not sample: leave do_sample, temperature, top_k and top_p unset`, P('num_beams'));
  }
  const bestOf = optInt(o, 'best_of', P('best_of'), 1, 128) ?? 1;
  if (bestOf > 1 && !sampling) throw new ValidationError(`${P('best_of')} > 1 needs sampling (do_sample: true)`, P('best_of'));
  if (bestOf > 1 && stream) throw new ValidationError(`${P('best_of')} > 1 is not supported on /generate_stream`, P('best_of'));
  checkRows(ctx, Math.max(numBeams, bestOf), numBeams > 1 ? P('num_beams') : P('best_of'));
  const details = optBool(o, 'details', P('details')) ?? false;
  const usedSeed = sampling ? (seed ?? randomInt(2 ** 48 - 1)) : null;
  const options = {
    maxNewTokens,
    minNewTokens: optInt(o, 'min_new_tokens', P('min_new_tokens'), 0, maxNewTokens),
    // Asked for, or one when sampling: else the model's default (a snapshot's generation_config may ask for beams).
    numBeams: field(o, 'num_beams') !== undefined || sampling ? numBeams : undefined,
    numReturnSequences: bestOf > 1 ? bestOf : undefined,
    doSample: sampling ? true : undefined,
    temperature: sampling ? temperature : undefined,
    topK: sampling ? topK : undefined,
    topP: sampling ? topP : undefined,
    seed: usedSeed ?? undefined,
    lengthPenalty: optNumber(o, 'length_penalty', P('length_penalty'), () => true, 'a finite number'),
    earlyStopping: optEarlyStopping(o, P('early_stopping')),
    repetitionPenalty: optNumber(o, 'repetition_penalty', P('repetition_penalty'), (v) => v > 0, '> 0'),
    noRepeatNgramSize: optInt(o, 'no_repeat_ngram_size', P('no_repeat_ngram_size'), 0, Number.MAX_SAFE_INTEGER),
    logprobs: details || stream ? true : undefined,
    targetLanguage: optString(o, 'target_language', P('target_language')),
    sourceLanguage: optString(o, 'source_language', P('source_language')),
  };
  return { inputs, options, details, bestOf, seed: usedSeed };
}

const finishReason = (r: FinishReason) => (r === 'stop' ? 'eos_token' : 'length');

function tokenOut(t: TokenInfo) {
  return { id: t.id, text: t.text, logprob: t.logprob, special: t.special };
}

function detailsOf(s: SequenceResult, seed: number | null) {
  return {
    finish_reason: finishReason(s.finishReason),
    generated_tokens: s.generatedTokens,
    seed,
    prefill: [],
    tokens: (s.tokens ?? []).map(tokenOut),
  };
}

export async function generate(ctx: RequestContext, body: unknown): Promise<void> {
  const req = parse(ctx, body, false);
  const r = await runGeneration(ctx, req.inputs, req.options, { tokens: req.details, params: PARAMS });
  let best = 0;
  r.sequences.forEach((s, i) => {
    if (s.score > r.sequences[best].score) best = i;
  });
  const s = r.sequences[best];
  const out: Record<string, unknown> = { generated_text: s.text };
  if (req.details) {
    const details: Record<string, unknown> = detailsOf(s, req.seed);
    if (req.bestOf > 1) {
      details.best_of_sequences = r.sequences
        .filter((_, i) => i !== best)
        .map((q) => ({ generated_text: q.text, ...detailsOf(q, req.seed) }));
    }
    out.details = details;
  }
  sendJson(ctx.res, 200, out);
}

export async function generateStream(ctx: RequestContext, body: unknown): Promise<void> {
  const req = parse(ctx, body, true);
  const sse = new SseWriter(ctx.res);
  let index = 0;
  let text = '';
  await runGeneration(ctx, req.inputs, req.options, {
    params: PARAMS,
    onPiece: async (piece) => {
      index++;
      if (!piece.special) text += piece.text;
      const last = piece.finishReason !== undefined;
      await sse.send(
        json({
          index,
          token: { id: piece.id, text: piece.special ? '' : piece.text, logprob: piece.logprob ?? null, special: piece.special },
          generated_text: last ? text : null,
          details: last && req.details ? { finish_reason: finishReason(piece.finishReason!), generated_tokens: index, seed: req.seed } : null,
        }),
      );
    },
  });
  sse.end();
}

export function info(ctx: RequestContext, version: string): void {
  const c = ctx.engine.config;
  sendJson(ctx.res, 200, {
    model_id: ctx.modelName,
    model_sha: null,
    model_dtype: 'float32',
    model_device_type: 'cpu',
    model_pipeline_tag: 'text2text-generation',
    max_concurrent_requests: ctx.engine.maxQueue + ctx.engine.maxBatch,
    max_best_of: ctx.engine.maxBatch,
    max_stop_sequences: 0,
    max_input_tokens: Math.min(ctx.limits.maxPromptTokens, c.maxPositions),
    max_total_tokens: Math.min(ctx.limits.maxPromptTokens, c.maxPositions) + ctx.limits.maxTokensCap,
    max_batch_size: ctx.engine.maxBatch,
    // An extension: the engine's KV cache budget in bytes (null: no limit).
    max_kv_bytes: Number.isFinite(ctx.engine.maxKvBytes) ? ctx.engine.maxKvBytes : null,
    router: 'aiayn',
    version,
  });
}
