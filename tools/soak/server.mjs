// Server soak (issue #11): `aiayn serve` in a child process on 127.0.0.1 (an
// ephemeral port) under mixed traffic from concurrent client loops for
// --seconds (or --minutes): valid requests (OpenAI /v1/completions, TGI
// /generate and /generate_stream; streamed or not; greedy, beams, seeded
// sampling) checked against generate() on the same model, streams cancelled
// mid-way, malformed JSON, wrong types, oversized bodies (declared and
// chunked), slow clients (trickled body, trickled headers, slow reader), and
// requests over the engine's KV-cache budget (--max-kv-bytes; 400/422 naming
// the KV cache; left out, and said so, when the server has no such option).
// Every answer's status is asserted per traffic type. The server's RSS
// (/proc/PID/status, its worker thread included) is sampled throughout.
// A preloaded probe (gc-probe.mjs) collects the main thread's garbage before
// each sample and reports its heap and external memory.
// Verdict: the server never exits, /health answers ok at the end, the engine
// holds no request then, zero wrong answers, zero unexpected statuses, zero
// client timeouts; after the warm-up (the first fifth, at least 30 s): RSS's
// high-water mark over the second half at most --rss-slack (5 %) or 8 MiB,
// whichever is larger, above that of the first half (RSS swings by tens of
// MiB as the heaps are collected and malloc keeps freed pages: a leak raises
// the high-water mark, a swing does not), and the collected heap and external
// memory grow at most 1 MiB each (the medians of the samples around the end of
// the warm-up and at the end). Exit code 1 otherwise.
// Writes bench/results/soak-server.json (soak-server-long.json for runs over 10 minutes).
//
//   node tools/soak/server.mjs [--seconds 60 | --minutes 30] [--clients 6] [--model models/pt-numbers]
import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { Transformer, generate } from '../../dist/index.js';
import { MiB, loadAverage, median, mib, parseFlags, percentile, rssOf, sourceTexts, table, verdict, writeResults } from './report.mjs';

const flags = parseFlags(process.argv.slice(2), {
  seconds: 60,
  minutes: 0,
  clients: 6,
  model: 'models/pt-numbers',
  maxBodyBytes: 65536,
  rssSlack: 0.05,
  sampleSeconds: 2,
});
const seconds = flags.minutes > 0 ? flags.minutes * 60 : flags.seconds;
const MAX_TOKENS = 24;
const TIMEOUT_MS = 30_000;
const MIN_SLACK = 8 * MiB;
const HEAP_SLACK = MiB;
const hasKvBudget = execFileSync(process.execPath, ['dist/cli/bin.js', 'serve', '--help'], { encoding: 'utf8' }).includes('--max-kv-bytes');

// ---------------------------------------------------------------- the oracle

const texts = sourceTexts(flags.model, 16);
// num_beams explicit: a snapshot's generation defaults may ask for beams.
const MODES = {
  greedy: { openai: { temperature: 0, num_beams: 1 }, tgi: { num_beams: 1 }, lib: { numBeams: 1 } },
  beam4: { openai: { num_beams: 4 }, tgi: { num_beams: 4 }, lib: { numBeams: 4 } },
  sampled: {
    openai: { temperature: 0.8, seed: 7, num_beams: 1 },
    tgi: { do_sample: true, temperature: 0.8, seed: 7, num_beams: 1 },
    lib: { doSample: true, temperature: 0.8, seed: 7, numBeams: 1 },
  },
};
let overTokens; // what an over-budget request asks: 32 beams of this many tokens
let KV_BUDGET; // the server's --max-kv-bytes: 3/4 of such a request's self-attention cache alone; a beam4 request fits
const expected = (() => {
  const model = Transformer.load(flags.model);
  const c = model.config;
  overTokens = Math.min(80, c.maxPositions);
  KV_BUDGET = 24 * overTokens * (4 * c.decoderLayers * 2 * c.heads * c.headDim); // rows × positions × bytes per row-position
  const out = {};
  // Each text alone, as each request asks (sampling: a source alone draws from the seed itself).
  for (const [mode, m] of Object.entries(MODES)) out[mode] = texts.map((t) => generate(model, [t], { maxNewTokens: MAX_TOKENS, ...m.lib })[0].sequences[0].text);
  model.dispose();
  return out;
})();

