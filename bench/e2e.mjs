// End-to-end benchmark: tokens/s of the encoder and of greedy generation for
// two random models (bench/e2e-setup.mjs), aiayn native (and, on the small
// model, the pure-TypeScript reference) next to onnxruntime-node on ONNX exports
// of the same weights and PyTorch eager, in fp32, bf16 and int8, 1 and 2
// threads, medians of several runs; each engine's greedy ids in bf16 and int8
// against its own fp32; issue #12's goals as a verdict table (bench/e2e-report.mjs).
// Every engine runs in a child process of its own, so thread pools and
// memory do not mix. Peers come from `npm run bench:prepare`; those missing are
// named and left out (and aiayn's dtypes its Transformer.load does not take).
// Prints the tables and writes bench/results/e2e.json (e2e-quick.json with --quick).
// Usage: npm run bench:e2e [-- --quick] [--config small|base] [--threads 1,2]
//   [--dtype fp32,bf16,int8] [--workload 'encoder 16x64,greedy 1x32 +32']
//   [--rounds N]: run every engine N times, interleaved; each cell keeps its best median
//   [--max-wait S]: before each engine, wait up to S seconds for a quiet machine (default 120, 0 with --quick)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Transformer, generate, info, setThreads } from '../dist/index.js';
import {
  CONFIGS, DTYPES, ONNX_FILES, PYTHON, ensureModel, onnxFiles, onnxProblem, ortDir, peersDir, root, sources, torchProblem,
} from './e2e-setup.mjs';
import { accuracy, accuracyTable, agreement, dtypeTable, fp32Table, verdicts } from './e2e-report.mjs';
import { cpuTicks, othersCores, waitForQuiet } from './machine.mjs';

const WORKLOADS = [
  { name: 'encoder 1x128', kind: 'encoder', B: 1, S: 128 },
  { name: 'encoder 16x64', kind: 'encoder', B: 16, S: 64 },
  { name: 'greedy 1x32 +32', kind: 'greedy', B: 1, S: 32, newTokens: 32 },
  { name: 'greedy 16x32 +32', kind: 'greedy', B: 16, S: 32, newTokens: 32 },
];
const CHECK = { B: 4, S: 32, newTokens: 32 }; // greedy ids every engine must agree on
const RSS_WORKLOAD = WORKLOADS[3];

/**
 * { [key]: [median seconds, runs] } of several functions timed in turn (one run of each per
 * round), so that a machine getting busier or quieter hits them all alike: one warm-up each,
 * then rounds until minRuns and (maxRuns or the budget in seconds per function).
 */
async function medians(fns, { budget, minRuns, maxRuns, warmup = true }) {
  const keys = Object.keys(fns);
  if (warmup) for (const k of keys) await fns[k]();
  const times = Object.fromEntries(keys.map((k) => [k, []]));
  const start = performance.now();
  for (let n = 0; n < minRuns || (n < maxRuns && performance.now() - start < budget * keys.length * 1000); n++) {
    for (const k of keys) {
      const t0 = performance.now();
      await fns[k]();
      times[k].push((performance.now() - t0) / 1000);
    }
  }
  return Object.fromEntries(keys.map((k) => {
    const t = times[k].sort((a, b) => a - b);
    return [k, [t[Math.floor(t.length / 2)], t.length]];
  }));
}

/** [median seconds, runs] of one function, as medians(). */
const median = async (fn, runs) => (await medians({ fn }, runs)).fn;

const log = (line) => process.stderr.write(`  ${line}\n`);
const fmtRuns = (row) => Object.entries(row).filter(([, v]) => Array.isArray(v)).map(([k, [s, n]]) => `${k} ${(s * 1e3).toFixed(1)} ms (${n} runs)`).join(', ');

// --- children: one engine each, JSON on the last stdout line ---------------------------------

