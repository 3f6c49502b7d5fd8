// The engine: one loaded model served to concurrent callers without blocking
// the event loop. The model and its step loop live in a worker thread; the
// main thread only checks arguments and passes messages. Concurrent requests
// are batched together automatically (continuous batching: they join and
// leave between decoder steps).
//
// Faults: a worker that dies (an uncaught error, an exit) fails every request
// it held (queued, running or streaming) at once with an EngineDownError; none
// is retried, since a request may be what killed it. The engine then loads the
// model in a new worker (at most `restart.maxRestarts` times in
// `restart.windowMs`), refusing requests with an EngineDownError meanwhile, or
// stays down ('failed'). The 'crash' and 'restart' events and `state` tell.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkInt, describe } from '../tensor.js';
import { defaultMaxKvBytes } from './kv-budget.js';
import { packageRoot } from '../backend/addon.js';
import type { WeightDType } from '../backend/backend.js';
import { checkDType } from '../backend/validate.js';
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
export { KvBudgetError } from './kv-budget.js';

/** What the engine does when its worker dies. */
export interface RestartOptions {
  /** Restarts allowed within `windowMs`; at one more crash the engine stays down ('failed'). Default 3; 0 never restarts. */
  maxRestarts?: number;
  /** The sliding window, in milliseconds, restarts are counted in. Default 60000. */
  windowMs?: number;
}