// ---------------------------------------------------------------- the server

function startServer() {
  const node = ['--expose-gc', '--import', './tools/soak/gc-probe.mjs'];
  const child = spawn(process.execPath, [...node, 'dist/cli/bin.js', 'serve', '--model', flags.model, '--host', '127.0.0.1', '--port', '0', '--max-body-bytes', String(flags.maxBodyBytes), ...(hasKvBudget ? ['--max-kv-bytes', String(KV_BUDGET)] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  const memory = [];
  let line = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    const lines = (line + s).split('\n');
    line = lines.pop();
    for (const l of lines) if (l.startsWith('soak-memory ')) memory.push(JSON.parse(l.slice('soak-memory '.length)));
  });
  let exit;
  child.on('exit', (code, signal) => (exit = { code, signal }));
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 60 s')), 60_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      log.push(s);
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join(''));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => reject(new Error(`the server exited: ${log.join('')}`)));
  });
  return { child, port, log, memory, exited: () => exit };
}

// ---------------------------------------------------------------- clients

/**
 * One HTTP exchange on its own connection. `body` is sent whole, or in
 * `pieces` with `pauseMs` between them; `declaredLength` overrides
 * Content-Length and `keepOpen` leaves the body unfinished (the server must
 * answer first). `onChunk` sees each response chunk and may return 'abort'.
 */
function exchange(port, { path, headers = {}, body = '', pieces = 1, pauseMs = 0, declaredLength, keepOpen = false, readPauseMs = 0, onChunk }) {
  return new Promise((resolve) => {
    const data = Buffer.from(body);
    const h = { 'content-type': 'application/json', ...headers };
    if (declaredLength !== undefined) h['content-length'] = declaredLength;
    else if (pieces === 1 && !keepOpen) h['content-length'] = data.length;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: h, agent: false });
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ status: 0, timeout: true }), TIMEOUT_MS);
    req.on('error', (error) => done({ status: 0, error: error.message }));
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => {
        chunks.push(chunk);
        if (onChunk?.(chunks.length) === 'abort') return done({ status: res.statusCode, aborted: true });
        if (readPauseMs > 0) {
          res.pause();
          setTimeout(() => res.resume(), readPauseMs);
        }
      });
      res.on('end', () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => done({ status: res.statusCode, error: error.message }));
    });
    (async () => {
      const size = Math.ceil(data.length / pieces);
      for (let i = 0; i < pieces && !settled; i++) {
        req.write(data.subarray(i * size, (i + 1) * size));
        if (pauseMs > 0 && i < pieces - 1) await new Promise((r) => setTimeout(r, pauseMs));
      }
      if (!keepOpen && !settled) req.end();
    })();
  });
}

/** A request written byte by byte in `pieces` over the socket (slow headers), answered with Connection: close. */
function trickledRaw(port, path, body, pieces, pauseMs) {
  return new Promise((resolve) => {
    const raw = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    const socket = connect(port, '127.0.0.1');
    const chunks = [];
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ status: 0, timeout: true }), TIMEOUT_MS);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (error) => done({ status: 0, error: error.message }));
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
      done({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('connect', async () => {
      const size = Math.ceil(raw.length / pieces);
      for (let i = 0; i < pieces && !settled; i++) {
        socket.write(raw.subarray(i * size, (i + 1) * size));
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
  });
}

const sseData = (body) => body.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));

/** The generated text in a response body, by route. */
const answer = {
  openai: (body) => JSON.parse(body).choices[0].text,
  openaiStream: (body) => {
    const events = sseData(body);
    if (events.at(-1) !== '[DONE]') throw new Error('the stream does not end with [DONE]');
    return events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.text ?? '').join('');
  },
  tgi: (body) => JSON.parse(body).generated_text,
  tgiStream: (body) => JSON.parse(sseData(body).at(-1)).generated_text,
};

const pick = (rng, list) => list[Math.floor(rng() * list.length)];

