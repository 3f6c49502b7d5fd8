// End-to-end benchmark: tokens/s of the encoder and of greedy generation for
// two random models (bench/e2e-setup.mjs), aiayn native (and, on the small
// model, the pure-TypeScript reference) next to onnxruntime-node on ONNX exports
// of the same weights and PyTorch eager, 1 and 2 threads, medians of several
// runs. Every engine runs in a child process of its own, so thread pools and
// memory do not mix. Peers come from `npm run bench:prepare`; those missing are
// named and left out. Prints a table and writes bench/results/e2e.json
// (e2e-quick.json with --quick).
// Usage: npm run bench:e2e [-- --quick] [--config small|base] [--threads 1,2]
//   [--rounds N]: run every engine N times, interleaved; each cell keeps its best median
//   [--max-wait S]: before each engine, wait up to S seconds for a quiet machine (default 120, 0 with --quick)
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Transformer, generate, info, setThreads } from '../dist/index.js';
import {
  CONFIGS, ONNX_FILES, PYTHON, ensureModel, onnxDir, onnxProblem, openblasDir, ortDir, peersDir, root,
  torchEnv, torchProblem,
} from './e2e-setup.mjs';
import { cpuTicks, othersCores, waitForQuiet } from './machine.mjs';

const WORKLOADS = [
  { name: 'encoder 1x128', kind: 'encoder', B: 1, S: 128 },
  { name: 'encoder 16x64', kind: 'encoder', B: 16, S: 64 },
  { name: 'greedy 1x32 +32', kind: 'greedy', B: 1, S: 32, newTokens: 32 },
  { name: 'greedy 16x32 +32', kind: 'greedy', B: 16, S: 32, newTokens: 32 },
];
// Tokens/s goals, 1 thread; `ort`: at least this multiple of ORT (cached for greedy);
// `reference`: of the reference; 2 threads: encoder workloads at least 1.8x their 1-thread figure.
const GOALS = {
  base: {
    'encoder 16x64': { tps: 5400, ort: 1.1 },
    'greedy 1x32 +32': { tps: 200, ort: 1 },
    'greedy 16x32 +32': { tps: 1500 },
  },
  small: {
    'encoder 1x128': { tps: 42000, reference: 100 },
    'encoder 16x64': { reference: 100 },
    'greedy 1x32 +32': { tps: 3000 },
    'greedy 16x32 +32': { tps: 12000 },
  },
};
const SCALING_GOAL = 1.8;
const CHECK = { B: 4, S: 32, newTokens: 32 }; // greedy ids every engine must agree on
const RSS_WORKLOAD = WORKLOADS[3];

/** Source rows of non-special ids from a fixed LCG: the same for every engine. */
function sources(config, B, S, seed) {
  const special = new Set([config.padId, config.bosId, config.eosId, config.unkId]);
  const pool = Array.from({ length: config.srcVocab }, (_, i) => i).filter((i) => !special.has(i));
  let s = seed >>> 0;
  return Array.from({ length: B }, () =>
    Array.from({ length: S }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return pool[s % pool.length];
    }),
  );
}

/** [median seconds, runs]: one warm-up, then runs until minRuns and (maxRuns or the budget in seconds). */
async function median(fn, { budget, minRuns, maxRuns, warmup = true }) {
  if (warmup) await fn();
  const times = [];
  const start = performance.now();
  while (times.length < minRuns || (times.length < maxRuns && performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)], times.length];
}

const log = (line) => process.stderr.write(`  ${line}\n`);
const fmtRuns = (row) => Object.entries(row).filter(([, v]) => Array.isArray(v)).map(([k, [s, n]]) => `${k} ${(s * 1e3).toFixed(1)} ms (${n} runs)`).join(', ');

// --- children: one engine each, JSON on the last stdout line ---------------------------------