/** Index of the largest of row[0..V). */
function argmaxRow(row) {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

/** [model in `dtype`, null] or [null, why not]: a Transformer.load without the option loads fp32 under another name. */
function loadAs(dir, dtype) {
  let model;
  try {
    model = Transformer.load(dir, dtype === 'fp32' ? {} : { dtype });
  } catch (e) {
    return [null, e.message];
  }
  if ((model.dtype ?? 'fp32') === dtype) return [model, null];
  model.dispose();
  return [null, `Transformer.load takes no dtype '${dtype}' yet`];
}

async function aiaynChild(job) {
  const gen = (m, w) => generate(m, w.src, { maxNewTokens: w.newTokens, stopAtEos: false }).map((g) => g.sequences[0].ids);
  // Each step's argmax with the decoder fed `forced` [B][T] (teacher forcing): decode has no cache, an independent path.
  const teacherForced = (m, w, forced) => {
    const logits = m.decode(forced.map((row) => [m.config.bosId, ...row.slice(0, -1)]), m.encode(w.src)); // [B, T, V]
    const [B, T, V] = logits.shape;
    return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => argmaxRow(logits.data.subarray((b * T + t) * V, (b * T + t + 1) * V))));
  };
  const greedy = job.workloads.filter((w) => w.kind === 'greedy');
  setThreads(1);
  const fp32 = Transformer.load(job.model);
  const ids = gen(fp32, job.check);
  // The last step's logits, teacher-forced on the greedy ids.
  const { bosId } = fp32.config;
  const logits = fp32.decode(ids.map((row) => [bosId, ...row.slice(0, -1)]), fp32.encode(job.check.src));
  const [B, T, V] = logits.shape;
  const check = { ids, logits: Array.from({ length: B }, (_, b) => Array.from(logits.data.subarray((b * T + T - 1) * V, (b * T + T) * V))) };
  const reference = Object.fromEntries(greedy.map((w) => [w.name, gen(fp32, w)]));
  fp32.dispose();

  const results = [];
  const dtypeIds = {};
  const missing = [];
  const models = {};
  for (const dtype of job.dtypes) {
    const [model, why] = loadAs(job.model, dtype);
    if (!model) {
      missing.push(`aiayn ${dtype}: ${why}`);
      continue;
    }
    models[dtype] = model;
    dtypeIds[dtype] = Object.fromEntries(greedy.map((w) => [w.name, { ids: gen(model, w), forced: teacherForced(model, w, reference[w.name]) }]));
  }
  // Every dtype in turn on each workload: their ratios are what the goals judge.
  for (const threads of job.threads) {
    setThreads(threads);
    for (const w of job.workloads) {
      const fns = Object.fromEntries(Object.entries(models).map(([d, m]) => [d, w.kind === 'encoder' ? () => m.encode(w.src) : () => gen(m, w)]));
      for (const [dtype, native] of Object.entries(await medians(fns, job.runs))) {
        const row = { workload: w.name, threads, dtype, native };
        results.push(row);
        log(`aiayn ${dtype} ${threads}t ${w.name}: ${fmtRuns(row)}`);
      }
    }
  }
  for (const m of Object.values(models)) m.dispose();
  if (job.reference.length > 0) {
    const ref = Transformer.load(job.model, { backend: 'reference' });
    for (const w of job.workloads.filter((x) => job.reference.includes(x.name))) {
      const [seconds, runs] = await median(w.kind === 'encoder' ? () => ref.encode(w.src) : () => gen(ref, w), job.referenceRuns);
      const row = results.find((r) => r.workload === w.name && r.threads === 1 && r.dtype === 'fp32') ?? results[results.push({ workload: w.name, threads: 1, dtype: 'fp32' }) - 1];
      row.reference = [seconds, runs];
      log(`aiayn reference ${w.name}: ${(seconds * 1e3).toFixed(1)} ms (${runs} runs)`);
    }
  }
  const about = info();
  return { setup: `aiayn ${about.version}, ISA ${about.isa}`, results, check, reference, ids: dtypeIds, missing };
}

function argmax(logits, B) {
  const V = logits.dims[1];
  return BigInt64Array.from({ length: B }, (_, b) => BigInt(argmaxRow(logits.data.subarray(b * V, (b + 1) * V))));
}

