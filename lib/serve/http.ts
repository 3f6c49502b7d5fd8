// The HTTP server over an Engine: OpenAI-compatible /v1/completions and
// /v1/models, TGI-compatible /generate, /generate_stream and /info, plus
// /health and Prometheus /metrics.
//
// Built on node:http alone, no framework: zero dependencies, and explicit
// control of what matters here: SSE framing and backpressure (each event
// waits for 'drain'), body limits (a body over the cap is answered 413 and
// never buffered), aborts (a client that leaves cancels its engine request and
// frees its rows) and a graceful drain on close().
//
// Requests: POST bodies must be JSON with Content-Type application/json (or
// application/*+json), else 415. Errors take the shape of the API the route
// belongs to: OpenAI's {error: {message, type, param, code}} under /v1/ (400
// for a bad request), TGI's {error, error_type} elsewhere (422 for a bad
// request). 404 unknown route, 405 wrong method (with Allow), 413 body too
// large, 429 queue full (Retry-After: 1), 503 while draining or while the
// engine's worker restarts after a crash (Retry-After: 1) or is down, 500 for anything
// unexpected (logged, answered without details). Nothing a client sends can
// stop the server or disturb other requests.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Engine, type EngineOptions, type StepEvent } from './engine.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { ApiError, ClientGoneError, ValidationError, sendJson, toApiError, type RequestContext, type ServerLimits } from './api.js';
import { Gauge, PROMETHEUS_CONTENT_TYPE, ServerMetrics } from './metrics.js';
import * as openai from './openai.js';
import * as tgi from './tgi.js';

export type { ServerLimits } from './api.js';
export { ServerMetrics } from './metrics.js';

export interface ServerOptions extends Partial<ServerLimits> {
  /** The model's name in responses (default 'model'; serve() uses the model directory's basename). */
  modelName?: string;
  /** Source tokens a text prompt encodes to (default: its characters plus EOS, as the CharTokenizer encodes). */
  countTokens?: (text: string) => number;
  /** Where the server's own log lines go (internal errors). Default: nowhere. */
  log?: (line: string) => void;
}

export interface AiaynServer {
  readonly server: Server;
  readonly metrics: ServerMetrics;
  readonly limits: Readonly<ServerLimits>;
  /** True once close() was called: /health answers 503 and new requests 503. */
  readonly draining: boolean;
  /**
   * Stops accepting connections, answers 503 to new requests on open ones,
   * and resolves when every in-flight request has been answered (after
   * `timeoutMs`, default 60 s, open connections are cut). The engine is not
   * closed: that is the caller's (serve() closes its own).
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Default body cap: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
})();

interface Family {
  validationStatus: number;
  errorBody(error: ApiError): unknown;
  streamError(error: ApiError): string[];
}

const OPENAI: Family = { validationStatus: 400, errorBody: openai.openaiError, streamError: openai.openaiStreamError };
const TGI: Family = { validationStatus: 422, errorBody: tgi.tgiError, streamError: tgi.tgiStreamError };

type Handler = (ctx: RequestContext, body: unknown, path: string) => Promise<void> | void;

interface Route {
  /** The `route` label of the metrics. */
  label: string;
  family: Family;
  methods: Partial<Record<'GET' | 'POST', Handler>>;
  /** Answered while draining (probes). */
  duringDrain?: boolean;
}