async function aiaynChild(job) {
  const model = Transformer.load(job.model);
  const gen = (m, w) => generate(m, w.src, { maxNewTokens: w.newTokens, stopAtEos: false });
  setThreads(1);
  const ids = gen(model, job.check).map((g) => g.sequences[0].ids);
  // The last step's logits, teacher-forced on the greedy ids (decode has no cache: an independent path).
  const { bosId } = model.config;
  const logits = model.decode(ids.map((row) => [bosId, ...row.slice(0, -1)]), model.encode(job.check.src));
  const [B, T, V] = logits.shape;
  const check = { ids, logits: Array.from({ length: B }, (_, b) => Array.from(logits.data.subarray((b * T + T - 1) * V, (b * T + T) * V))) };
  const results = [];
  for (const threads of job.threads) {
    setThreads(threads);
    for (const w of job.workloads) {
      const row = { workload: w.name, threads };
      row.native = await median(w.kind === 'encoder' ? () => model.encode(w.src) : () => gen(model, w), job.runs);
      results.push(row);
      log(`aiayn ${threads}t ${w.name}: ${fmtRuns(row)}`);
    }
  }
  model.dispose();
  if (job.reference.length > 0) {
    const ref = Transformer.load(job.model, { backend: 'reference' });
    for (const w of job.workloads.filter((x) => job.reference.includes(x.name))) {
      const [seconds, runs] = await median(w.kind === 'encoder' ? () => ref.encode(w.src) : () => gen(ref, w), job.referenceRuns);
      const row = results.find((r) => r.workload === w.name && r.threads === 1) ?? results[results.push({ workload: w.name, threads: 1 }) - 1];
      row.reference = [seconds, runs];
      log(`aiayn reference ${w.name}: ${(seconds * 1e3).toFixed(1)} ms (${runs} runs)`);
    }
  }
  const about = info();
  return { setup: `aiayn ${about.version}, ISA ${about.isa}`, results, check };
}

function argmax(logits, B) {
  const V = logits.dims[1];
  const ids = new BigInt64Array(B);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits.data[b * V + v] > logits.data[b * V + best]) best = v;
    ids[b] = BigInt(best);
  }
  return ids;
}

async function ortChild(job) {
  const ort = createRequire(`${peersDir}package.json`)('onnxruntime-node');
  const { decoderLayers: L, bosId } = JSON.parse(readFileSync(`${job.model}/config.json`, 'utf8'));
  const ids = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length]);
  const kv = (out, from, to, kind) =>
    Object.fromEntries(Array.from({ length: L }, (_, i) => ['key', 'value'].map((t) => [`${to}.${i}.${kind}.${t}`, out[`${from}.${i}.${kind}.${t}`]])).flat());
  const toRows = (steps, B) => Array.from({ length: B }, (_, b) => steps.map((s) => Number(s[b])));

  // transformers.js's way: the decoder once on BOS (no past) gives the caches, then one step at a time with past.
  async function cached(s, w) {
    const B = w.src.length;
    const { memory } = await s.encoder.run({ src_ids: ids(w.src) });
    let out = await s.decoder.run({ tgt_ids: ids(Array.from({ length: B }, () => [bosId])), memory });
    const cross = kv(out, 'present', 'past', 'cross');
    const steps = [argmax(out.logits, B)];
    for (let t = 1; t < w.newTokens; t++) {
      const tgt = new ort.Tensor('int64', steps[t - 1], [B, 1]);
      out = await s.withPast.run({ tgt_ids: tgt, ...kv(out, 'present', 'past', 'self'), ...cross });
      steps.push(argmax(out.logits, B));
    }
    return { ids: toRows(steps, B), logits: out.logits };
  }

  async function noCache(s, w) {
    const B = w.src.length;
    const { memory } = await s.encoder.run({ src_ids: ids(w.src) });
    const rows = Array.from({ length: B }, () => [bosId]);
    let logits;
    for (let t = 0; t < w.newTokens; t++) {
      ({ logits } = await s.decoder.run({ tgt_ids: ids(rows), memory }, ['logits']));
      argmax(logits, B).forEach((id, b) => rows[b].push(Number(id)));
    }
    return { ids: rows.map((r) => r.slice(1)), logits };
  }

  const results = [];
  let check;
  for (const threads of job.threads) {
    // No spinning: between the short decoder steps spinning workers of three sessions took the 2 cores
    // from each other (2-thread greedy 1x32 small: ~105 ms spinning, ~60 ms not; the encoder the same).
    const options = {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
      extra: { session: { 'intra_op.allow_spinning': '0' } },
    };
    const [encoder, decoder, withPast] = await Promise.all(ONNX_FILES.map((f) => ort.InferenceSession.create(`${job.onnx}/${f}`, options)));
    const s = { encoder, decoder, withPast };
    // Logits as rows, for the check's JSON.
    const plain = ({ ids, logits }) => ({ ids, logits: Array.from({ length: ids.length }, (_, b) => Array.from(logits.data.subarray(b * logits.dims[1], (b + 1) * logits.dims[1]))) });
    check ??= { cached: plain(await cached(s, job.check)), noCache: plain(await noCache(s, job.check)) };
    for (const w of job.workloads) {
      const row = { workload: w.name, threads };
      if (w.kind === 'encoder') {
        const feeds = { src_ids: ids(w.src) };
        row.encoder = await median(() => encoder.run(feeds), job.runs);
      } else {
        row.cached = await median(() => cached(s, w), job.runs);
        row.noCache = await median(() => noCache(s, w), job.runs);
      }
      results.push(row);
      log(`ort ${threads}t ${w.name}: ${fmtRuns(row)}`);
    }
    await Promise.all([encoder, decoder, withPast].map((x) => x.release()));
  }
  const { version } = JSON.parse(readFileSync(`${ortDir}/package.json`, 'utf8'));
  return { setup: `onnxruntime-node ${version} (CPU, graphOptimizationLevel all, interOp 1, no spinning)`, results, check };
}

