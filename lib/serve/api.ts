// What the HTTP front ends (OpenAI's and TGI's) share: errors with a status,
// request-field checks that name the field, the SSE writer that waits for
// 'drain', and one engine call that turns engine errors into HTTP errors and
// counts tokens.
import type { ServerResponse } from 'node:http';
import { describe } from '../tensor.js';
import type { FinishReason, GenerationOptions } from '../generate/options.js';
import type { LanguageOptions } from '../generate/text.js';
import { EngineClosedError, EngineDownError, QueueFullError, type Engine, type EngineInput, type StreamPiece } from './engine.js';
import type { ServerMetrics } from './metrics.js';

/** An answer other than 2xx. `param` names the offending request field. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A bad request body: 400 on OpenAI's routes, 422 on TGI's. */
export class ValidationError extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** The reason a request is aborted when its client goes away: nothing is answered. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** A bug of the server's own (never the client's fault): 500. */
export class InternalError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'InternalError';
  }
}

export interface ServerLimits {
  /** Largest request body; a larger one is answered 413 without being read further. */
  maxBodyBytes: number;
  /** Most source tokens per prompt. */
  maxPromptTokens: number;
  /** Largest max_tokens / max_new_tokens a request may ask for. */
  maxTokensCap: number;
}

/** One HTTP request being served. */
export interface RequestContext {
  readonly engine: Engine;
  readonly limits: ServerLimits;
  /** The served model's name (the model directory's basename). */
  readonly modelName: string;
  readonly metrics: ServerMetrics;
  /** Aborted when the client goes away (reason: ClientGoneError) or the request fails: cancels its engine requests. */
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
  /** Source tokens a text prompt encodes to. */
  countTokens(text: string): number;
  readonly res: ServerResponse;
}

// ---------------------------------------------------------------- field checks

export type Fields = Record<string, unknown>;

/** The body as an object of fields, or a ValidationError. */
export function asObject(value: unknown, what: string, param: string | null): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`${what} must be a JSON object, got ${describe(value)}`, param);
  }
  return value as Fields;
}

/** Rejects fields outside `known`, naming the first. */
export function rejectUnknown(o: Fields, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(o)) {
    if (!known.has(key)) throw new ValidationError(`unknown field ${JSON.stringify(prefix + key)}: not a parameter this server supports`, prefix + key);
  }
}

/** The field's value, undefined when absent or null (JSON APIs treat null as "use the default"). */
export function field(o: Fields, name: string): unknown {
  if (!Object.hasOwn(o, name)) return undefined;
  const v = o[name];
  return v === null ? undefined : v;
}

export function optInt(o: Fields, name: string, param: string, min: number, max: number): number | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw new ValidationError(`${param} must be an integer, got ${describe(v)}`, param);
  if (!Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ValidationError(`${param} must be an integer ${range}, got ${v}`, param);
  }
  return v;
}

export function optNumber(o: Fields, name: string, param: string, ok: (v: number) => boolean, expected: string): number | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValidationError(`${param} must be a number, got ${describe(v)}`, param);
  if (!ok(v)) throw new ValidationError(`${param} must be ${expected}, got ${v}`, param);
  return v;
}

export function optBool(o: Fields, name: string, param: string): boolean | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ValidationError(`${param} must be a boolean, got ${describe(v)}`, param);
  return v;
}

export function optString(o: Fields, name: string, param: string): string | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ValidationError(`${param} must be a string, got ${describe(v)}`, param);
  return v;
}

/** Hugging Face's early_stopping: true, false or "never". */
export function optEarlyStopping(o: Fields, param: string): boolean | 'never' | undefined {
  const v = field(o, 'early_stopping');
  if (v === undefined || v === true || v === false || v === 'never') return v;
  throw new ValidationError(`${param} must be true, false or "never", got ${describe(v)}`, param);
}

/** A field this server does not implement: accepted only when it asks for nothing (`isNoop`), else a ValidationError. */
export function unsupported(o: Fields, name: string, param: string, isNoop: (v: unknown) => boolean, why: string): void {
  const v = field(o, name);
  if (v !== undefined && !isNoop(v)) throw new ValidationError(`${param} is not supported: ${why}`, param);
}

/** Checks a prompt's length against the server's cap. */
export function checkPromptLength(ctx: RequestContext, input: EngineInput, param: string): void {
  const tokens = typeof input === 'string' ? ctx.countTokens(input) : input.length;
  if (tokens > ctx.limits.maxPromptTokens) {
    throw new ValidationError(`${param} has ${tokens} tokens, more than this server's limit of ${ctx.limits.maxPromptTokens}`, param);
  }
}

/** Checks that one request's rows (beams, or sampled sequences) fit the engine's batch. */
export function checkRows(ctx: RequestContext, rows: number, param: string): void {
  if (rows > ctx.engine.maxBatch) {
    throw new ValidationError(`${param} asks for ${rows} rows (beams or sequences) per prompt, more than this server's batch of ${ctx.engine.maxBatch}`, param);
  }
}

// ---------------------------------------------------------------- engine calls

export interface TokenInfo {
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
}

export interface SequenceResult {
  ids: number[];
  text: string;
  finishReason: FinishReason;
  score: number;
  logprobs?: number[];
  /** With `tokens`: every generated token, the ending EOS included. */
  tokens?: TokenInfo[];
  /** Generated tokens, an ending EOS counted. */
  generatedTokens: number;
}

