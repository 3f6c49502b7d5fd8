// OpenAI's legacy completions API over the engine: POST /v1/completions and
// GET /v1/models, with OpenAI's field names, defaults, response and error
// shapes and SSE chunks. What this server cannot honour is a 400 naming the
// field, never silently ignored.
//
// Semantics (OpenAI's): temperature 0 is greedy decoding; temperature > 0
// (default 1) samples, with top_p, top_k and seed. With num_beams > 1 (an
// extension: beam search) the default temperature is 0 and a temperature > 0
// is an error (beam search does not sample). top_p, top_k and seed are
// accepted with temperature 0 and change nothing there (greedy takes the most
// likely token, which top-k/top-p always keep). n > 1 returns n samples when
// sampling, the n best beams with num_beams >= n, and n copies of the greedy
// answer with temperature 0 (what n greedy runs give). logprobs: 0 returns the
// chosen tokens' log-probabilities (top_logprobs null; text_offset counts from
// the start of the completion, since an encoder-decoder completion does not
// continue its prompt); logprobs > 0 (top alternatives) is a 400.
// target_language and source_language (extensions) are the language codes of
// the model's tokenizer (NLLB's fra_Latn, mBART's fr_XX, ...).
import { randomUUID } from 'node:crypto';
import { describe } from '../tensor.js';
import type { GenerationOptions } from '../generate/options.js';
import type { LanguageOptions } from '../generate/text.js';
import type { EngineInput, StreamPiece } from './engine.js';
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
  runAll,
  runGeneration,
  sendJson,
  unsupported,
  type GenerationResult,
  type RequestContext,
  type RunOptions,
  type SequenceResult,
} from './api.js';

const KNOWN = new Set([
  // OpenAI's fields
  'model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'n', 'seed', 'stream', 'stream_options', 'logprobs', 'stop',
  'echo', 'suffix', 'best_of', 'frequency_penalty', 'presence_penalty', 'logit_bias', 'user',
  // extensions (Hugging Face's generation options)
  'num_beams', 'length_penalty', 'early_stopping', 'top_k', 'repetition_penalty', 'no_repeat_ngram_size', 'min_tokens',
  'target_language', 'source_language',
]);

/** Engine option names as this API calls them, for error messages. */
const PARAMS: RunOptions['params'] = {
  input: 'prompt',
  options: {
    maxNewTokens: 'max_tokens', numBeams: 'num_beams', lengthPenalty: 'length_penalty', earlyStopping: 'early_stopping',
    numReturnSequences: 'n', doSample: 'temperature', temperature: 'temperature', topK: 'top_k', topP: 'top_p', seed: 'seed',
    repetitionPenalty: 'repetition_penalty', noRepeatNgramSize: 'no_repeat_ngram_size', minNewTokens: 'min_tokens',
    logprobs: 'logprobs', targetLanguage: 'target_language', sourceLanguage: 'source_language',
  },
};

/** OpenAI's error body. */
export function openaiError(error: ApiError): unknown {
  const type = error.status >= 500 || error.status === 429 ? 'server_error' : 'invalid_request_error';
  return { error: { message: error.message, type, param: error.param, code: error.code } };
}

interface CompletionRequest {
  prompts: EngineInput[];
  n: number;
  /** Copies of one greedy answer per prompt (n when greedy, else 1). */
  copies: number;
  options: GenerationOptions & LanguageOptions;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
}

function isIdArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');
}

function parsePrompts(o: Record<string, unknown>): EngineInput[] {
  const p = field(o, 'prompt');
  if (p === undefined) throw new ValidationError('prompt is required', 'prompt');
  if (typeof p === 'string') return [p];
  if (!Array.isArray(p) || p.length === 0) {
    throw new ValidationError(`prompt must be a string, an array of strings, an array of token ids or an array of token-id arrays, got ${describe(p)}`, 'prompt');
  }
  if (isIdArray(p)) return [p];
  return p.map((item: unknown, i) => {
    if (typeof item === 'string' || isIdArray(item)) return item;
    throw new ValidationError(`prompt[${i}] must be a string or a non-empty array of token ids, got ${describe(item)}`, 'prompt');
  });
}

