// Load: 32 concurrent clients for 20 s against one server on 127.0.0.1,
// mixing /v1/completions and /generate (and their streamed forms) on varied
// held-out inputs, greedy. Every answer must equal the synchronous API's for
// its input alone, with zero errors. Bounded: clients stop starting requests
// after DURATION_MS or MAX_REQUESTS, each request has a deadline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oracle, heldout, parseMetrics, parseSse, startServer, type TestServer } from './serve-helpers.js';

const CLIENTS = 32;
const DURATION_MS = 20_000;
const MAX_REQUESTS = 100_000;
const MAX_NEW = 16;
const INPUTS = 200;

let s: TestServer;
let expected: string[];
const inputs = heldout.slice(0, INPUTS).map((e) => e.text);

beforeAll(async () => {
  const oracle = new Oracle();
  expected = inputs.map((t) => oracle.text(t, { maxNewTokens: MAX_NEW }));
  oracle.dispose();
  s = await startServer({ maxBatch: 32, maxQueue: 256 });
});

afterAll(async () => {
  await s?.close();
});

type Kind = 'completions' | 'completions-stream' | 'generate' | 'generate-stream';
const KINDS: Kind[] = ['completions', 'generate', 'completions', 'generate', 'completions-stream', 'generate-stream'];

/** One request of `kind` for input i: its generated text. */
async function ask(kind: Kind, i: number): Promise<string> {
  const stream = kind.endsWith('-stream');
  const path = kind.startsWith('completions') ? '/v1/completions' : stream ? '/generate_stream' : '/generate';
  const body = kind.startsWith('completions')
    ? { model: 'pt-numbers', prompt: inputs[i], max_tokens: MAX_NEW, temperature: 0, stream }
    : { inputs: inputs[i], parameters: { max_new_tokens: MAX_NEW } };
  const res = await fetch(s.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: status ${res.status}: ${text.slice(0, 200)}`);
  if (!stream) {
    const json = JSON.parse(text);
    return kind === 'completions' ? json.choices[0].text : json.generated_text;
  }
  const events = parseSse(text);
  if (kind === 'completions-stream') {
    if (events.at(-1) !== '[DONE]') throw new Error('the stream did not end with [DONE]');
    return events.slice(0, -1).map((e) => JSON.parse(e).choices[0].text).join('');
  }
  return JSON.parse(events.at(-1)!).generated_text;
}

describe('load', () => {
  it(`${CLIENTS} concurrent clients for ${DURATION_MS / 1000} s: zero errors, every answer the synchronous one`, async () => {
    const start = Date.now();
    let sent = 0;
    const errors: string[] = [];
    const counts: Record<Kind, number> = { completions: 0, 'completions-stream': 0, generate: 0, 'generate-stream': 0 };
    const latencies: number[] = [];
    const client = async (c: number) => {
      for (let k = 0; Date.now() - start < DURATION_MS && sent < MAX_REQUESTS; k++) {
        sent++;
        const i = (c * 37 + k * 11) % inputs.length;
        const kind = KINDS[(c + k) % KINDS.length];
        const t = performance.now();
        try {
          const got = await ask(kind, i);
          if (got !== expected[i]) errors.push(`${kind} input ${i}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected[i])}`);
          counts[kind]++;
          latencies.push(performance.now() - t);
        } catch (error) {
          errors.push(`${kind} input ${i}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    const seconds = (Date.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1);
    console.log(
      `load: ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s) from ${CLIENTS} clients; ` +
        `${JSON.stringify(counts)}; latency ms p50 ${p(0.5)} p99 ${p(0.99)}; errors ${errors.length}`,
    );
    expect(errors.slice(0, 10)).toEqual([]);
    expect(errors).toHaveLength(0);
    expect(seconds).toBeGreaterThanOrEqual(DURATION_MS / 1000);
    expect(Object.values(counts).every((n) => n > 0)).toBe(true);
    expect(s.engine.stats).toMatchObject({ queued: 0, running: 0 });

    const metrics = parseMetrics(await (await fetch(`${s.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text());
    const ok = ['/v1/completions', '/generate', '/generate_stream'].reduce((sum, route) => sum + (metrics.get(`aiayn_requests_total{route="${route}",status="200"}`) ?? 0), 0);
    expect(ok).toBe(sent);
    // Continuous batching did batch: some steps ran many rows.
    expect(metrics.get('aiayn_batch_rows_bucket{le="4"}')!).toBeLessThan(metrics.get('aiayn_batch_rows_count')!);
  });
});