export interface EngineOptions {
  /** 'native' (default) or 'reference'. */
  backend?: 'native' | 'reference';
  /** The model's linear-layer weight dtype (TransformerOptions.dtype). Default 'fp32'. */
  dtype?: WeightDType;
  /** The output projection's dtype (TransformerOptions.outputDtype). Default: `dtype`. */
  outputDtype?: WeightDType;
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
  /**
   * Bytes the decode state (every row's self- and cross-attention K/V) may
   * hold, a growth's old and new buffers counted together. A request whose
   * rows alone need more is rejected with KvBudgetError; one that fits alone
   * waits in the queue until enough rows leave. Default: a quarter of the
   * machine's memory (os.totalmem(), or the cgroup's limit when lower: a
   * container's); Infinity for no limit.
   */
  maxKvBytes?: number;
  /** Restarting a worker that died; false never restarts. Default { maxRestarts: 3, windowMs: 60000 }. */
  restart?: RestartOptions | false;
  /** Aborting it while load() runs stops the loading worker; load() rejects with the signal's reason. */
  signal?: AbortSignal;
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

/**
 * Thrown for requests cut off because the worker died, and for requests made
 * while it restarts (`restarting`) or after the engine gave up: a server
 * answers 503.
 */
export class EngineDownError extends EngineClosedError {
  constructor(
    message: string,
    /** Whether the engine is loading the model again (try later) or stays down. */
    readonly restarting: boolean,
  ) {
    super(message);
    this.name = 'EngineDownError';
  }
}

/**
 * 'ready' serves; 'restarting' loads the model in a new worker after a crash;
 * 'failed' is down for good (too many crashes, or the restart failed);
 * 'closing' and 'closed' follow close().
 */
export type EngineState = 'ready' | 'restarting' | 'failed' | 'closing' | 'closed';

/** A worker's death, or a restart given up on, as the 'crash' event reports it. */
export interface CrashEvent {
  /** What happened (the error requests in flight were rejected with; for a restart given up on, the one requests are refused with). */
  error: EngineDownError;
  /** Whether a new worker is being started. */
  restarting: boolean;
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
  /** Bytes the decode state holds (at most maxKvBytes; kept between requests, dropped when a request needs a fresh one). */
  kvBytes: number;
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

function checkKvBytes(value: unknown): number {
  if (value === undefined) return defaultMaxKvBytes();
  if (typeof value !== 'number') throw new TypeError(`options.maxKvBytes must be a number of bytes, got ${describe(value)}`);
  if (value !== Infinity && !(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`options.maxKvBytes must be a positive integer or Infinity, got ${value}`);
  }
  return value;
}

function checkRestart(value: unknown): Required<RestartOptions> {
  if (value === false) return { maxRestarts: 0, windowMs: 60_000 };
  if (value !== undefined && (value === null || typeof value !== 'object')) {
    throw new TypeError(`options.restart must be an object or false, got ${describe(value)}`);
  }
  const r = (value ?? {}) as RestartOptions;
  return {
    maxRestarts: checkInt('options.restart.maxRestarts', r.maxRestarts ?? 3, 0, 1 << 20),
    windowMs: checkInt('options.restart.windowMs', r.windowMs ?? 60_000, 1, 2 ** 31 - 1),
  };
}

type Ready = Extract<FromWorker, { type: 'ready' }>;

/**
 * A worker with the model loaded. Settles once: ready, or rejected (a load
 * error, the worker's death, or `signal`'s reason) once the worker is gone.
 */
function startWorker(setup: WorkerSetup, signal: AbortSignal | undefined): Promise<{ worker: Worker; ready: Ready }> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  // The worker inherits the process's flags, less --input-type: a worker given it refuses to start from a
  // file (node --input-type=module -e ...). A list is passed only then: V8 and process-wide flags in an
  // explicit list (--max-old-space-size, --expose-gc) make the Worker throw ERR_WORKER_INVALID_EXEC_ARGV.
  const inputType = process.execArgv.some((flag) => flag.startsWith('--input-type'));
  const execArgv = inputType ? process.execArgv.filter((flag) => !flag.startsWith('--input-type')) : undefined;
  const worker = new Worker(workerUrl(), { workerData: setup, execArgv });
  return new Promise((resolve, reject) => {
    // Only these listeners: removeAllListeners() would also drop the Worker's own, and its messages.
    const cleanup = () => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown) => {
      cleanup();
      worker.terminate().then(() => reject(error), () => reject(error));
    };
    const onMessage = (m: FromWorker) => {
      if (m.type === 'ready') {
        cleanup();
        resolve({ worker, ready: m });
      } else if (m.type === 'fatal') fail(fromWireError(m.error));
    };
    const onError = (error: Error) => fail(new Error(`the engine's worker failed while loading ${setup.dir}: ${error.message}`, { cause: error }));
    const onExit = (code: number) => fail(new Error(`the engine's worker exited (code ${code}) while loading ${setup.dir}`));
    const onAbort = () => fail(signal!.reason);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The model a ready message describes, to compare a restarted worker's with the first. */
function modelKey(ready: Ready): string {
  return JSON.stringify([ready.config, ready.tokenizer, ready.generation, ready.languages]);
}

/** @internal For tests: the engine's current worker thread (terminating it is a crash). */
export let workerOf: (engine: Engine) => Worker;

export class Engine extends EventEmitter<{ step: [StepEvent]; crash: [CrashEvent]; restart: [] }> {
  readonly config: Readonly<TransformerConfig>;
  /** Whether text inputs can be used (the model directory has tokenizer.json). */
  readonly hasTokenizer: boolean;
  /** The model's generation defaults (its generation_config.json), under each request's options. */
  readonly generation: Readonly<GenerationOptions>;
  readonly #languages: Languages;
  readonly maxBatch: number;
  readonly maxQueue: number;
  /** Bytes the decode state may hold (options.maxKvBytes). */
  readonly maxKvBytes: number;
  readonly #setup: WorkerSetup;
  readonly #restart: Required<RestartOptions>;
  readonly #modelKey: string;
  #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #queued = 0;
  #rows = 0;
  #state: EngineState = 'ready';
  /** While restarting or failed: why, for the requests refused meanwhile. */
  #down: EngineDownError | undefined;
  /** Times of the restarts within the window. */
  #restartTimes: number[] = [];
  #restarts = 0;
  /** Stops a restart in progress (close()). */
  #restarting: { abort: AbortController; done: Promise<void> } | undefined;
  #closing: Promise<void> | undefined;

  static {
    workerOf = (engine) => engine.#worker;
  }

  private constructor(worker: Worker, ready: Ready, setup: WorkerSetup, maxQueue: number, restart: Required<RestartOptions>) {
    super();
    this.config = Object.freeze(ready.config);
    this.hasTokenizer = ready.tokenizer;
    this.generation = Object.freeze(ready.generation);
    this.#languages = new Map(ready.languages);
    this.#modelKey = modelKey(ready);
    this.maxBatch = setup.maxBatch;
    this.maxQueue = maxQueue;
    this.maxKvBytes = setup.maxKvBytes;
    this.#setup = setup;
    this.#restart = restart;
    this.#worker = worker;
    this.#attach(worker);
  }

  /** Loads the model directory `dir` (config.json, model.safetensors, tokenizer.json) in a worker thread. */
  static async load(dir: string, options: EngineOptions = {}): Promise<Engine> {
    if (typeof dir !== 'string') throw new TypeError(`dir must be a string, got ${describe(dir)}`);
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${describe(options)}`);
    const backend = options.backend ?? 'native';
    if (backend !== 'native' && backend !== 'reference') {
      throw new RangeError(`options.backend must be 'native' or 'reference', got ${describe(backend)}`);
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new TypeError(`options.signal must be an AbortSignal, got ${describe(options.signal)}`);
    }
    const dtype = checkDType('options.dtype', options.dtype ?? 'fp32');
    const setup: WorkerSetup = {
      dir,
      backend,
      dtype,
      outputDtype: checkDType('options.outputDtype', options.outputDtype ?? dtype),
      maxBatch: positive('options.maxBatch', options.maxBatch, 32),
      maxKvBytes: checkKvBytes(options.maxKvBytes),
      threads: options.threads === undefined ? undefined : checkInt('options.threads', options.threads, 1, 1024),
      nice: checkInt('options.nice', options.nice ?? 10, 0, 19),
    };
    const maxQueue = checkInt('options.maxQueue', options.maxQueue ?? 256, 0, 1 << 20);
    const restart = checkRestart(options.restart);
    const { worker, ready } = await startWorker(setup, options.signal);
    return new Engine(worker, ready, setup, maxQueue, restart);
  }

  /** Counts as the main thread sees them. */
  get stats(): EngineStats {
    return { queued: this.#queued, running: this.#pending.size - this.#queued, rows: this.#rows };
  }

  get state(): EngineState {
    return this.#state;
  }

  /** While the engine restarts or is down ('restarting', 'failed'): why, as requests made meanwhile are refused. */
  get downError(): EngineDownError | undefined {
    return this.#state === 'restarting' || this.#state === 'failed' ? this.#down : undefined;
  }

  /** Workers started after a crash, since load. */
  get restarts(): number {
    return this.#restarts;
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

  /**
   * Stops taking requests, lets every accepted one finish, then stops the
   * worker and frees the model. During a restart it stops the loading worker;
   * after a crash the engine gave up on, it only marks the engine closed.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const was = this.#state;
      this.#state = 'closing';
      if (was === 'ready') {
        const worker = this.#worker;
        await new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          worker.postMessage({ type: 'close' } satisfies ToWorker);
        });
      } else if (this.#restarting) {
        this.#restarting.abort.abort(new EngineClosedError());
        await this.#restarting.done;
      }
      this.#state = 'closed';
    })();
    return this.#closing;
  }

  #attach(worker: Worker): void {
    let failure: Error | undefined;
    worker.on('message', (m: FromWorker) => {
      if (worker === this.#worker) this.#onMessage(m);
    });
    // An uncaught error in the worker: 'exit' follows.
    worker.on('error', (error) => (failure = error));
    worker.on('exit', (code) => {
      if (worker === this.#worker) this.#onExit(code, failure);
    });
  }

  #onExit(code: number, failure: Error | undefined): void {
    const what = failure ? `failed (${failure.message})` : `exited (code ${code})`;
    if (this.#state === 'closing') {
      // After close(): every accepted request has ended unless the worker died while they ran.
      this.#fail(new EngineClosedError(`the engine's worker ${what} while the engine was closing`));
      return;
    }
    const restarting = this.#mayRestart();
    const then = restarting ? 'the engine is restarting' : this.#gaveUp();
    const error = new EngineDownError(`the engine's worker ${what} before the request completed; ${then}`, restarting);
    this.#state = restarting ? 'restarting' : 'failed';
    this.#down = new EngineDownError(
      restarting ? `the engine is restarting: its worker ${what}; try again shortly` : `the engine is down: its worker ${what}; ${then}`,
      restarting,
    );
    this.#fail(error);
    if (restarting) this.#startRestart();
    this.emit('crash', { error, restarting });
  }