function parse(ctx: RequestContext, body: unknown): CompletionRequest {
  const o = asObject(body, 'the request body', null);
  rejectUnknown(o, KNOWN, '');
  // Any name is accepted (clients send their endpoint's URL, as TGI allows): one model is served. Only
  // checked as a string, never opened: the server reads no file a request names.
  optString(o, 'model', 'model');
  optString(o, 'user', 'user'); // metadata only
  const prompts = parsePrompts(o);
  if (prompts.length > ctx.engine.maxQueue) {
    // Every prompt is one engine request, all queued at once: more than the queue holds could never be answered.
    throw new ValidationError(`prompt holds ${prompts.length} prompts, more than this server queues at once (${ctx.engine.maxQueue})`, 'prompt');
  }
  for (const p of prompts) checkPromptLength(ctx, p, 'prompt');

  unsupported(o, 'stop', 'stop', (v) => v === '' || (Array.isArray(v) && v.length === 0), 'stop sequences are not implemented (generation ends at EOS or max_tokens)');
  unsupported(o, 'echo', 'echo', (v) => v === false, 'an encoder-decoder completion does not continue its prompt');
  unsupported(o, 'suffix', 'suffix', (v) => v === '', 'insertion is not implemented');
  unsupported(o, 'frequency_penalty', 'frequency_penalty', (v) => v === 0, 'use repetition_penalty');
  unsupported(o, 'presence_penalty', 'presence_penalty', (v) => v === 0, 'use repetition_penalty');
  unsupported(o, 'logit_bias', 'logit_bias', (v) => typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0, 'logit biases are not implemented');

  const maxTokens = optInt(o, 'max_tokens', 'max_tokens', 1, Number.MAX_SAFE_INTEGER) ?? Math.min(16, ctx.limits.maxTokensCap);
  if (maxTokens > ctx.limits.maxTokensCap) {
    throw new ValidationError(`max_tokens must be at most ${ctx.limits.maxTokensCap} on this server, got ${maxTokens}`, 'max_tokens');
  }
  const n = optInt(o, 'n', 'n', 1, 128) ?? 1;
  const bestOf = optInt(o, 'best_of', 'best_of', 1, 128);
  if (bestOf !== undefined && bestOf !== n) throw new ValidationError(`best_of is not supported unless it equals n (${n}), got ${bestOf}`, 'best_of');
  const numBeams = optInt(o, 'num_beams', 'num_beams', 1, 256) ?? 1;
  const explicitTemperature = optNumber(o, 'temperature', 'temperature', (v) => v >= 0 && v <= 2, 'in [0, 2]');
  if (numBeams > 1 && explicitTemperature !== undefined && explicitTemperature > 0) {
    throw new ValidationError('temperature must be 0 with num_beams > 1 (beam search does not sample)', 'temperature');
  }
  const temperature = explicitTemperature ?? (numBeams > 1 ? 0 : 1);
  const topP = optNumber(o, 'top_p', 'top_p', (v) => v > 0 && v <= 1, 'in (0, 1]');
  const topK = optInt(o, 'top_k', 'top_k', 0, Number.MAX_SAFE_INTEGER);
  const seed = optInt(o, 'seed', 'seed', 0, Number.MAX_SAFE_INTEGER);
  const sampling = temperature > 0;
  if (!sampling && numBeams > 1 && n > numBeams) throw new ValidationError(`n must be at most num_beams (${numBeams}), got ${n}`, 'n');
  checkRows(ctx, numBeams > 1 ? numBeams : sampling ? n : 1, numBeams > 1 ? 'num_beams' : 'n');

  const stream = optBool(o, 'stream', 'stream') ?? false;
  let includeUsage = false;
  const streamOptions = field(o, 'stream_options');
  if (streamOptions !== undefined) {
    if (!stream) throw new ValidationError('stream_options is only allowed with stream: true', 'stream_options');
    const so = asObject(streamOptions, 'stream_options', 'stream_options');
    rejectUnknown(so, new Set(['include_usage']), 'stream_options.');
    includeUsage = optBool(so, 'include_usage', 'stream_options.include_usage') ?? false;
  }
  const logprobs = optInt(o, 'logprobs', 'logprobs', 0, 5);
  if (logprobs !== undefined && logprobs > 0) {
    throw new ValidationError(`logprobs must be 0 here (the chosen tokens' log-probabilities): top alternatives are not returned, got ${logprobs}`, 'logprobs');
  }
  const minTokens = optInt(o, 'min_tokens', 'min_tokens', 0, maxTokens);
  const options = {
    maxNewTokens: maxTokens,
    minNewTokens: minTokens,
    // Asked for, or one when sampling: else the model's default (a snapshot's generation_config may ask for beams).
    numBeams: field(o, 'num_beams') !== undefined || sampling ? numBeams : undefined,
    numReturnSequences: sampling || numBeams > 1 ? n : undefined,
    doSample: sampling ? true : undefined,
    temperature: sampling ? temperature : undefined,
    topP: sampling ? topP : undefined,
    topK: sampling && topK !== 0 ? topK : undefined,
    seed: sampling ? seed : undefined,
    lengthPenalty: optNumber(o, 'length_penalty', 'length_penalty', () => true, 'a finite number'),
    earlyStopping: optEarlyStopping(o, 'early_stopping'),
    repetitionPenalty: optNumber(o, 'repetition_penalty', 'repetition_penalty', (v) => v > 0, '> 0'),
    noRepeatNgramSize: optInt(o, 'no_repeat_ngram_size', 'no_repeat_ngram_size', 0, Number.MAX_SAFE_INTEGER),
    logprobs: logprobs === 0 ? true : undefined,
    targetLanguage: optString(o, 'target_language', 'target_language'),
    sourceLanguage: optString(o, 'source_language', 'source_language'),
  };
  return { prompts, n, copies: sampling || numBeams > 1 ? 1 : n, options, stream, includeUsage, logprobs: logprobs === 0 };
}

