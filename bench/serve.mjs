// `npm run bench:serve`: the engine under closed-loop load, next to the same
// requests answered one at a time by the synchronous API, in one run.
//
// For each model (the demo model on its held-out texts; the small random model
// of bench:prepare on random source ids) and each concurrency C in 1, 8, 32:
// C clients each send their next request as soon as the previous answer came
// back, until all requests are answered. Reported: generated tokens/s (EOS
// counted), request latency p50/p99, and the main thread's event-loop delay
// p99 (perf_hooks.monitorEventLoopDelay) while the engine served. Then beam
// search (4 beams) against greedy at the same number of rows (4x the inputs),
// both with stopAtEos false so every row runs the same steps: the decoding cost
// of one generated row-token. Writes bench/results/serve.json.
//
// Usage: npm run bench:serve [-- --quick] [--requests N]
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Engine, Transformer, generate, info } from '../dist/index.js';
import { rng } from '../dist/random.js';
import { BatchRunner } from '../dist/generate/batch.js';
import { createSearch } from '../dist/generate/generate.js';
import { resolveGenerationOptions } from '../dist/generate/options.js';
import { CONFIGS, ensureModel, root } from './e2e-setup.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const requestsArg = args.indexOf('--requests');
const REQUESTS = requestsArg >= 0 ? Number(args[requestsArg + 1]) : quick ? 64 : 256;
const CONCURRENCY = [1, 8, 32];
const MAX_BATCH = 32;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const tokensOf = (g) => g.sequences.reduce((n, s) => n + s.ids.length + (s.finishReason === 'stop' ? 1 : 0), 0);

/** The workloads: per model, the request inputs and options. */
function workloads() {
  const demoDir = `${root}models/pt-numbers`;
  const heldout = JSON.parse(readFileSync(`${demoDir}/heldout.json`, 'utf8'));
  const demo = { name: 'demo (pt-numbers)', dir: demoDir, inputs: heldout.slice(0, REQUESTS).map((e) => e.text), options: { maxNewTokens: 8 } };
  const smallDir = ensureModel('small');
  const c = CONFIGS.small.config;
  const next = rng(11);
  const inputs = Array.from({ length: REQUESTS }, () => {
    const n = 16 + Math.floor(next() * 17);
    return Array.from({ length: n }, () => 4 + Math.floor(next() * (c.srcVocab - 4)));
  });
  const small = { name: 'small random (d256, 3+3 layers, V 8000)', dir: smallDir, inputs, options: { maxNewTokens: 32, stopAtEos: false } };
  return [demo, small];
}

/** One request at a time through the synchronous API, on this thread. */
function oneAtATime(w) {
  const model = Transformer.load(w.dir);
  const src = w.inputs.map((x) => (typeof x === 'string' ? model.tokenizer.encode(x, { eos: true }) : x));
  generate(model, [src[0]], w.options); // warm-up
  const latencies = [];
  let tokens = 0;
  const t0 = performance.now();
  for (const s of src) {
    const r0 = performance.now();
    tokens += tokensOf(generate(model, [s], w.options)[0]);
    latencies.push(performance.now() - r0);
  }
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  latencies.sort((a, b) => a - b);
  return { tokensPerSecond: tokens / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), loopP99: null };
}

/** C closed-loop clients over the engine until every input is answered. */
async function underLoad(engine, w, C) {
  await engine.generate(w.inputs[0], w.options); // warm-up
  const latencies = [];
  let tokens = 0;
  let nextIndex = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (nextIndex < w.inputs.length) {
      const input = w.inputs[nextIndex++];
      const r0 = performance.now();
      const answer = await engine.generate(input, w.options); // not `tokens += await ...`: that reads tokens before the await
      tokens += tokensOf(answer);
      latencies.push(performance.now() - r0);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  delay.disable();
  latencies.sort((a, b) => a - b);
  return { tokensPerSecond: tokens / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), loopP99: delay.percentile(99) / 1e6 };
}

/**
 * Beam search over B inputs x 4 beams against greedy over 4B inputs, both
 * 4B rows for maxNewTokens steps: the time of the decoding steps (the search's
 * own work and the row gathers included, the encoder not: greedy encodes 4x the
 * sources) per generated row-token.
 */
function beamCost(w, B) {
  const model = Transformer.load(w.dir);
  const src = w.inputs.slice(0, 4 * B).map((x) => (typeof x === 'string' ? model.tokenizer.encode(x, { eos: true }) : Int32Array.from(x)));
  const maxNewTokens = w.options.maxNewTokens;
  const decodeSeconds = (options, sources) => {
    const o = resolveGenerationOptions({ maxNewTokens, stopAtEos: false, ...options }, model.config);
    const runner = new BatchRunner(model);
    runner.add(sources.map((s) => createSearch(s, o, model.config)));
    const t0 = performance.now();
    while (runner.size > 0) runner.step();
    return (performance.now() - t0) / 1000;
  };
  const median = (f) => {
    f();
    const runs = Array.from({ length: quick ? 3 : 7 }, f).sort((a, b) => a - b);
    return runs[runs.length >> 1];
  };
  const rowTokens = 4 * B * maxNewTokens;
  const greedy = median(() => decodeSeconds({}, src)) / rowTokens;
  const beam = median(() => decodeSeconds({ numBeams: 4 }, src.slice(0, B))) / rowTokens;
  model.dispose();
  return { rows: 4 * B, greedyUsPerToken: greedy * 1e6, beamUsPerToken: beam * 1e6, ratio: beam / greedy };
}

async function main() {
  const about = info();
  console.log(`aiayn ${about.version}, ISA ${about.isa}, ${about.threads} kernel thread(s), ${REQUESTS} requests per run, maxBatch ${MAX_BATCH}\n`);
  const results = { date: new Date().toISOString(), isa: about.isa, threads: about.threads, requests: REQUESTS, models: [] };
  for (const w of workloads()) {
    const base = oneAtATime(w);
    const rows = [{ mode: 'one at a time (sync API)', ...base }];
    const engine = await Engine.load(w.dir, { maxBatch: MAX_BATCH, maxQueue: REQUESTS });
    for (const C of CONCURRENCY) rows.push({ mode: `engine, concurrency ${C}`, concurrency: C, ...(await underLoad(engine, w, C)) });
    await engine.close();
    const beam = beamCost(w, 8);
    results.models.push({ model: w.name, rows, beam });
    console.log(`### ${w.name}\n`);
    console.log('| mode | tokens/s | vs one at a time | latency p50 (ms) | p99 (ms) | event-loop delay p99 (ms) |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const loop = r.loopP99 === null ? 'blocked (sync)' : r.loopP99.toFixed(2);
      console.log(`| ${r.mode} | ${r.tokensPerSecond.toFixed(0)} | ${(r.tokensPerSecond / base.tokensPerSecond).toFixed(2)}x | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${loop} |`);
    }
    console.log(`\nbeam search (4 beams) over ${beam.rows / 4} inputs vs greedy over ${beam.rows}, ${beam.rows} rows, ${w.options.maxNewTokens} steps: ` +
      `${beam.beamUsPerToken.toFixed(1)} vs ${beam.greedyUsPerToken.toFixed(1)} us per generated row-token = ${beam.ratio.toFixed(2)}x\n`);
  }
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  const file = new URL(quick ? 'results/serve-quick.json' : 'results/serve.json', import.meta.url);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${file.pathname}`);
}

await main();
