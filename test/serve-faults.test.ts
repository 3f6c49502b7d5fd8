// The HTTP server under faults: the engine's worker dying mid-request (503
// naming what happened, /health and /metrics telling, service back after a
// restart), the KV cache budget (400 / 422 for a request that can never fit),
// and request fields naming paths (compared as strings, never opened).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../lib/index.js';
import { workerOf } from '../lib/serve/engine.js';
import { createServer, type AiaynServer } from '../lib/serve/http.js';
import { DIR, MODEL_NAME, getJson, heldout, parseMetrics, postJson, postSse, saveSlowModel, startServer, until } from './serve-helpers.js';

/** A server over `dir` on 127.0.0.1, port 0. */
async function serveDir(dir: string, options: EngineOptions): Promise<{ engine: Engine; http: AiaynServer; url: string; close(): Promise<void> }> {
  const engine = await Engine.load(dir, options);
  const http = createServer(engine, { modelName: 'random' });
  await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
  return {
    engine,
    http,
    url: `http://127.0.0.1:${(http.server.address() as { port: number }).port}`,
    async close() {
      await http.close({ timeoutMs: 5000 });
      await engine.close();
    },
  };
}

describe('the engine worker dies while requests are in flight', () => {
  // Steps of a few milliseconds and 200 of them (min_tokens keeps EOS out): still running when the worker is killed.
  let dir: string;
  const body = (seed: number, stream = false) => ({
    prompt: Array.from({ length: 24 }, (_, i) => 4 + ((seed * 31 + i * 7) % 990)), max_tokens: 200, min_tokens: 200, temperature: 0, stream,
  });

  beforeAll(() => {
    dir = saveSlowModel('aiayn-serve-faults-', 4);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('with restarts off: 503 naming the crash, in JSON and in the stream; then /health, /metrics and every request say the engine is down', async () => {
    const s = await serveDir(dir, { restart: false });
    try {
      const plain = postJson(s.url, '/v1/completions', body(1));
      const streamed = postSse(s.url, '/v1/completions', body(2, true));
      await until(() => s.engine.stats.running === 2, 20_000, 'both requests decoding');
      await workerOf(s.engine).terminate();

      const p = await plain;
      expect(p.status).toBe(503);
      expect(p.body.error).toMatchObject({ type: 'server_error', code: 'engine_unavailable' });
      expect(p.body.error.message).toMatch(/the engine's worker exited \(code 1\) before the request completed; restarts are off/);
      expect(p.headers.get('retry-after')).toBeNull();
      const st = await streamed;
      expect(st.status).toBe(200); // tokens had gone out: the error is the stream's last event
      expect(st.events.at(-1)).toBe('[DONE]');
      expect(JSON.parse(st.events.at(-2)!).error).toMatchObject({ code: 'engine_unavailable', message: expect.stringMatching(/before the request completed/) });

      const health = await getJson(s.url, '/health');
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: 'failed', error: expect.stringMatching(/^the engine is down: its worker exited \(code 1\)/) });
      const later = await postJson(s.url, '/v1/completions', { ...body(3), max_tokens: 2, min_tokens: 0 });
      expect(later.status).toBe(503);
      expect(later.body.error.message).toMatch(/^the engine is down/);
      const metrics = parseMetrics((await getJson(s.url, '/metrics')).text);
      expect(metrics.get('aiayn_engine_up')).toBe(0);
      expect(metrics.get('aiayn_engine_restarts')).toBe(0);
      expect(metrics.get('aiayn_kv_cache_bytes')).toBe(0); // the dead worker's caches are gone
    } finally {
      await s.close();
    }
  });

  it('with restarts on: the request in flight gets 503 with Retry-After; the server serves again once the worker is back', async () => {
    const s = await serveDir(dir, { restart: { maxRestarts: 2 } });
    try {
      const plain = postJson(s.url, '/v1/completions', body(1));
      await until(() => s.engine.stats.running === 1, 20_000, 'the request decoding');
      const restarted = new Promise<void>((resolve) => s.engine.once('restart', () => resolve()));
      await workerOf(s.engine).terminate();
      const p = await plain;
      expect(p.status).toBe(503);
      expect(p.headers.get('retry-after')).toBe('1');
      expect(p.body.error.message).toMatch(/before the request completed; the engine is restarting/);
      // While it restarts (if the answer comes before the new worker is ready): 503 and the reason.
      const during = await getJson(s.url, '/health');
      if (during.status === 503) expect(during.body).toEqual({ status: 'restarting', error: expect.stringMatching(/^the engine is restarting: its worker exited/) });
      else expect(during.body).toEqual({ status: 'ok' });
      await restarted;
      expect((await getJson(s.url, '/health')).body).toEqual({ status: 'ok' });
      expect(parseMetrics((await getJson(s.url, '/metrics')).text).get('aiayn_kv_cache_bytes')).toBe(0); // the new worker has stepped nothing yet
      const again = await postJson(s.url, '/v1/completions', { ...body(5), max_tokens: 4, min_tokens: 0 });
      expect(again.status).toBe(200);
      const metrics = parseMetrics((await getJson(s.url, '/metrics')).text);
      expect(metrics.get('aiayn_engine_up')).toBe(1);
      expect(metrics.get('aiayn_engine_restarts')).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('the KV cache budget over HTTP', () => {
  it('a request that can never fit: 400 (OpenAI) / 422 (TGI) naming maxKvBytes; /info shows the budget', async () => {
    const s = await startServer({ maxKvBytes: 200_000 });
    try {
      const prompt = heldout[0].text;
      const openai = await postJson(s.url, '/v1/completions', { model: MODEL_NAME, prompt, max_tokens: 60, num_beams: 4 });
      expect(openai.status).toBe(400);
      expect(openai.body.error).toMatchObject({ type: 'invalid_request_error', param: null });
      expect(openai.body.error.message).toMatch(/^the request needs .* of KV cache \(4 rows × \(60 target \+ \d+ source positions\).*more than this engine's maxKvBytes \(200000 bytes\)/);
      const tgi = await postJson(s.url, '/generate', { inputs: prompt, parameters: { max_new_tokens: 60, num_beams: 4 } });
      expect(tgi.status).toBe(422);
      expect(tgi.body).toEqual({ error: expect.stringMatching(/maxKvBytes \(200000 bytes\)/), error_type: 'validation' });
      const fits = await postJson(s.url, '/v1/completions', { model: MODEL_NAME, prompt, max_tokens: 8 });
      expect(fits.status).toBe(200);
      expect((await getJson(s.url, '/info')).body.max_kv_bytes).toBe(200_000);
      const metrics = parseMetrics((await getJson(s.url, '/metrics')).text);
      expect(metrics.get('aiayn_kv_cache_budget_bytes')).toBe(200_000);
      expect(metrics.get('aiayn_kv_cache_bytes')).toBeGreaterThan(0);
      expect(metrics.get('aiayn_kv_cache_bytes')).toBeLessThanOrEqual(200_000);
      expect(s.engine.stats).toEqual({ queued: 0, running: 0, rows: 0 });
    } finally {
      await s.close();
    }
  });
});

describe('aiayn serve --max-kv-bytes and --max-restarts', () => {
  const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

  it('take byte units, log the budget, and bad values exit 2 naming the flag', async () => {
    const run = (args: string[], stopWhen?: RegExp) =>
      new Promise<{ code: number | null; log: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'serve', '--model', DIR, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let log = '';
        let stopped = false;
        const on = (c: Buffer) => {
          log += c.toString();
          const port = stopWhen?.exec(log)?.[1];
          if (stopped || port === undefined) return;
          stopped = true;
          // Once it answers: then it is surely past installing its signal handlers.
          getJson(`http://127.0.0.1:${port}`, '/health').catch(() => undefined).then(() => child.kill('SIGTERM'));
        };
        child.stdout.on('data', on);
        child.stderr.on('data', on);
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, log });
        });
      });
    const ok = await run(['--max-kv-bytes', '64MiB', '--max-restarts', '0'], /listening on http:\/\/127\.0\.0\.1:(\d+)/);
    expect(ok.log).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(model .*, KV cache budget 64 MiB\)/);
    expect(ok.code).toBe(0);
    for (const [value, flag] of [['1.5G', '--max-kv-bytes'], ['0', '--max-kv-bytes'], ['-1', '--max-restarts']]) {
      const bad = await run([flag, value]);
      expect(bad.code).toBe(2);
      expect(bad.log).toMatch(new RegExp(`${flag} must be`));
    }
  });
});

describe('paths named by requests', () => {
  let root: string;
  let s: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'aiayn-paths-'));
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('the OpenAI model field is a name, never opened: a directory or file it names is not read', async () => {
    const other = join(root, 'other-model');
    mkdirSync(other);
    writeFileSync(join(other, 'config.json'), '{}');
    const file = join(root, 'secret.txt');
    writeFileSync(file, 'not for requests');
    // Access times two days old: any read (or directory listing) now moves them (relatime updates an atime older than a day).
    const old = new Date(Date.now() - 2 * 86_400_000);
    for (const p of [other, join(other, 'config.json'), file]) utimesSync(p, old, statSync(p).mtime);
    const atimes = () => [other, join(other, 'config.json'), file].map((p) => statSync(p).atimeMs);
    const before = atimes();

    for (const model of [other, join(other, 'config.json'), file, `${root}/../${root.split('/').at(-1)}/secret.txt`, 'file://' + file]) {
      const r = await postJson(s.url, '/v1/completions', { model, prompt: heldout[0].text, max_tokens: 4, temperature: 0 });
      expect(r.status, model).toBe(200);
      expect(r.body.model).toBe(MODEL_NAME); // the served model answered
      const m = await getJson(s.url, `/v1/models/${encodeURIComponent(model)}`);
      expect(m.status).toBe(404);
      expect(m.body.error.code).toBe('model_not_found');
    }
    expect(atimes()).toEqual(before);
    // The check can see a read on this file system: reading one moves its access time.
    readFileSync(file);
    expect(statSync(file).atimeMs).not.toBe(before[2]);
  });
});