export interface GenerationResult {
  sequences: SequenceResult[];
  promptTokens: number;
}

export interface RunOptions {
  /** Collect each token's text (through the engine's stream). */
  tokens?: boolean;
  /** Called for each streamed token, in order; awaited (backpressure). */
  onPiece?: (piece: StreamPiece) => void | Promise<void>;
  /** How to name the engine's option fields in messages, and which field the input is. */
  params: { input: string; options: Readonly<Record<string, string>> };
}

/** An engine error as an HTTP error (or the abort reason, when the client went away). */
export function engineError(error: unknown, signal: AbortSignal, params: RunOptions['params']): unknown {
  if (signal.aborted && (error === signal.reason || error instanceof ClientGoneError)) return signal.reason;
  if (error instanceof QueueFullError) {
    return new ApiError(429, error.message, null, 'queue_full', { 'retry-after': '1' });
  }
  if (error instanceof EngineDownError) {
    return new ApiError(503, error.message, null, 'engine_unavailable', error.restarting ? { 'retry-after': '1' } : {});
  }
  if (error instanceof EngineClosedError) return new ApiError(503, 'the server is shutting down', null, 'shutting_down');
  if (error instanceof TypeError || error instanceof RangeError) {
    let message = error.message;
    let param: string | null = null;
    const m = /options\.(\w+)/.exec(message);
    if (m) {
      param = params.options[m[1]] ?? m[1];
      message = message.replace(/options\.(\w+)/g, (_, name: string) => params.options[name] ?? name);
    } else if (/^input\b/.test(message)) {
      param = params.input;
      message = message.replace(/^input\b/, params.input);
    }
    return new ValidationError(message, param);
  }
  return error;
}

function generated(finishReason: FinishReason, ids: readonly number[]): number {
  return ids.length + (finishReason === 'stop' ? 1 : 0);
}

/** One engine request for `input`, cancelled by ctx.signal; its tokens counted in the metrics. */
export async function runGeneration(ctx: RequestContext, input: EngineInput, options: GenerationOptions & LanguageOptions, run: RunOptions): Promise<GenerationResult> {
  const { engine, signal } = ctx;
  const request = { ...options, signal };
  let result;
  const tokens: TokenInfo[][] = [];
  try {
    if (run.tokens || run.onPiece) {
      const stream = engine.stream(input, request);
      for await (const piece of stream) {
        (tokens[piece.index] ??= []).push({ id: piece.id, text: piece.special ? '' : piece.text, logprob: piece.logprob ?? null, special: piece.special });
        if (run.onPiece) {
          try {
            await run.onPiece(piece);
          } catch (error) {
            throw error instanceof ClientGoneError || error instanceof ApiError ? error : new InternalError(error);
          }
        }
      }
      result = await stream.result;
    } else {
      result = await engine.generate(input, request);
    }
  } catch (error) {
    throw engineError(error, signal, run.params);
  }
  const sequences = result.sequences.map((s, i): SequenceResult => {
    const out: SequenceResult = {
      ids: s.ids,
      text: s.text ?? '',
      finishReason: s.finishReason,
      score: s.score,
      generatedTokens: generated(s.finishReason, s.ids),
    };
    if (s.logprobs) out.logprobs = s.logprobs;
    if (run.tokens || run.onPiece) out.tokens = tokens[i] ?? [];
    return out;
  });
  ctx.metrics.promptTokens.inc({}, result.promptTokens);
  ctx.metrics.generatedTokens.inc({}, sequences.reduce((sum, s) => sum + s.generatedTokens, 0));
  return { sequences, promptTokens: result.promptTokens };
}

/**
 * Runs one generation per input concurrently; the first failure aborts the
 * others (ctx.abort) and is thrown, so a request answers all or nothing.
 */
export async function runAll<T>(ctx: RequestContext, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(
    tasks.map(async (task) => {
      try {
        return await task();
      } catch (error) {
        ctx.abort(error);
        throw error;
      }
    }),
  );
  // The first failure in time is the abort reason; report that one.
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

// ---------------------------------------------------------------- SSE

/**
 * Server-sent events over a response: headers go out with the first event
 * (so an error found before any token can still be a plain JSON answer),
 * each write waits for 'drain' when the socket's buffer is full.
 */
export class SseWriter {
  readonly #res: ServerResponse;
  #started = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Writes `data: <data>\n\n`; resolves once the socket can take more. Throws ClientGoneError after the client left. */
  async send(data: string): Promise<void> {
    const res = this.#res;
    if (res.destroyed || res.writableEnded) throw new ClientGoneError();
    if (!this.#started) {
      this.#started = true;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
    }
    if (!res.write(`data: ${data}\n\n`)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      if (res.destroyed && !res.writableFinished) throw new ClientGoneError();
    }
  }

  end(): void {
    if (!this.#res.writableEnded) this.#res.end();
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function json(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Any error as the ApiError to answer (ValidationError as `validationStatus`,
 * anything unexpected as a bare 500), or undefined when the client left and
 * nothing is to be answered.
 */
export function toApiError(error: unknown, validationStatus: number): ApiError | undefined {
  if (error instanceof ClientGoneError) return undefined;
  if (error instanceof ApiError) return error;
  if (error instanceof ValidationError) return new ApiError(validationStatus, error.message, error.param);
  return new ApiError(500, 'internal server error', null, 'internal_error');
}