/** A valid request of `route` in `mode` for text i, and how to read its answer. */
function valid(route, mode, i, stream) {
  const prompt = texts[i];
  if (route === 'openai') {
    return { path: '/v1/completions', body: JSON.stringify({ prompt, max_tokens: MAX_TOKENS, stream, ...MODES[mode].openai }), read: stream ? answer.openaiStream : answer.openai };
  }
  return { path: stream ? '/generate_stream' : '/generate', body: JSON.stringify({ inputs: prompt, parameters: { max_new_tokens: MAX_TOKENS, ...MODES[mode].tgi } }), read: stream ? answer.tgiStream : answer.tgi };
}

/**
 * The traffic types: each makes one request and returns { status, ok, wrong? }
 * where ok says the status was the expected one (and a valid answer right).
 */
const TRAFFIC = {
  async valid(port, rng) {
    const route = pick(rng, ['openai', 'tgi']);
    const stream = rng() < 0.5;
    const mode = stream ? pick(rng, ['greedy', 'sampled']) : pick(rng, ['greedy', 'beam4', 'sampled']);
    const i = Math.floor(rng() * texts.length);
    const r = valid(route, mode, i, stream);
    const start = performance.now();
    const res = await exchange(port, r);
    return checkAnswer(res, r, mode, i, performance.now() - start, `${route}${stream ? ' stream' : ''} ${mode}`);
  },
  async cancelledStream(port, rng) {
    const r = valid(pick(rng, ['openai', 'tgi']), 'greedy', Math.floor(rng() * texts.length), true);
    const after = 1 + Math.floor(rng() * 3);
    const res = await exchange(port, { ...r, onChunk: (n) => (n >= after ? 'abort' : undefined) });
    return { status: res.status, ok: res.status === 200 && !res.timeout };
  },
  async malformedJson(port, rng) {
    const [path, status] = pick(rng, [['/v1/completions', 400], ['/generate', 422], ['/generate_stream', 422]]);
    const body = pick(rng, ['{"prompt": "um"', '{inputs: "um"}', 'null,', '{"inputs": "um", }', '\u0000\u00ff', '']);
    const res = await exchange(port, { path, body });
    return { status: res.status, ok: res.status === status };
  },
  async wrongTypes(port, rng) {
    const [path, body, status] = pick(rng, [
      ['/v1/completions', { prompt: 42 }, 400],
      ['/v1/completions', { prompt: 'um', max_tokens: 'ten' }, 400],
      ['/v1/completions', { prompt: 'um', n: -1 }, 400],
      ['/v1/completions', [1, 2, 3], 400],
      ['/generate', { inputs: 5 }, 422],
      ['/generate', { inputs: 'um', parameters: { max_new_tokens: 'ten' } }, 422],
      ['/generate_stream', { inputs: 'um', parameters: [] }, 422],
      ['/generate', { inputs: 'um', parameters: { num_beams: 1e9 } }, 422],
    ]);
    const res = await exchange(port, { path, body: JSON.stringify(body) });
    return { status: res.status, ok: res.status === status };
  },
  async oversizedDeclared(port, rng) {
    const path = pick(rng, ['/v1/completions', '/generate']);
    const res = await exchange(port, { path, body: '{"prompt": "', declaredLength: flags.maxBodyBytes + 1 + Math.floor(rng() * MiB), keepOpen: true });
    return { status: res.status, ok: res.status === 413 };
  },
  async oversizedChunked(port, rng) {
    const path = pick(rng, ['/v1/completions', '/generate_stream']);
    const body = `{"inputs": "${'x'.repeat(flags.maxBodyBytes + 1024)}"}`;
    const res = await exchange(port, { path, body, pieces: 8, keepOpen: rng() < 0.5 });
    return { status: res.status, ok: res.status === 413 };
  },
  async slowBody(port, rng) {
    const i = Math.floor(rng() * texts.length);
    const r = valid(pick(rng, ['openai', 'tgi']), 'greedy', i, false);
    const start = performance.now();
    const res = await exchange(port, { ...r, pieces: 6, pauseMs: 150 });
    return checkAnswer(res, r, 'greedy', i, performance.now() - start);
  },
  async slowHeaders(port, rng) {
    const i = Math.floor(rng() * texts.length);
    const r = valid(pick(rng, ['openai', 'tgi']), 'greedy', i, false);
    const start = performance.now();
    const res = await trickledRaw(port, r.path, r.body, 12, 100);
    return checkAnswer(res, r, 'greedy', i, performance.now() - start);
  },
  async slowReader(port, rng) {
    const i = Math.floor(rng() * texts.length);
    const r = valid(pick(rng, ['openai', 'tgi']), 'greedy', i, true);
    const start = performance.now();
    const res = await exchange(port, { ...r, readPauseMs: 100 });
    return checkAnswer(res, r, 'greedy', i, performance.now() - start);
  },
  async overBudget(port, rng) {
    const prompt = texts[Math.floor(rng() * texts.length)];
    const [path, body, status] = pick(rng, [
      ['/v1/completions', { prompt, num_beams: 32, max_tokens: overTokens }, 400],
      ['/generate', { inputs: prompt, parameters: { num_beams: 32, max_new_tokens: overTokens } }, 422],
      ['/generate_stream', { inputs: prompt, parameters: { num_beams: 32, max_new_tokens: overTokens } }, 422],
    ]);
    const res = await exchange(port, { path, body: JSON.stringify(body) });
    return { status: res.status, ok: res.status === status && /KV cache/.test(res.body ?? ''), detail: res.body?.slice(0, 300) };
  },
};
if (!hasKvBudget) delete TRAFFIC.overBudget;
const WEIGHTS = { valid: 10, cancelledStream: 2, malformedJson: 2, wrongTypes: 2, oversizedDeclared: 1, oversizedChunked: 1, slowBody: 1, slowHeaders: 1, slowReader: 1, ...(hasKvBudget && { overBudget: 1 }) };
const schedule = Object.entries(WEIGHTS).flatMap(([type, w]) => Array(w).fill(type));

