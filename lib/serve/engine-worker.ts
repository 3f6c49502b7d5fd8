// The engine's worker thread: hosts the model and the step loop. Between two
// decoder steps it reads its messages (new requests, cancellations), admits
// waiting requests while rows are free (first come, first served), runs one
// step over all rows, and posts the step's tokens and finished results: one
// message hop per batched step, never per op.
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { Transformer } from '../model/transformer.js';
import { setThreads } from '../runtime.js';
import { BatchRunner } from '../generate/batch.js';
import { createSearch } from '../generate/generate.js';
import { resolveGenerationOptions } from '../generate/options.js';
import { checkIds } from '../model/transformer.js';
import { decodeStateBytes } from '../model/decode-state.js';
import type { Search } from '../generate/search.js';
import { encodeText, resolveLanguages, type ResolvedLanguages } from '../generate/text.js';
import { kvBudgetError } from './kv-budget.js';
import { toWireError, type EngineGeneration, type FromWorker, type ToWorker, type WireInput, type WireToken, type WorkerSetup } from './protocol.js';

interface Job {
  id: number;
  search: Search;
  stream: boolean;
  /** Per sequence: generated ids so far and the text already sent, for streamed text deltas. */
  ids: number[][];
  sent: string[];
}

const port = parentPort!;
const setup = workerData as WorkerSetup;
const post = (message: FromWorker) => port.postMessage(message);
// What a tick has to say goes out as one message: a postMessage costs both threads more than its contents.
let outbox: FromWorker[] = [];
const send = (message: FromWorker) => outbox.push(message);
function flush(): void {
  if (outbox.length === 0) return;
  post(outbox.length === 1 ? outbox[0] : { type: 'batch', messages: outbox });
  outbox = [];
}

let model: Transformer;
try {
  // On Linux this thread's own niceness, inherited by the kernel threads it starts; never raised back.
  if (setup.nice > getPriority()) setPriority(setup.nice);
  if (setup.threads !== undefined) setThreads(setup.threads);
  model = Transformer.load(setup.dir, { backend: setup.backend, dtype: setup.dtype, outputDtype: setup.outputDtype });
} catch (error) {
  post({ type: 'fatal', error: toWireError(error) });
  process.exit(1);
}
const config = model.config;
const tokenizer = model.tokenizer;
let runner = new BatchRunner(model);
const waiting: Job[] = [];
const running = new Map<number, Job>();
const bySearch = new Map<Search, Job>();
let tokens: WireToken[] = [];
let closing = false;
let scheduled = false;

function decodeText(ids: number[]): string {
  return tokenizer ? tokenizer.decode(ids) : '';
}

function sourceIds(input: WireInput, languages: ResolvedLanguages): Int32Array {
  if ('text' in input) {
    if (!tokenizer) throw new Error('the model has no tokenizer: send token ids, not text');
    const ids = encodeText(tokenizer, input.text, 'input', languages);
    if (ids.length > config.maxPositions) {
      throw new RangeError(`input has ${ids.length} tokens, more than config.maxPositions (${config.maxPositions})`);
    }
    return ids;
  }
  return checkIds('input', input.ids, config.srcVocab, config.maxPositions);
}

function accept(message: Extract<ToWorker, { type: 'request' }>): void {
  try {
    const languages = resolveLanguages(tokenizer?.languages, message.options);
    const options = resolveGenerationOptions(languages.options, config, [], model.generation);
    const search = createSearch(sourceIds(message.input, languages), options, config);
    if (search.initialRows > setup.maxBatch) {
      throw new RangeError(`the request needs ${search.initialRows} rows (beams or sequences), more than maxBatch (${setup.maxBatch})`);
    }
    // What its rows alone make an empty decode state hold: more can never fit the budget.
    const bytes = decodeStateBytes(config, search.initialRows, search.maxNewTokens, search.src.length);
    if (bytes > setup.maxKvBytes) {
      throw kvBudgetError(config, search.initialRows, search.maxNewTokens, search.src.length, bytes, setup.maxKvBytes);
    }
    const job: Job = { id: message.id, search, stream: message.stream, ids: [], sent: [] };
    if (message.stream) {
      search.onToken = (e) => {
        const ids = (job.ids[e.index] ??= []);
        let text = '';
        if (!e.special) {
          ids.push(e.id);
          const all = decodeText(ids);
          const before = job.sent[e.index] ?? '';
          text = all.startsWith(before) ? all.slice(before.length) : all;
          job.sent[e.index] = all;
        }
        tokens.push({
          id: job.id, index: e.index, token: e.id, text, logprob: e.logprob, special: e.special, finishReason: e.finishReason,
        });
      };
    }
    waiting.push(job);
  } catch (error) {
    send({ type: 'failed', id: message.id, error: toWireError(error) });
  }
}

