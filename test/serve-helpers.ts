// Shared by the HTTP server tests: a server over an Engine on 127.0.0.1 port
// 0, the synchronous API's answers to compare with, and small HTTP clients
// (JSON, SSE, raw) whose every wait is bounded.
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, Transformer, generate, type EngineOptions, type GenerationOptions } from '../lib/index.js';
import { createServer, type AiaynServer, type ServerOptions } from '../lib/serve/http.js';

export const DIR = 'models/pt-numbers';
export const MODEL_NAME = 'pt-numbers';

/** The demo model's held-out inputs (Portuguese number words) and their digits. */
export const heldout = JSON.parse(readFileSync(`${DIR}/heldout.json`, 'utf8')) as Array<{ text: string; digits: string }>;

export interface TestServer {
  engine: Engine;
  http: AiaynServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An engine on the demo model and a server over it, listening on 127.0.0.1, port 0. */
export async function startServer(engineOptions: EngineOptions = {}, serverOptions: ServerOptions = {}): Promise<TestServer> {
  const engine = await Engine.load(DIR, engineOptions);
  const http = createServer(engine, { modelName: MODEL_NAME, ...serverOptions });
  await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
  const port = (http.server.address() as { port: number }).port;
  return {
    engine,
    http,
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      await http.close({ timeoutMs: 5000 });
      await engine.close();
    },
  };
}

/** The synchronous API (the oracle), on the same model. */
export class Oracle {
  readonly model = Transformer.load(DIR);

  ids(text: string): Int32Array {
    return this.model.tokenizer!.encode(text, { eos: true });
  }

  /** The sequences generate() returns for `text` alone, with their texts. */
  run(text: string, options: GenerationOptions) {
    const g = generate(this.model, [this.ids(text)], options)[0];
    return g.sequences.map((s) => ({ ...s, text: this.model.tokenizer!.decode(s.ids) }));
  }

  text(text: string, options: GenerationOptions): string {
    return this.run(text, options)[0].text;
  }

  dispose(): void {
    this.model.dispose();
  }
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** fetch with a deadline. */
export function fetchWithin(url: string, init: RequestInit = {}, ms = 30_000): Promise<Response> {
  const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms);
  return fetch(url, { ...init, signal });
}

export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetchWithin(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readJson(res);
}

export async function getJson(base: string, path: string, method = 'GET'): Promise<JsonResponse> {
  return readJson(await fetchWithin(base + path, { method }));
}

async function readJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** An SSE response split into its events' data fields; checks the framing (each event one `data: ` line, then a blank line). */
export async function postSse(base: string, path: string, body: unknown): Promise<{ status: number; headers: Headers; events: string[]; raw: string }> {
  const res = await fetchWithin(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const raw = await res.text();
  return { status: res.status, headers: res.headers, events: parseSse(raw), raw };
}

export function parseSse(raw: string): string[] {
  if (raw.length === 0) return [];
  if (!raw.endsWith('\n\n')) throw new Error(`an SSE stream must end with a blank line, got ${JSON.stringify(raw.slice(-40))}`);
  return raw
    .slice(0, -2)
    .split('\n\n')
    .map((event) => {
      if (!event.startsWith('data: ') || event.includes('\n')) throw new Error(`not a single data line: ${JSON.stringify(event)}`);
      return event.slice('data: '.length);
    });
}

/** A raw HTTP request (for what fetch will not send): resolves with the status and body, or the socket error. */
export function rawRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer | string; writeChunks?: Buffer[] },
  ms = 10_000,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path, headers: options.headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('rawRequest timed out'));
    }, ms);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', () => undefined);
    });
    // Once the response came, a write the server no longer reads may fail: that is expected.
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (options.writeChunks) {
      for (const chunk of options.writeChunks) req.write(chunk);
      // left open: the server must answer before the body ends
    } else {
      req.end(options.body);
    }
  });
}

/** Polls `check` every 5 ms until it holds, for at most `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A random model saved in a new temporary directory (the caller removes it)
 * whose decoder steps take a few milliseconds: requests of 200 new tokens are
 * still running when a test kills the worker.
 */
export function saveSlowModel(prefix: string, seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const config = { dModel: 256, heads: 4, dFF: 1536, encoderLayers: 2, decoderLayers: 2, srcVocab: 1000, tgtVocab: 1000, maxPositions: 256, padId: 0, bosId: 1, eosId: 2, unkId: 3 };
  const model = Transformer.random(config, { seed });
  model.save(dir);
  model.dispose();
  return dir;
}

/** Prometheus text format 0.0.4, parsed: sample name with labels -> value. Throws on a malformed line. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${JSON.stringify(line)}`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[3].replace('+Inf', 'Infinity')));
  }
  return samples;
}