function checkAnswer(res, r, mode, i, ms, kind) {
  if (res.status !== 200) return { status: res.status, ok: false, detail: res.error ?? res.body?.slice(0, 200) };
  let text;
  try {
    text = r.read(res.body);
  } catch (error) {
    return { status: 200, ok: false, wrong: true, detail: `unreadable answer: ${error.message}` };
  }
  const want = expected[mode][i];
  if (text !== want) return { status: 200, ok: false, wrong: true, detail: `${kind ?? mode} "${texts[i]}": got ${JSON.stringify(text)}, want ${JSON.stringify(want)}` };
  return { status: 200, ok: true, ms, kind };
}

/** A small seeded generator (mulberry32): each client's traffic mix is reproducible. */
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- the run

const server = startServer();
const port = await server.port;
const pid = server.child.pid;
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const samples = [];
/** The server's memory after a full collection of its main thread (gc-probe.mjs answers SIGUSR2), and its RSS. */
async function sample() {
  if (server.exited() !== undefined) return;
  const n = server.memory.length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && server.memory.length === n; i++) await new Promise((r) => setTimeout(r, 20));
  const m = server.memory.at(-1);
  if (server.memory.length > n) samples.push({ s: elapsed(), rss: rssOf(pid), heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
}
await sample();
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    await new Promise((r) => setTimeout(r, flags.sampleSeconds * 1000));
    if (sampling) await sample();
  }
})();

const stats = new Map(Object.keys(TRAFFIC).map((t) => [t, { n: 0, ok: 0, statuses: {}, ms: [], wrong: 0, timeouts: 0 }]));
const failures = [];
const deadline = t0 + seconds * 1000;
const maxPerClient = Math.ceil(seconds * 200); // a bound on each loop's count besides its time

async function client(c) {
  const rng = mulberry32(1000 + c);
  for (let k = 0; k < maxPerClient && performance.now() < deadline && server.exited() === undefined; k++) {
    const type = pick(rng, schedule);
    const r = await TRAFFIC[type](port, rng);
    const s = stats.get(type);
    s.n++;
    s.statuses[r.status] = (s.statuses[r.status] ?? 0) + 1;
    if (r.ok) s.ok++;
    if (r.wrong) s.wrong++;
    if (r.ms !== undefined) s.ms.push(r.ms);
    if (r.status === 0 && !r.aborted) s.timeouts++;
    if (!r.ok && failures.length < 20) failures.push({ type, at: elapsed().toFixed(1), ...r });
  }
}