interface Logprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: null;
  text_offset: number[];
}

/** OpenAI's logprobs of a sequence: its text's tokens (the ending EOS left out). */
function logprobsOf(s: SequenceResult): Logprobs {
  const out: Logprobs = { tokens: [], token_logprobs: [], top_logprobs: null, text_offset: [] };
  let offset = 0;
  for (const t of s.tokens ?? []) {
    if (t.special) continue;
    out.tokens.push(t.text);
    out.token_logprobs.push(t.logprob);
    out.text_offset.push(offset);
    offset += t.text.length;
  }
  return out;
}

function usage(results: GenerationResult[], copies: number) {
  const prompt = results.reduce((sum, r) => sum + r.promptTokens, 0);
  const completion = results.reduce((sum, r) => sum + r.sequences.reduce((s, q) => s + q.generatedTokens, 0) * copies, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export async function completions(ctx: RequestContext, body: unknown): Promise<void> {
  const req = parse(ctx, body);
  const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: 'text_completion', created, model: ctx.modelName };
  const run = (prompt: EngineInput, onPiece?: (piece: StreamPiece) => Promise<void>) =>
    runGeneration(ctx, prompt, req.options, { tokens: req.logprobs, onPiece, params: PARAMS });

  if (!req.stream) {
    const results = await runAll(ctx, req.prompts.map((p) => () => run(p)));
    const choices = results.flatMap((r, p) =>
      Array.from({ length: req.n }, (_, i) => {
        const s = r.sequences[req.copies > 1 ? 0 : i];
        return { text: s.text, index: p * req.n + i, logprobs: req.logprobs ? logprobsOf(s) : null, finish_reason: s.finishReason };
      }),
    );
    sendJson(ctx.res, 200, { ...head, choices, usage: usage(results, req.copies) });
    return;
  }

  // Errors before the first event are plain JSON answers; after it, the server writes an error event (streamError).
  const sse = new SseWriter(ctx.res);
  const offsets = new Map<number, number>();
  const results = await runAll(
    ctx,
    req.prompts.map((prompt, p) => () =>
      run(prompt, async (piece) => {
        if (piece.special && piece.finishReason === undefined) return;
        for (let c = 0; c < req.copies; c++) {
          const index = p * req.n + (req.copies > 1 ? c : piece.index);
          let logprobs: Logprobs | null = null;
          if (req.logprobs && !piece.special) {
            const offset = offsets.get(index) ?? 0;
            logprobs = { tokens: [piece.text], token_logprobs: [piece.logprob ?? null], top_logprobs: null, text_offset: [offset] };
            offsets.set(index, offset + piece.text.length);
          }
          const choice = { text: piece.special ? '' : piece.text, index, logprobs, finish_reason: piece.finishReason ?? null };
          await sse.send(json({ ...head, choices: [choice] }));
        }
      }),
    ),
  );
  if (req.includeUsage) await sse.send(json({ ...head, choices: [], usage: usage(results, req.copies) }));
  await sse.send('[DONE]');
  sse.end();
}

/** The events that end a stream that failed after it began (OpenAI's clients throw on an `error` chunk). */
export function openaiStreamError(error: ApiError): string[] {
  return [json(openaiError(error)), '[DONE]'];
}

export function models(ctx: RequestContext, created: number): void {
  sendJson(ctx.res, 200, { object: 'list', data: [modelObject(ctx.modelName, created)] });
}

export function model(ctx: RequestContext, created: number, id: string): void {
  if (id !== ctx.modelName) throw new ApiError(404, `The model '${id}' does not exist: this server serves '${ctx.modelName}'`, 'model', 'model_not_found');
  sendJson(ctx.res, 200, modelObject(ctx.modelName, created));
}

function modelObject(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'aiayn' };
}
