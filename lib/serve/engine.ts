// The engine: one loaded model served to concurrent callers without blocking
// the event loop. The model and its step loop live in a worker thread; the
// main thread only checks arguments and passes messages. Concurrent requests
// are batched together automatically (continuous batching: they join and
// leave between decoder steps).
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkInt, describe } from '../tensor.js';
import { packageRoot } from '../backend/addon.js';
import { checkIds } from '../model/transformer.js';
import type { TransformerConfig } from '../model/config.js';
import { resolveGenerationOptions, type FinishReason, type GenerationOptions } from '../generate/options.js';
import { resolveLanguages, type LanguageOptions, type Languages } from '../generate/text.js';
import {
  fromWireError,
  type EngineGeneration,
  type FromWorker,
  type ToWorker,
  type WireInput,
  type WireToken,
  type WorkerSetup,
} from './protocol.js';

export type { EngineGeneration, EngineSequence } from './protocol.js';

export interface EngineOptions {
  /** 'native' (default) or 'reference'. */
  backend?: 'native' | 'reference';
  /** Most rows decoded together (a beam or a returned sequence is a row). Default 32. */
  maxBatch?: number;
  /** Most requests waiting for rows; one more is rejected with QueueFullError. Default 256. */
  maxQueue?: number;
  /** Kernel threads (process-wide). Default: AIAYN_THREADS, else the physical cores. */
  threads?: number;
  /**
   * Scheduling niceness (Linux) of the worker thread and of the kernel
   * threads it starts, 0..19; never below the process's own. Default 10: when
   * the model's threads and the event loop both want a core, the event loop
   * gets it first, so a server stays responsive while it computes.
   */
  nice?: number;
}

export interface RequestOptions extends GenerationOptions, LanguageOptions {
  /** Aborting cancels the request within one decoder step and frees its rows; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Text (needs the model's tokenizer; encoded as the characters then EOS) or source ids. */
export type EngineInput = string | readonly number[] | Int32Array;

/** A streamed token of sequence `index`. */
export interface StreamPiece {
  index: number;
  id: number;
  /** Its text (empty for special tokens). */
  text: string;
  logprob?: number;
  special: boolean;
  /** On the last piece of sequence `index`. */
  finishReason?: FinishReason;
}

/** Thrown when maxQueue requests already wait: a server answers 429. */
export class QueueFullError extends Error {
  readonly code = 'AIAYN_QUEUE_FULL';
  constructor(maxQueue: number) {
    super(`the engine's queue is full (${maxQueue} requests waiting); try again later`);
    this.name = 'QueueFullError';
  }
}

/** Thrown for requests made after close(), or cut off because the worker stopped. */
export class EngineClosedError extends Error {
  readonly code = 'AIAYN_ENGINE_CLOSED';
  constructor(message = 'the engine is closed') {
    super(message);
    this.name = 'EngineClosedError';
  }
}

export interface EngineStats {
  /** Requests waiting for rows. */
  queued: number;
  /** Requests decoding. */
  running: number;
  /** Rows of the last step. */
  rows: number;
}

/** One step of the worker's loop, as the 'step' event reports it. */
export interface StepEvent {
  rows: number;
  seconds: number;
  /** Requests that joined the batch before this step. */
  joined: number;
}

interface Pending {
  resolve: (result: EngineGeneration) => void;
  reject: (error: unknown) => void;
  onToken?: (token: WireToken) => void;
  admitted: boolean;
  cleanup: () => void;
}

function workerUrl(): URL {
  const beside = new URL('./engine-worker.js', import.meta.url);
  // From the TypeScript sources (tests), the worker runs from the build.
  return existsSync(fileURLToPath(beside)) ? beside : new URL(`file://${packageRoot}dist/serve/engine-worker.js`);
}

function positive(name: string, value: unknown, fallback: number): number {
  return checkInt(name, value ?? fallback, 1, 1 << 20);
}

export class Engine extends EventEmitter<{ step: [StepEvent] }> {
  readonly config: Readonly<TransformerConfig>;
  /** Whether text inputs can be used (the model directory has tokenizer.json). */
  readonly hasTokenizer: boolean;
  /** The model's generation defaults (its generation_config.json), under each request's options. */
  readonly generation: Readonly<GenerationOptions>;
  readonly #languages: Languages;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #queued = 0;
  #rows = 0;
  #closing: Promise<void> | undefined;
  #exited = false;