if (!hasKvBudget) console.log('soak:server: this server has no --max-kv-bytes: no over-budget traffic');
console.log(`soak:server: ${flags.clients} clients for ${seconds} s on ${flags.model} (server pid ${pid}, port ${port}; load average ${loadAverage().join(' ')})`);
const progress = setInterval(() => {
  const n = [...stats.values()].reduce((a, s) => a + s.n, 0);
  console.log(`  ${elapsed().toFixed(0)} s: ${n} requests, server RSS ${mib(samples.at(-1).rss)} MiB, load ${loadAverage()[0]}`);
}, Math.max(10, seconds / 12) * 1000);
await Promise.all(Array.from({ length: flags.clients }, (_, c) => client(c)));
clearInterval(progress);
sampling = false;
await sampler;
await sample();

// ---------------------------------------------------------------- the end state

async function getJson(path) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}
let health = { status: 0 };
let engineIdle = false;
if (server.exited() === undefined) {
  health = await getJson('/health');
  // Cancelled requests free their rows within a step: wait up to 5 s for the engine to hold nothing.
  for (let i = 0; i < 50 && !engineIdle; i++) {
    const m = (await getJson('/metrics')).text;
    engineIdle = /^aiayn_running_requests 0$/m.test(m) && /^aiayn_queue_depth 0$/m.test(m);
    if (!engineIdle) await new Promise((r) => setTimeout(r, 100));
  }
}
const crashed = server.exited();
server.child.kill('SIGTERM');
const stopped = await new Promise((resolve) => {
  if (server.exited()) return resolve(server.exited());
  const timer = setTimeout(() => {
    server.child.kill('SIGKILL');
    resolve({ code: null, signal: 'timeout' });
  }, 30_000);
  server.child.on('exit', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal });
  });
});

// Memory: the median of the samples around the end of the warm-up against that of the last ones.
const warm = Math.min(seconds / 2, Math.max(seconds / 5, 30));
const around = (key, from, to) => median(samples.filter((s) => s.s >= from && s.s <= to).map((s) => s[key]));
const atWarm = (key) => around(key, warm - 2 * flags.sampleSeconds, warm + 2 * flags.sampleSeconds);
const atEnd = (key) => around(key, seconds - 4 * flags.sampleSeconds, Infinity);
const [rssWarm, rssEnd] = [atWarm('rss'), atEnd('rss')];
const mid = (warm + seconds) / 2;
const highWater = (from, to) => Math.max(...samples.filter((s) => s.s >= from && s.s < to).map((s) => s.rss));
const [rssHigh1, rssHigh2] = [highWater(warm, mid), highWater(mid, Infinity)];
const [heapWarm, heapEnd] = [atWarm('heapUsed'), atEnd('heapUsed')];
const [extWarm, extEnd] = [atWarm('external'), atEnd('external')];
const allowed = Math.max(rssHigh1 * flags.rssSlack, MIN_SLACK);

const rows = [['traffic', 'requests', 'expected status', 'statuses', 'wrong', 'timeouts', 'p50 ms', 'p99 ms']];
const EXPECT = { valid: '200 + answer', cancelledStream: '200, cut', malformedJson: '400/422', wrongTypes: '400/422', oversizedDeclared: '413', oversizedChunked: '413', slowBody: '200 + answer', slowHeaders: '200 + answer', slowReader: '200 + answer', overBudget: '400/422 KV' };
for (const [type, s] of stats) {
  const statuses = Object.entries(s.statuses).map(([k, v]) => `${k}:${v}`).join(' ');
  rows.push([type, s.n, EXPECT[type], statuses, s.wrong, s.timeouts, s.ms.length ? percentile(s.ms, 50).toFixed(1) : '-', s.ms.length ? percentile(s.ms, 99).toFixed(1) : '-']);
}
const total = [...stats.values()].reduce((a, s) => ({ n: a.n + s.n, ok: a.ok + s.ok, wrong: a.wrong + s.wrong, timeouts: a.timeouts + s.timeouts }), { n: 0, ok: 0, wrong: 0, timeouts: 0 });
console.log('\n' + table(rows));
console.log(`\nrequests ${total.n} (${(total.n / seconds).toFixed(1)}/s), as expected ${total.ok}, wrong answers ${total.wrong}, timeouts ${total.timeouts}`);
console.log(`server RSS: start ${mib(samples[0].rss)} MiB, end of warm-up (${warm.toFixed(0)} s) ${mib(rssWarm)} MiB, end ${mib(rssEnd)} MiB; high-water mark ${warm.toFixed(0)}-${mid.toFixed(0)} s ${mib(rssHigh1)} MiB, ${mid.toFixed(0)}-${seconds} s ${mib(rssHigh2)} MiB: ${mib(rssHigh2 - rssHigh1)} MiB higher (allowed ${mib(allowed)} MiB)`);
console.log(`server main thread after GC: heap ${mib(heapWarm)} -> ${mib(heapEnd)} MiB, external ${mib(extWarm)} -> ${mib(extEnd)} MiB (allowed growth ${mib(HEAP_SLACK)} MiB each)`);