async function ortChild(job) {
  const ort = createRequire(`${peersDir}package.json`)('onnxruntime-node');
  const { decoderLayers: L, bosId } = JSON.parse(readFileSync(`${job.model}/config.json`, 'utf8'));
  const ids = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length]);
  const kv = (out, from, to, kind) =>
    Object.fromEntries(Array.from({ length: L }, (_, i) => ['key', 'value'].map((t) => [`${to}.${i}.${kind}.${t}`, out[`${from}.${i}.${kind}.${t}`]])).flat());
  const toRows = (steps, B) => Array.from({ length: B }, (_, b) => steps.map((s) => Number(s[b])));

  // transformers.js's way: the decoder once on BOS (no past) gives the caches, then one step at a time with past.
  // forced [B][T]: feed these ids instead of each step's argmax (teacher forcing); the argmaxes are returned.
  async function cached(s, w, forced) {
    const B = w.src.length;
    const next = (t, argmaxes) => (forced ? BigInt64Array.from(forced, (row) => BigInt(row[t])) : argmaxes);
    const { memory } = await s.encoder.run({ src_ids: ids(w.src) });
    let out = await s.decoder.run({ tgt_ids: ids(Array.from({ length: B }, () => [bosId])), memory });
    const cross = kv(out, 'present', 'past', 'cross');
    const steps = [argmax(out.logits, B)];
    for (let t = 1; t < w.newTokens; t++) {
      const tgt = new ort.Tensor('int64', next(t - 1, steps[t - 1]), [B, 1]);
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

  async function sessions(dtype, threads) {
    // No spinning: between the short decoder steps spinning workers of three sessions took the 2 cores
    // from each other (2-thread greedy 1x32 small: ~105 ms spinning, ~60 ms not; the encoder the same).
    const options = {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
      extra: { session: { 'intra_op.allow_spinning': '0' } },
    };
    const [encoder, decoder, withPast] = await Promise.all(ONNX_FILES.map((f) => ort.InferenceSession.create(`${job.onnx[dtype]}/${f}`, options)));
    return { encoder, decoder, withPast, release: () => Promise.all([encoder, decoder, withPast].map((x) => x.release())) };
  }

  const greedy = job.workloads.filter((w) => w.kind === 'greedy');
  // Logits as rows, for the check's JSON.
  const plain = ({ ids, logits }) => ({ ids, logits: Array.from({ length: ids.length }, (_, b) => Array.from(logits.data.subarray(b * logits.dims[1], (b + 1) * logits.dims[1]))) });
  const fp32 = await sessions('fp32', 1);
  const check = { cached: plain(await cached(fp32, job.check)), noCache: plain(await noCache(fp32, job.check)) };
  const reference = {};
  for (const w of greedy) reference[w.name] = (await cached(fp32, w)).ids;
  await fp32.release();

  const results = [];
  const dtypeIds = {};
  // onnxruntime has no bf16 for these CPU ops: fp32 and quantize_dynamic's int8.
  for (const dtype of job.dtypes.filter((d) => job.onnx[d])) {
    for (const threads of job.threads) {
      const s = await sessions(dtype, threads);
      if (!dtypeIds[dtype]) {
        dtypeIds[dtype] = {};
        for (const w of greedy) dtypeIds[dtype][w.name] = { ids: (await cached(s, w)).ids, forced: (await cached(s, w, reference[w.name])).ids };
      }
      for (const w of job.workloads) {
        const row = { workload: w.name, threads, dtype };
        if (w.kind === 'encoder') {
          const feeds = { src_ids: ids(w.src) };
          row.encoder = await median(() => s.encoder.run(feeds), job.runs);
        } else {
          row.cached = await median(() => cached(s, w), job.runs);
          if (dtype === 'fp32') row.noCache = await median(() => noCache(s, w), job.runs);
        }
        results.push(row);
        log(`ort ${dtype} ${threads}t ${w.name}: ${fmtRuns(row)}`);
      }
      await s.release();
    }
  }
  const { version } = JSON.parse(readFileSync(`${ortDir}/package.json`, 'utf8'));
  const q = JSON.parse(readFileSync(`${job.onnx.int8}/quantization.json`, 'utf8'));
  const int8 = `int8: onnxruntime ${q.onnxruntime} quantize_dynamic, ${q.weightType} weights${q.perChannel ? ' per channel' : ''}`;
  return { setup: `onnxruntime-node ${version} (CPU, graphOptimizationLevel all, interOp 1, no spinning; ${int8})`, results, check, reference, ids: dtypeIds };
}

/**
 * This process's peak RSS in bytes: VmHWM, which exec resets, where Linux has it. getrusage's maxRSS
 * keeps the parent's RSS at fork time (CI's parent, which had just written the base model, made a
 * child's "Node with the addon" 548 MiB).
 */
function peakRss() {
  const hwm = existsSync('/proc/self/status') && /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/**
 * Peak RSS of a process that loads the model in `dtype` (the child's last argument; fp32 by default) and
 * generates, against the fp32 weights + KV cache it needs; and the load's seconds.
 */
function rssChild(job) {
  const dtype = process.argv[5] ?? 'fp32';
  info(); // the addon, before any model
  const baseline = peakRss();
  const t0 = performance.now();
  const model = Transformer.load(job.model, { dtype });
  const loadSeconds = (performance.now() - t0) / 1000;
  const w = job.rss;
  generate(model, w.src, { maxNewTokens: w.newTokens, stopAtEos: false });
  const peak = peakRss();
  const c = model.config;
  model.dispose();
  const file = readFileSync(`${job.model}/model.safetensors`);
  const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString('utf8'));
  const weightBytes = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .reduce((sum, [, e]) => sum + (e.data_offsets[1] - e.data_offsets[0]), 0);
  // Per decoder layer: self-attention K and V for every new token, cross-attention K and V for the source.
  const kvBytes = c.decoderLayers * w.B * 2 * (w.newTokens + w.S) * c.dModel * 4;
  return { workload: w.name, dtype, loadSeconds, baseline, peak, weightBytes, kvBytes, ratio: peak / (weightBytes + kvBytes), ratioAboveBaseline: (peak - baseline) / (weightBytes + kvBytes) };
}

// --- the parent --------------------------------------------------------------------------

function runChild(command, args, env = process.env) {
  const r = spawnSync(command, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const last = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !last) throw new Error(`${command} ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  return JSON.parse(last);
}

/** Whether this CPU has AVX512-BF16 (the bf16 encoder goal holds only there). */
function hasBf16() {
  try {
    return /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false; // no /proc: not Linux, the goal is not judged
  }
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
  const dtypes = option('--dtype', DTYPES.join(',')).split(',');
  for (const d of dtypes) if (!DTYPES.includes(d)) throw new RangeError(`--dtype must be a list of ${DTYPES.join(', ')}, got ${option('--dtype')}`);
  const workloadNames = option('--workload', WORKLOADS.map((w) => w.name).join(',')).split(',');
  for (const n of workloadNames) if (!WORKLOADS.some((w) => w.name === n)) throw new RangeError(`--workload must be a list of ${WORKLOADS.map((w) => `'${w.name}'`).join(', ')}, got '${n}'`);
  const workloads = WORKLOADS.filter((w) => workloadNames.includes(w.name));

  const about = info();
  const machine = { cpu: cpus()[0].model, cores: cpus().length, isa: about.isa, avx512bf16: hasBf16(), node: process.version, aiayn: about.version };
  const started = new Date().toISOString();
  const missing = new Set();
  const ortMissing = existsSync(`${ortDir}/package.json`) ? null : 'onnxruntime-node is not in bench/peers (run npm run bench:prepare)';
  const torchMissing = torchProblem();
  const scratch = mkdtempSync(join(tmpdir(), 'aiayn-e2e-'));
  const output = { machine, date: started, quick, rounds, dtypes, configs: {} };

  for (const name of names) {
    console.log(`\n== ${name}: ${JSON.stringify(CONFIGS[name].config)}`);
    const config = CONFIGS[name].config;
    const job = {
      config: name,
      model: ensureModel(name),
      onnx: { fp32: onnxFiles(name, 'fp32'), int8: onnxFiles(name, 'int8') },
      dtypes,
      threads,
      // Full: at least 3 runs, more within 4 s (so at least 5 when a run takes under 0.8 s).
      // Quick (CI): two runs, to stay within minutes with every dtype.
      runs: quick ? { budget: 0.2, minRuns: 2, maxRuns: 10 } : { budget: 4, minRuns: 3, maxRuns: 25 },
      // The reference is single-threaded and slow: one or two runs, on the small model only, with fp32.
      reference: name !== 'small' || !dtypes.includes('fp32') ? [] : (quick ? ['encoder 1x128', 'greedy 1x32 +32'] : workloads.map((w) => w.name)).filter((n) => workloadNames.includes(n)),
      referenceRuns: { budget: quick ? 0 : 2, minRuns: 1, maxRuns: 2, warmup: false },
      workloads: WORKLOADS.map((w, i) => ({ ...w, src: sources(config, w.B, w.S, 1000 + i) })).filter((w) => workloadNames.includes(w.name)),
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
    // OpenMP workers that sleep, as ORT's do not spin: spinning, 2 threads lost the second core to other
    // processes on this shared machine (small, greedy 1x32, 2 threads: 2288 ms spinning, 158 ms passive).
    else plan.torch = [PYTHON, ['tools/bench_peers.py', 'time', '--job', jobFile], { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }];
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
          const best = e.results.find((x) => x.workload === row.workload && x.threads === row.threads && x.dtype === row.dtype);
          for (const [k, v] of Object.entries(row)) if (Array.isArray(v) && v[0] < best[k][0]) best[k] = v;
        }
      }
    }
    for (const m of engines.aiayn.missing) missing.add(m);
    const rss = runChild(process.execPath, [self, '--child', 'rss', jobFile]);
    // The other dtypes hold less, but their packing runs in JavaScript too (a from() with a map function once
    // took a bf16 load of base to 1.5 GiB).
    const rssByDtype = Object.fromEntries(dtypes.filter((d) => d !== 'fp32').map((d) => [d, runChild(process.execPath, [self, '--child', 'rss', jobFile, d])]));

    // Tokens/s per workload, thread count and dtype; fp32 rows also the reference and the peers without a cache.
    const tokens = Object.fromEntries(workloads.map((w) => [w.name, w.B * (w.newTokens ?? w.S)]));
    const dtypeRows = threads.flatMap((t) => workloads.flatMap((w) => dtypes.map((dtype) => ({ workload: w.name, threads: t, dtype }))));
    const rows = threads.flatMap((t) => workloads.map((w) => ({ workload: w.name, threads: t })));
    const columns = { aiayn: { native: 'native', reference: 'reference' }, ort: { encoder: 'ort', cached: 'ort', noCache: 'ortNoCache' }, torch: { encoder: 'torch', cached: 'torch', noCache: 'torchNoCache' } };
    for (const [engine, { results }] of Object.entries(engines)) {
      for (const r of results) {
        const tps = (key) => tokens[r.workload] / r[key][0];
        const d = dtypeRows.find((x) => x.workload === r.workload && x.threads === r.threads && x.dtype === r.dtype);
        const main = { aiayn: 'native', ort: r.encoder ? 'encoder' : 'cached', torch: r.encoder ? 'encoder' : 'cached' }[engine];
        if (d && r[main]) d[engine] = tps(main);
        const row = r.dtype === 'fp32' && rows.find((x) => x.workload === r.workload && x.threads === r.threads);
        if (row) for (const [key, column] of Object.entries(columns[engine])) if (r[key]) row[column] = tps(key);
      }
    }
    const checks = {};
    const native = engines.aiayn.check;
    if (engines.ort) Object.assign(checks, { 'ORT cached': agreement(native, engines.ort.check.cached), 'ORT no cache': agreement(native, engines.ort.check.noCache) });
    if (engines.torch) Object.assign(checks, { 'PyTorch cached': agreement(native, engines.torch.check.cached), 'PyTorch no cache': agreement(native, engines.torch.check.noCache) });
    const greedyNames = workloads.filter((w) => w.kind === 'greedy').map((w) => w.name);
    const accuracies = Object.fromEntries(Object.entries(engines).map(([e, engine]) =>
      [e, Object.fromEntries(greedyNames.flatMap((w) => dtypes.filter((d) => d !== 'fp32').map((d) => [`${w} ${d}`, accuracy(engine, d, w)])).filter(([, a]) => a))]));

    console.log(`\n${name}, tokens/s (greedy: new tokens, the encoder of the source included), medians; ${Object.values(engines).map((e) => e.setup).join('; ')}`);
    if (dtypes.includes('fp32')) {
      if (engines.ort || engines.torch) {
        console.log('ORT and PyTorch: encoder rows run the encoder; greedy rows use a KV cache (ORT: decoder then decoder_with_past, as transformers.js does); "no cache": the decoder over the whole prefix every step.');
      }
      console.log(`\nfp32\n\n${fp32Table(name, rows)}`);
    }
    console.log(`\nevery dtype (greedy: with a KV cache; ORT has no bf16)\n\n${dtypeTable(dtypeRows)}`);
    if (greedyNames.length && dtypes.some((d) => d !== 'fp32')) {
      console.log(`\ngreedy ids equal to the same engine's fp32 ids on the workload's sources, free-running (teacher-forced on the fp32 ids)\n\n${accuracyTable(engines, greedyNames, dtypes)}`);
    }
    console.log(`\nother processes kept ${Object.entries(engines).map(([k, e]) => `${e.others.map((x) => x.toFixed(2)).join('/')} cores busy while ${k} ran`).join(', ')} (of ${machine.cores}; per round)`);
    console.log(`\nfp32 greedy, ${CHECK.B} rows x ${CHECK.newTokens} new tokens, against aiayn native: ${Object.entries(checks).map(([k, v]) => `${k} ${v}`).join('; ') || 'no peers'}`);
    const mb = (x) => `${(x / 2 ** 20).toFixed(0)} MiB`;
    console.log(`peak RSS loading ${name} and generating ${rss.workload}: ${mb(rss.peak)} = ${rss.ratio.toFixed(2)}x the fp32 weights (${mb(rss.weightBytes)}) + KV cache (${mb(rss.kvBytes)}); ${rss.ratioAboveBaseline.toFixed(2)}x above the ${mb(rss.baseline)} of Node with the addon${name === 'base' ? `; goal ≤ 1.3x ${rss.ratio <= 1.3 ? '✓' : '✗'}` : ''}`);
    for (const r of Object.values(rssByDtype)) {
      console.log(`peak RSS loading ${name} in ${r.dtype} (${r.loadSeconds.toFixed(1)} s; fp32 ${rss.loadSeconds.toFixed(1)} s) and generating ${r.workload}: ${mb(r.peak)} = ${r.ratio.toFixed(2)}x the fp32 weights + KV cache`);
    }
    const setups = Object.fromEntries(Object.entries(engines).map(([k, e]) => [k, e.setup]));
    const othersBusy = Object.fromEntries(Object.entries(engines).map(([k, e]) => [k, e.others]));
    output.configs[name] = { config, setups, rows, dtypeRows, agreement: checks, accuracy: accuracies, rss, rssByDtype, othersBusy };
  }
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\nissue #12's goals, 1 thread (figures, not tests)\n\n${verdicts(output.configs, { bf16Hardware: machine.avx512bf16 })}`);
  if (missing.size) console.log(`\nmissing:\n- ${[...missing].join('\n- ')}`);
  output.missing = [...missing];
  console.log(`\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.isa}${machine.avx512bf16 ? ' (AVX512-BF16)' : ''}, Node ${machine.node}; started ${started}`);
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