  /** Whether one more restart fits in the window (and counts it). */
  #mayRestart(): boolean {
    const now = Date.now();
    this.#restartTimes = this.#restartTimes.filter((t) => now - t < this.#restart.windowMs);
    if (this.#restartTimes.length >= this.#restart.maxRestarts) return false;
    this.#restartTimes.push(now);
    return true;
  }

  #gaveUp(): string {
    const { maxRestarts, windowMs } = this.#restart;
    return maxRestarts === 0 ? 'restarts are off (options.restart)' : `it was restarted ${maxRestarts === 1 ? 'once' : `${maxRestarts} times`} within ${windowMs} ms already, so it stays down`;
  }

  #startRestart(): void {
    const abort = new AbortController();
    const done = (async () => {
      for (;;) {
        try {
          const { worker, ready } = await startWorker(this.#setup, abort.signal);
          if (abort.signal.aborted) {
            await worker.terminate(); // close() came as it became ready
            return;
          }
          if (modelKey(ready) !== this.#modelKey) {
            await worker.terminate();
            this.#giveUp(`the model in ${this.#setup.dir} changed since the engine loaded it`);
            return;
          }
          this.#worker = worker;
          this.#attach(worker);
          this.#restarts++;
          this.#restarting = undefined;
          this.#down = undefined;
          this.#state = 'ready';
          this.emit('restart');
          return;
        } catch (error) {
          if (abort.signal.aborted) return; // close() stopped it
          const message = error instanceof Error ? error.message : String(error);
          // A failed load counts as one more crash.
          if (!this.#mayRestart()) {
            this.#giveUp(`restarting its worker failed: ${message}`);
            return;
          }
        }
      }
    })();
    this.#restarting = { abort, done };
  }