  private constructor(worker: Worker, ready: Extract<FromWorker, { type: 'ready' }>, maxBatch: number, maxQueue: number) {
    super();
    this.#worker = worker;
    this.config = Object.freeze(ready.config);
    this.hasTokenizer = ready.tokenizer;
    this.generation = Object.freeze(ready.generation);
    this.#languages = new Map(ready.languages);
    this.maxBatch = maxBatch;
    this.maxQueue = maxQueue;
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (error) => this.#fail(new EngineClosedError(`the engine's worker failed: ${error.message}`)));
    worker.on('exit', () => {
      this.#exited = true;
      this.#fail(new EngineClosedError('the engine stopped'));
    });
  }

  /** Loads the model directory `dir` (config.json, model.safetensors, tokenizer.json) in a worker thread. */
  static async load(dir: string, options: EngineOptions = {}): Promise<Engine> {
    if (typeof dir !== 'string') throw new TypeError(`dir must be a string, got ${describe(dir)}`);
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    const backend = options.backend ?? 'native';
    if (backend !== 'native' && backend !== 'reference') {
      throw new RangeError(`options.backend must be 'native' or 'reference', got ${describe(backend)}`);
    }
    const setup: WorkerSetup = {
      dir,
      backend,
      maxBatch: positive('options.maxBatch', options.maxBatch, 32),
      threads: options.threads === undefined ? undefined : checkInt('options.threads', options.threads, 1, 1024),
      nice: checkInt('options.nice', options.nice ?? 10, 0, 19),
    };
    const maxQueue = checkInt('options.maxQueue', options.maxQueue ?? 256, 0, 1 << 20);
    const worker = new Worker(workerUrl(), { workerData: setup });
    let onMessage: (m: FromWorker) => void = () => {};
    let onExit: (code: number) => void = () => {};
    let onError: (error: Error) => void = () => {};
    const ready = await new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
      onMessage = (m) => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'fatal') reject(fromWireError(m.error));
      };
      onExit = (code) => reject(new Error(`the engine's worker exited (code ${code}) while loading ${dir}`));
      onError = reject;
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).finally(() => {
      // Only these listeners: removeAllListeners() would also drop the Worker's own, and its messages.
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    });
    return new Engine(worker, ready, setup.maxBatch, maxQueue);
  }

  /** Counts as the main thread sees them. */
  get stats(): EngineStats {
    return { queued: this.#queued, running: this.#pending.size - this.#queued, rows: this.#rows };
  }

  /** Generates for one input; resolves when all its sequences have ended. */
  generate(input: EngineInput, options: RequestOptions = {}): Promise<EngineGeneration> {
    return new Promise((resolve, reject) => this.#submit(input, options, false, { resolve, reject }));
  }

  /**
   * Generates for one input, yielding each token as it is decoded (beam
   * search yields its returned sequences when it ends). Leaving the loop
   * early cancels the request. `result` resolves like generate().
   */
  stream(input: EngineInput, options: RequestOptions = {}): AsyncIterable<StreamPiece> & { result: Promise<EngineGeneration> } {
    const pieces: StreamPiece[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: unknown;
    let id = 0;
    const result = new Promise<EngineGeneration>((resolve, reject) => {
      id = this.#submit(input, options, true, {
        resolve: (r) => {
          ended = true;
          wake?.();
          resolve(r);
        },
        reject: (e) => {
          ended = true;
          failure = e;
          wake?.();
          reject(e);
        },
        onToken: (t) => {
          const piece: StreamPiece = { index: t.index, id: t.token, text: t.text, special: t.special };
          if (t.logprob !== undefined) piece.logprob = t.logprob;
          if (t.finishReason !== undefined) piece.finishReason = t.finishReason;
          pieces.push(piece);
          wake?.();
        },
      });
    });
    result.catch(() => undefined); // read through the iterator or `result`
    const engine = this;
    async function* iterate(): AsyncGenerator<StreamPiece> {
      try {
        for (;;) {
          while (pieces.length > 0) yield pieces.shift()!;
          if (ended) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
        if (failure !== undefined) throw failure;
      } finally {
        if (!ended) engine.#cancel(id, new DOMException('the stream was left before its end', 'AbortError'));
      }
    }
    return { [Symbol.asyncIterator]: iterate, result };
  }

  /** Stops taking requests, lets every accepted one finish, then stops the worker and frees the model. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#exited) return resolve();
      this.#worker.once('exit', () => resolve());
      this.#post({ type: 'close' });
    });
    return this.#closing;
  }

  #submit(input: EngineInput, options: RequestOptions, stream: boolean, p: Omit<Pending, 'admitted' | 'cleanup'>): number {
    try {
      if (this.#closing || this.#exited) throw new EngineClosedError();
      if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
      const { signal, ...generation } = options;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
      }
      resolveGenerationOptions(resolveLanguages(this.#languages, generation).options, this.config, [], this.generation);
      const wire = this.#wireInput(input);
      if (signal?.aborted) throw signal.reason;
      if (this.#queued >= this.maxQueue) throw new QueueFullError(this.maxQueue);
      const id = this.#nextId++;
      const onAbort = () => this.#cancel(id, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { ...p, admitted: false, cleanup: () => signal?.removeEventListener('abort', onAbort) });
      this.#queued++;
      this.#post({ type: 'request', id, input: wire, options: generation, stream });
      return id;
    } catch (error) {
      p.reject(error);
      return 0;
    }
  }

  #wireInput(input: EngineInput): WireInput {
    if (typeof input === 'string') {
      if (!this.hasTokenizer) throw new TypeError('input is text but the model has no tokenizer.json: pass source ids');
      if (input.length === 0) throw new RangeError('input must not be empty');
      return { text: input };
    }
    return { ids: Array.from(checkIds('input', input, this.config.srcVocab, this.config.maxPositions)) };
  }

  #post(message: ToWorker): void {
    if (!this.#exited) this.#worker.postMessage(message);
  }

  /** Rejects request `id` with `reason` and tells the worker to drop it (its rows are freed before the next step). */
  #cancel(id: number, reason: unknown): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#settle(id, p);
    this.#post({ type: 'cancel', id });
    p.reject(reason);
  }

  #settle(id: number, p: Pending): void {
    this.#pending.delete(id);
    if (!p.admitted) this.#queued--;
    p.cleanup();
  }

  #onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'batch':
        for (const each of m.messages) this.#onMessage(each);
        break;
      case 'admitted':
        for (const id of m.ids) {
          const p = this.#pending.get(id);
          if (p && !p.admitted) {
            p.admitted = true;
            this.#queued--;
          }
        }
        break;
      case 'tokens':
        for (const t of m.tokens) this.#pending.get(t.id)?.onToken?.(t);
        break;
      case 'step':
        this.#rows = m.rows;
        this.emit('step', { rows: m.rows, seconds: m.seconds, joined: m.joined });
        break;
      case 'done':
      case 'failed': {
        const p = this.#pending.get(m.id);
        if (!p) break;
        this.#settle(m.id, p);
        if (m.type === 'done') p.resolve(m.result);
        else p.reject(fromWireError(m.error));
        if (this.#pending.size === 0) this.#rows = 0;
        break;
      }
      default:
        break;
    }
  }

  #fail(error: Error): void {
    for (const [id, p] of this.#pending) {
      this.#settle(id, p);
      p.reject(error);
    }
  }
}