function positiveLimit(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer, got ${v}`);
  return v;
}

function isJsonType(header: string | undefined): boolean {
  const type = (header ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
}

/**
 * The body, at most `limit` bytes: a larger declared Content-Length is refused
 * before reading, a longer stream as soon as it passes the limit (the rest is
 * discarded, never buffered).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new ApiError(413, `the request body is larger than this server's limit of ${limit} bytes`, null, 'body_too_large', { connection: 'close' });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolvePromise(Buffer.concat(chunks, size));
    };
    const onGone = () => {
      cleanup();
      reject(new ClientGoneError());
    };
    const onClose = () => {
      if (!req.complete) onGone();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ValidationError('the request body is empty: send a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ValidationError(`the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The server for `engine`; listen() on it yourself (port 0 for an ephemeral one). */
export function createServer(engine: Engine, options: ServerOptions = {}): AiaynServer {
  const limits: ServerLimits = {
    maxBodyBytes: positiveLimit('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    maxPromptTokens: positiveLimit('maxPromptTokens', options.maxPromptTokens, engine.config.maxPositions),
    maxTokensCap: positiveLimit('maxTokensCap', options.maxTokensCap, engine.config.maxPositions),
  };
  const modelName = options.modelName ?? 'model';
  const countTokens = options.countTokens ?? ((text: string) => Array.from(text).length + 1);
  const log = options.log ?? (() => undefined);
  const metrics = new ServerMetrics(() => engine.stats);
  metrics.registry.add(new Gauge('aiayn_engine_up', '1 while the engine serves; 0 while its worker restarts after a crash, or after it failed', () => (engine.state === 'ready' ? 1 : 0)));
  // A worker's figure holds while that worker serves: a crashed one's caches are gone, a restarted one's start empty.
  metrics.registry.add(new Gauge('aiayn_kv_cache_bytes', "Bytes of the engine's KV caches (its decode state) at the last step", () => (engine.state === 'ready' && kv.worker === engine.restarts ? kv.bytes : 0)));
  metrics.registry.add(new Gauge('aiayn_kv_cache_budget_bytes', "The engine's maxKvBytes (+Inf: no limit)", () => engine.maxKvBytes));
  metrics.registry.add(new Gauge('aiayn_engine_restarts', "Workers the engine started after a crash of the previous one, since load", () => engine.restarts));
  /** The last step's kvBytes, and which worker (counted by engine.restarts) reported them. */
  let kv = { bytes: 0, worker: engine.restarts };
  const onStep = (step: StepEvent) => {
    metrics.batchRows.observe(step.rows);
    metrics.stepSeconds.observe(step.seconds);
    kv = { bytes: step.kvBytes, worker: engine.restarts };
  };
  engine.on('step', onStep);
  const created = Math.floor(Date.now() / 1000);
  let draining = false;
  let closing: Promise<void> | undefined;

  const routes = new Map<string, Route>([
    ['/v1/completions', { label: '/v1/completions', family: OPENAI, methods: { POST: openai.completions } }],
    ['/v1/models', { label: '/v1/models', family: OPENAI, methods: { GET: (ctx) => openai.models(ctx, created) } }],
    ['/generate', { label: '/generate', family: TGI, methods: { POST: tgi.generate } }],
    ['/generate_stream', { label: '/generate_stream', family: TGI, methods: { POST: tgi.generateStream } }],
    ['/info', { label: '/info', family: TGI, methods: { GET: (ctx) => tgi.info(ctx, VERSION) } }],
    [
      '/health',
      {
        label: '/health',
        family: TGI,
        duringDrain: true,
        methods: {
          GET: (ctx) => {
            // 'ok' only when the engine serves: a load balancer routes elsewhere while it restarts or is down.
            if (draining) return sendJson(ctx.res, 503, { status: 'draining' });
            const state = engine.state;
            if (state === 'ready') return sendJson(ctx.res, 200, { status: 'ok' });
            const down = engine.downError;
            sendJson(ctx.res, 503, { status: state, ...(down ? { error: down.message } : {}) }, state === 'restarting' ? { 'retry-after': '1' } : {});
          },
        },
      },
    ],
    [
      '/metrics',
      {
        label: '/metrics',
        family: TGI,
        duringDrain: true,
        methods: {
          GET: (ctx) => {
            const text = metrics.registry.expose();
            ctx.res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
            ctx.res.end(text);
          },
        },
      },
    ],
  ]);
  const modelRoute: Route = {
    label: '/v1/models/{id}',
    family: OPENAI,
    methods: {
      GET: (ctx, _body, path) => {
        const raw = path.slice('/v1/models/'.length);
        let id = raw;
        try {
          id = decodeURIComponent(raw);
        } catch {
          // a malformed escape: looked up as it is (and not found)
        }
        openai.model(ctx, created, id);
      },
    },
  };

  function match(path: string): Route | undefined {
    return routes.get(path) ?? (path.startsWith('/v1/models/') && path.length > '/v1/models/'.length ? modelRoute : undefined);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now();
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const route = match(path);
    const family = route?.family ?? (path.startsWith('/v1/') ? OPENAI : TGI);
    const controller = new AbortController();
    res.on('error', () => undefined); // a write to a socket that just closed: 'close' follows
    res.on('close', () => {
      const finished = res.writableFinished;
      if (!finished) controller.abort(new ClientGoneError());
      const labels = { route: route?.label ?? 'unmatched' };
      // 499: the client closed the connection before the answer was complete (nginx's convention).
      metrics.requests.inc({ ...labels, status: String(finished ? res.statusCode : 499) });
      metrics.requestSeconds.observe((performance.now() - start) / 1000, labels);
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
    const ctx: RequestContext = {
      engine,
      limits,
      modelName,
      metrics,
      signal: controller.signal,
      abort: (reason) => {
        if (!controller.signal.aborted) controller.abort(reason);
      },
      countTokens,
      res,
    };
    try {
      if (!route) throw new ApiError(404, `Invalid URL (${method} ${path})`, null, 'not_found');
      const handler = route.methods[method as 'GET' | 'POST'];
      if (!handler) {
        const allow = Object.keys(route.methods).join(', ');
        throw new ApiError(405, `method ${method} is not allowed on ${path} (allowed: ${allow})`, null, 'method_not_allowed', { allow });
      }
      if (draining && !route.duringDrain) {
        throw new ApiError(503, 'the server is shutting down', null, 'shutting_down', { connection: 'close' });
      }
      if (draining) res.setHeader('connection', 'close');
      let body: unknown;
      if (method === 'POST') {
        if (!isJsonType(req.headers['content-type'])) {
          throw new ApiError(415, `Content-Type must be application/json, got ${req.headers['content-type'] ?? 'none'}`, null, 'unsupported_media_type');
        }
        body = parseJson(await readBody(req, limits.maxBodyBytes));
      }
      await handler(ctx, body, path);
    } catch (error) {
      const api = toApiError(error, family.validationStatus);
      if (api === undefined || res.destroyed) return; // the client left
      if (api.status === 500) log(`aiayn: internal error on ${method} ${path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (!res.headersSent) {
        sendJson(res, api.status, family.errorBody(api), { ...api.headers });
        if (api.status === 413) {
          // The rest of the body is discarded as it arrives; a client that keeps sending is cut off.
          res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
        }
      } else if (!res.writableEnded) {
        for (const data of family.streamError(api)) res.write(`data: ${data}\n\n`);
        res.end();
      }
    }
  }

  const server = createHttpServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Last resort: handle() answers its own errors.
      log(`aiayn: unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent && !res.destroyed) {
        res.statusCode = 500;
        res.end();
      } else res.destroy();
    });
  });
  // Malformed HTTP is node:http's default 'clientError' handling: 400 (431 for oversized headers, 408 on timeout), then the socket is dropped.

  return {
    server,
    metrics,
    limits,
    get draining() {
      return draining;
    },
    close({ timeoutMs = 60_000 } = {}) {
      closing ??= new Promise<void>((resolveClose) => {
        draining = true;
        const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          engine.off('step', onStep);
          resolveClose();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

export interface ServeOptions extends ServerOptions, EngineOptions {
  /** The model directory. */
  model: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

export interface Serving extends AiaynServer {
  readonly engine: Engine;
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  /** Drains the HTTP server (in-flight requests finish), then closes the engine. */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Loads the model in an Engine and serves it on host:port. */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { model: dir, host = '127.0.0.1', port = 8080 } = options;
  const engine = await Engine.load(dir, {
    backend: options.backend, dtype: options.dtype, outputDtype: options.outputDtype, maxBatch: options.maxBatch, maxQueue: options.maxQueue, threads: options.threads, nice: options.nice,
    maxKvBytes: options.maxKvBytes, restart: options.restart, signal: options.signal,
  });
  let countTokens = options.countTokens;
  const tokenizer = countTokens === undefined ? loadTokenizer(dir) : undefined;
  if (tokenizer !== undefined) countTokens = (text) => tokenizer.encode(text).length;
  let http: AiaynServer;
  try {
    http = createServer(engine, { ...options, countTokens, modelName: options.modelName ?? basename(resolve(dir)) });
    await new Promise<void>((resolveListen, reject) => {
      http.server.once('error', reject);
      http.server.listen(port, host, () => {
        http.server.off('error', reject);
        resolveListen();
      });
    });
  } catch (error) {
    await engine.close();
    throw error;
  }
  const address = http.server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server: http.server,
    metrics: http.metrics,
    limits: http.limits,
    get draining() {
      return http.draining;
    },
    engine,
    host: address.address,
    port: address.port,
    url: `http://${shown}:${address.port}`,
    close(closeOptions) {
      closing ??= http.close(closeOptions).then(() => engine.close());
      return closing;
    },
  };
}