  #giveUp(why: string): void {
    this.#restarting = undefined;
    this.#state = 'failed';
    this.#down = new EngineDownError(`the engine is down: ${why}`, false);
    this.emit('crash', { error: this.#down, restarting: false });
  }

  #submit(input: EngineInput, options: RequestOptions, stream: boolean, p: Omit<Pending, 'admitted' | 'cleanup'>): number {
    try {
      if (this.#state === 'restarting' || this.#state === 'failed') throw this.#down;
      if (this.#state !== 'ready') throw new EngineClosedError();
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
      // Posted first: options that cannot be cloned throw here, before anything is counted.
      this.#worker.postMessage({ type: 'request', id, input: wire, options: generation, stream } satisfies ToWorker);
      const onAbort = () => this.#cancel(id, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { ...p, admitted: false, cleanup: () => signal?.removeEventListener('abort', onAbort) });
      this.#queued++;
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

  /** Rejects request `id` with `reason` and tells the worker to drop it (its rows are freed before the next step). */
  #cancel(id: number, reason: unknown): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#settle(id, p);
    this.#worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
    p.reject(reason);
  }

  #settle(id: number, p: Pending): void {
    this.#pending.delete(id);
    if (!p.admitted) this.#queued--;
    // Nothing left: the worker's next step has no rows (a cancelled last request sends no further 'step').
    if (this.#pending.size === 0) this.#rows = 0;
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
        this.#rows = this.#pending.size === 0 ? 0 : m.rows;
        this.emit('step', { rows: m.rows, seconds: m.seconds, joined: m.joined, kvBytes: m.kvBytes });
        break;
      case 'done':
      case 'failed': {
        const p = this.#pending.get(m.id);
        if (!p) break;
        this.#settle(m.id, p);
        if (m.type === 'done') p.resolve(m.result);
        else p.reject(fromWireError(m.error));
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