/** Peak RSS of a process that loads the model and generates, against the fp32 weights + KV cache it needs. */
function rssChild(job) {
  info(); // the addon, before any model
  const baseline = process.resourceUsage().maxRSS * 1024;
  const model = Transformer.load(job.model);
  const w = job.rss;
  generate(model, w.src, { maxNewTokens: w.newTokens, stopAtEos: false });
  const peak = process.resourceUsage().maxRSS * 1024;
  const c = model.config;
  model.dispose();
  const file = readFileSync(`${job.model}/model.safetensors`);
  const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString('utf8'));
  const weightBytes = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .reduce((sum, [, e]) => sum + (e.data_offsets[1] - e.data_offsets[0]), 0);
  // Per decoder layer: self-attention K and V for every new token, cross-attention K and V for the source.
  const kvBytes = c.decoderLayers * w.B * 2 * (w.newTokens + w.S) * c.dModel * 4;
  return { workload: w.name, baseline, peak, weightBytes, kvBytes, ratio: peak / (weightBytes + kvBytes), ratioAboveBaseline: (peak - baseline) / (weightBytes + kvBytes) };
}

// --- the parent --------------------------------------------------------------------------

function runChild(command, args, env = process.env) {
  const r = spawnSync(command, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const last = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !last) throw new Error(`${command} ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  return JSON.parse(last);
}

/** A fast BLAS for torch: OpenBLAS from bench:prepare, or the system's libblas when it is an optimised one. */
function torchBlasProblem() {
  if (existsSync(`${openblasDir}/libblas.so.3`)) return null;
  let system = '';
  try {
    system = realpathSync('/usr/lib/x86_64-linux-gnu/libblas.so.3');
  } catch {} // no system BLAS: torch brings none that is fast
  if (/openblas|blis|mkl/.test(system)) return null;
  return 'PyTorch would run on the reference BLAS (run npm run bench:prepare to unpack OpenBLAS)';
}

/** Greedy ids equal, and the last step's logits: max |difference| relative to max |logit|. */
function agreement(native, other) {
  const a = native.ids.flat();
  const b = other.ids.flat();
  const same = a.filter((id, i) => b[i] === id).length;
  const r = native.ids.findIndex((row, i) => row.some((id, t) => other.ids[i][t] !== id));
  if (r >= 0) return `${same}/${a.length} ids equal, row ${r} first differs at step ${native.ids[r].findIndex((id, t) => other.ids[r][t] !== id)}`;
  let diff = 0;
  let max = 0;
  native.logits.forEach((row, i) => row.forEach((x, v) => {
    diff = Math.max(diff, Math.abs(x - other.logits[i][v]));
    max = Math.max(max, Math.abs(x));
  }));
  // Comparable because the ids, hence the prefixes, agree.
  return `ids identical (${a.length}), last-step logits within ${(diff / max).toExponential(1)} x max |logit|`;
}

function goalCell(config, row, rows) {
  const g = GOALS[config]?.[row.workload] ?? {};
  const out = [];
  const mark = (ok) => (ok ? '✓' : '✗');
  if (row.threads === 1) {
    if (g.tps) out.push(`≥${g.tps} ${mark(row.native >= g.tps)}`);
    if (g.ort && row.ort) out.push(`${g.ort === 1 ? '>' : `≥${g.ort}x`} ORT ${mark(g.ort === 1 ? row.native > row.ort : row.native >= g.ort * row.ort)}`);
    if (g.reference && row.reference) out.push(`≥${g.reference}x ref ${mark(row.native >= g.reference * row.reference)} (${(row.native / row.reference).toFixed(0)}x)`);
  } else if (row.workload.startsWith('encoder')) {
    const one = rows.find((r) => r.workload === row.workload && r.threads === 1);
    if (one) out.push(`≥${SCALING_GOAL}x 1t ${mark(row.native >= SCALING_GOAL * one.native)} (${(row.native / one.native).toFixed(2)}x)`);
  }
  return out.join(', ');
}

function table(config, rows) {
  const f = (x) => (x === undefined ? '-' : x.toFixed(0));
  const lines = [
    '| workload | threads | aiayn native | reference | ORT | ORT no cache | PyTorch | PyTorch no cache | aiayn / best peer | goal (1 thread unless said) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const peers = [r.ort, r.ortNoCache, r.torch, r.torchNoCache].filter((x) => x !== undefined);
    const ratio = peers.length ? `${(r.native / Math.max(...peers)).toFixed(2)}x` : '-';
    lines.push(`| ${r.workload} | ${r.threads} | ${f(r.native)} | ${f(r.reference)} | ${f(r.ort)} | ${f(r.ortNoCache)} | ${f(r.torch)} | ${f(r.torchNoCache)} | ${ratio} | ${goalCell(config, r, rows)} |`);
  }
  return lines.join('\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
  const quick = argv.includes('--quick');
  const names = option('--config', 'small,base').split(',');
  for (const n of names) if (!CONFIGS[n]) throw new RangeError(`--config must be small or base, got ${n}`);
  const maxWait = Number(option('--max-wait', quick ? '0' : '120'));
  const rounds = Number(option('--rounds', '1'));
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be an integer >= 1, got ${option('--rounds')}`);
  const threads = option('--threads', '1,2').split(',').map(Number);
  if (!threads.every((t) => Number.isInteger(t) && t >= 1)) throw new RangeError(`--threads must be a list like 1,2, got ${option('--threads')}`);

  const about = info();
  const machine = { cpu: cpus()[0].model, cores: cpus().length, isa: about.isa, node: process.version, aiayn: about.version };
  const started = new Date().toISOString();
  const missing = new Set();
  const ortMissing = existsSync(`${ortDir}/package.json`) ? null : 'onnxruntime-node is not in bench/peers (run npm run bench:prepare)';
  const torchMissing = torchProblem() ?? torchBlasProblem();
  const scratch = mkdtempSync(join(tmpdir(), 'aiayn-e2e-'));
  const output = { machine, date: started, quick, rounds, configs: {} };

  for (const name of names) {
    console.log(`\n== ${name}: ${JSON.stringify(CONFIGS[name].config)}`);
    const config = CONFIGS[name].config;
    const job = {
      config: name,
      model: ensureModel(name),
      onnx: onnxDir(name),
      threads,
      // Full: at least 3 runs, more within 4 s (so at least 5 when a run takes under 0.8 s).
      runs: quick ? { budget: 0.3, minRuns: 3, maxRuns: 10 } : { budget: 4, minRuns: 3, maxRuns: 25 },
      // The reference is single-threaded and slow: one or two runs, on the small model only.
      reference: name !== 'small' ? [] : quick ? ['encoder 1x128', 'greedy 1x32 +32'] : WORKLOADS.map((w) => w.name),
      referenceRuns: { budget: quick ? 0 : 2, minRuns: 1, maxRuns: 2, warmup: false },
      workloads: WORKLOADS.map((w, i) => ({ ...w, src: sources(config, w.B, w.S, 1000 + i) })),
      check: { ...CHECK, src: sources(config, CHECK.B, CHECK.S, 999) },
      rss: { ...RSS_WORKLOAD, src: sources(config, RSS_WORKLOAD.B, RSS_WORKLOAD.S, 998) },
    };
    const jobFile = join(scratch, `${name}.json`);
    writeFileSync(jobFile, JSON.stringify(job));
    const self = fileURLToPath(import.meta.url);
    const plan = { aiayn: [process.execPath, [self, '--child', 'aiayn', jobFile]] };
    const onnxMissing = ortMissing ?? onnxProblem(name);
    if (onnxMissing) missing.add(`ORT: ${onnxMissing}`);
    else plan.ort = [process.execPath, [self, '--child', 'ort', jobFile]];
    // PyTorch is a peer bench:prepare set up (exports made, so torch and onnx work): CI's quick run goes without it.
    const notPrepared = onnxProblem(name) && `not prepared for ${name} (run npm run bench:prepare)`;
    if (torchMissing || notPrepared) missing.add(`PyTorch: ${torchMissing || notPrepared}`);
    else plan.torch = [PYTHON, ['tools/bench_peers.py', 'time', '--job', jobFile], torchEnv()];
    // Rounds interleave the engines; each cell keeps its best median, so a burst of someone else's work hits one round.
    const engines = {};
    for (let round = 0; round < rounds; round++) {
      for (const [engine, [command, args, env]] of Object.entries(plan)) {
        const waited = waitForQuiet(maxWait);
        if (waited > 2) log(`waited ${waited.toFixed(0)} s for other processes to quieten`);
        const before = cpuTicks();
        const r = runChild(command, args, env);
        const others = othersCores(before, cpuTicks());
        log(`${engine} round ${round + 1}: other processes kept ${others.toFixed(2)} cores busy`);
        const e = (engines[engine] ??= { ...r, others: [] });
        e.others.push(others);
        for (const row of r.results) {
          const best = e.results.find((x) => x.workload === row.workload && x.threads === row.threads);
          for (const [k, v] of Object.entries(row)) if (Array.isArray(v) && v[0] < best[k][0]) best[k] = v;
        }
      }
    }
    const rss = runChild(process.execPath, [self, '--child', 'rss', jobFile]);

    // One row per workload and thread count, tokens/s.
    const rows = threads.flatMap((t) => WORKLOADS.map((w) => ({ workload: w.name, threads: t, tokens: w.B * (w.newTokens ?? w.S) })));
    const columns = { aiayn: { native: 'native', reference: 'reference' }, ort: { encoder: 'ort', cached: 'ort', noCache: 'ortNoCache' }, torch: { encoder: 'torch', cached: 'torch', noCache: 'torchNoCache' } };
    for (const [engine, { results }] of Object.entries(engines)) {
      for (const r of results) {
        const row = rows.find((x) => x.workload === r.workload && x.threads === r.threads);
        for (const [key, column] of Object.entries(columns[engine])) if (r[key] && row) row[column] = row.tokens / r[key][0];
      }
    }
    const native = engines.aiayn.check;
    const checks = {};
    if (engines.ort) Object.assign(checks, { 'ORT cached': agreement(native, engines.ort.check.cached), 'ORT no cache': agreement(native, engines.ort.check.noCache) });
    if (engines.torch) Object.assign(checks, { 'PyTorch cached': agreement(native, engines.torch.check.cached), 'PyTorch no cache': agreement(native, engines.torch.check.noCache) });

    console.log(`\n${name}, tokens/s (greedy: new tokens, the encoder of the source included), medians; ${Object.values(engines).map((e) => e.setup).join('; ')}`);
    if (engines.ort || engines.torch) {
      console.log('ORT and PyTorch: encoder rows run the encoder; greedy rows use a KV cache (ORT: decoder then decoder_with_past, as transformers.js does); "no cache": the decoder over the whole prefix every step.');
    }
    console.log();
    console.log(table(name, rows));
    console.log(`\nother processes kept ${Object.entries(engines).map(([k, e]) => `${e.others.map((x) => x.toFixed(2)).join('/')} cores busy while ${k} ran`).join(', ')} (of ${machine.cores}; per round)`);
    console.log(`\ngreedy, ${CHECK.B} rows x ${CHECK.newTokens} new tokens, against aiayn native: ${Object.entries(checks).map(([k, v]) => `${k} ${v}`).join('; ') || 'no peers'}`);
    const mb = (x) => `${(x / 2 ** 20).toFixed(0)} MiB`;
    console.log(`peak RSS loading ${name} and generating ${rss.workload}: ${mb(rss.peak)} = ${rss.ratio.toFixed(2)}x the fp32 weights (${mb(rss.weightBytes)}) + KV cache (${mb(rss.kvBytes)}); ${rss.ratioAboveBaseline.toFixed(2)}x above the ${mb(rss.baseline)} of Node with the addon${name === 'base' ? `; goal ≤ 1.3x ${rss.ratio <= 1.3 ? '✓' : '✗'}` : ''}`);
    const setups = Object.fromEntries(Object.entries(engines).map(([k, e]) => [k, e.setup]));
    const othersBusy = Object.fromEntries(Object.entries(engines).map(([k, e]) => [k, e.others]));
    output.configs[name] = { config, setups, rows, agreement: checks, rss, othersBusy };
  }
  rmSync(scratch, { recursive: true, force: true });
  if (missing.size) console.log(`\nmissing:\n- ${[...missing].join('\n- ')}`);
  output.missing = [...missing];
  console.log(`\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.isa}, Node ${machine.node}; started ${started}`);
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  // The full run's file is committed; a quick run (CI) writes beside it.
  const file = quick ? 'e2e-quick.json' : 'e2e.json';
  writeFileSync(new URL(`results/${file}`, import.meta.url), JSON.stringify(output, null, 2) + '\n');
  console.log(`wrote bench/results/${file}`);
}

if (process.argv[2] === '--child') {
  const job = JSON.parse(readFileSync(process.argv[4], 'utf8'));
  const run = { aiayn: aiaynChild, ort: ortChild, rss: rssChild }[process.argv[3]];
  console.log(JSON.stringify(await run(job)));
} else {
  await main();
}