const problems = [];
if (crashed) problems.push(`the server exited during the soak: ${JSON.stringify(crashed)}\n${server.log.join('')}`);
if (health.status !== 200 || !health.text.includes('"ok"')) problems.push(`/health at the end: ${health.status} ${health.text}`);
if (!crashed && !engineIdle) problems.push('the engine still held requests 5 s after the traffic stopped');
if (total.ok !== total.n) problems.push(`${total.n - total.ok} requests not as expected (${total.wrong} wrong answers, ${total.timeouts} timeouts)`);
if (rssHigh2 - rssHigh1 > allowed) problems.push(`server RSS's high-water mark rose ${mib(rssHigh2 - rssHigh1)} MiB from the first half after the warm-up to the second (allowed ${mib(allowed)} MiB)`);
if (heapEnd - heapWarm > HEAP_SLACK) problems.push(`the server's collected heap grew ${mib(heapEnd - heapWarm)} MiB after the warm-up`);
if (extEnd - extWarm > HEAP_SLACK) problems.push(`the server's external memory grew ${mib(extEnd - extWarm)} MiB after the warm-up`);
if (stopped.code !== 0) problems.push(`the server did not stop cleanly on SIGTERM: ${JSON.stringify(stopped)}`);
const internal = server.log.join('').split('\n').filter((l) => /internal error|unexpected failure/.test(l));
if (internal.length > 0) problems.push(`the server logged ${internal.length} internal errors, e.g. ${internal[0]}`);
for (const f of failures) console.log(`  failure: ${JSON.stringify(f)}`);

const file = writeResults(seconds > 600 ? 'soak-server-long.json' : 'soak-server.json', {
  date: new Date().toISOString(),
  command: `node tools/soak/server.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  model: flags.model,
  seconds,
  clients: flags.clients,
  maxBodyBytes: flags.maxBodyBytes,
  maxKvBytes: hasKvBudget ? KV_BUDGET : null,
  loadAverageAtEnd: loadAverage(),
  traffic: Object.fromEntries([...stats].map(([type, s]) => [type, { requests: s.n, asExpected: s.ok, statuses: s.statuses, wrong: s.wrong, timeouts: s.timeouts, p50ms: percentile(s.ms, 50) || null, p99ms: percentile(s.ms, 99) || null }])),
  totals: total,
  rss: { startMiB: samples[0].rss / MiB, warmMiB: rssWarm / MiB, endMiB: rssEnd / MiB, highWaterFirstHalfMiB: rssHigh1 / MiB, highWaterSecondHalfMiB: rssHigh2 / MiB, allowedRiseMiB: allowed / MiB },
  heapAfterGc: { warmMiB: heapWarm / MiB, endMiB: heapEnd / MiB, externalWarmMiB: extWarm / MiB, externalEndMiB: extEnd / MiB, allowedGrowthMiB: HEAP_SLACK / MiB },
  warmUpSeconds: warm,
  samples: { columns: ['s', 'rssMiB', 'heapUsedMiB', 'externalMiB', 'arrayBuffersMiB'], rows: samples.map((s) => [s.s, s.rss, s.heapUsed, s.external, s.arrayBuffers].map((v, i) => Number((i === 0 ? v : v / MiB).toFixed(2)))) },
  health: health.status,
  engineIdleAtEnd: engineIdle,
  exit: stopped,
  failures,
  pass: problems.length === 0,
});
verdict(file, problems);