function cancel(id: number): void {
  const w = waiting.findIndex((j) => j.id === id);
  if (w >= 0) waiting.splice(w, 1);
  const job = running.get(id);
  if (job) {
    running.delete(id);
    bySearch.delete(job.search);
    runner.remove(job.search);
  }
}

function result(job: Job): EngineGeneration {
  const g = job.search.result();
  return {
    promptTokens: job.search.src.length,
    sequences: g.sequences.map((s) => (tokenizer ? { ...s, text: decodeText(s.ids) } : s)),
  };
}

/**
 * Whether the decode state stays within maxKvBytes with `jobs` joined. A
 * growth holds the old and the new buffers at once (the old ones until they
 * are collected), so both count.
 */
function fitsBudget(jobs: Job[]): boolean {
  const now = runner.stateBytes;
  const after = runner.stateBytesWith(jobs.map((j) => j.search));
  return (after > now ? now + after : after) <= setup.maxKvBytes;
}

function tick(): void {
  scheduled = false;
  const joined: Job[] = [];
  let rows = runner.rows;
  // First come, first served: rows and memory free up as running requests end.
  while (waiting.length > 0 && rows + waiting[0].search.initialRows <= setup.maxBatch) {
    if (!fitsBudget([...joined, waiting[0]])) {
      // Capacities never shrink: an idle runner starts afresh, where any accepted request fits.
      if (runner.size > 0 || joined.length > 0 || runner.stateBytes === 0) break;
      runner = new BatchRunner(model);
      continue;
    }
    const job = waiting.shift()!;
    rows += job.search.initialRows;
    joined.push(job);
  }
  try {
    if (joined.length > 0) {
      runner.add(joined.map((j) => j.search));
      for (const j of joined) {
        running.set(j.id, j);
        bySearch.set(j.search, j);
      }
      send({ type: 'admitted', ids: joined.map((j) => j.id) });
    }
    if (runner.size === 0) {
      flush();
      if (closing) shutdown();
      return;
    }
    const start = performance.now();
    const stepRows = runner.rows;
    const finished = runner.step();
    send({ type: 'step', rows: stepRows, seconds: (performance.now() - start) / 1000, joined: joined.length, kvBytes: runner.stateBytes });
    if (tokens.length > 0) {
      send({ type: 'tokens', tokens });
      tokens = [];
    }
    for (const search of finished) {
      const job = bySearch.get(search)!;
      running.delete(job.id);
      bySearch.delete(search);
      send({ type: 'done', id: job.id, result: result(job) });
    }
  } catch (error) {
    // The decode state cannot be trusted after a failed step: fail what ran and start afresh.
    const wire = toWireError(error);
    for (const job of new Set([...running.values(), ...joined])) send({ type: 'failed', id: job.id, error: wire });
    running.clear();
    bySearch.clear();
    tokens = [];
    runner = new BatchRunner(model);
  }
  flush();
  schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // setImmediate lets the messages that arrived during the step in first.
  setImmediate(tick);
}

function shutdown(): void {
  model.dispose();
  post({ type: 'closed' });
  port.close();
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'request') accept(message);
  else if (message.type === 'cancel') cancel(message.id);
  else closing = true;
  schedule();
});

post({
  type: 'ready', config: { ...config }, tokenizer: tokenizer !== undefined,
  generation: { ...model.generation }, languages: [...(tokenizer?.languages ?? [])],
});
