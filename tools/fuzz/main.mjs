#!/usr/bin/env node
// Coverage-guided fuzzing of every parser of outside data (tools/fuzz/README.md).
//
//   node tools/fuzz/main.mjs --target NAME|all [--seconds N] [--runs N] [--seed S]
//        [--hang-ms N] [--corpus DIR]... [--out DIR] [--crashes DIR]
//   node tools/fuzz/main.mjs --ci                    replay the committed corpora, then fuzz each target briefly
//   node tools/fuzz/main.mjs --replay --target ...   run the seeds and committed corpus once
//   node tools/fuzz/main.mjs --merge --target ... --corpus DIR... --into ROOT [--max-bytes N]
//                                                    the smallest inputs that keep all features (at most
//                                                    N bytes per target, default 384 KiB), into ROOT/<target>
//
// Needs dist/ (npm run build). Exits 1 when anything was found.
import { Worker } from 'node:worker_threads';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CORPUS_ROOT, hashOf, writeInput } from './corpus.mjs';
import { TARGETS } from './targets/index.mjs';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    seconds: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'hang-ms': { type: 'string', default: '3000' },
    corpus: { type: 'string', multiple: true, default: [] },
    out: { type: 'string' },
    crashes: { type: 'string', default: 'fuzz-crashes' },
    into: { type: 'string' },
    'max-bytes': { type: 'string', default: String(384 * 1024) },
    replay: { type: 'boolean', default: false },
    merge: { type: 'boolean', default: false },
    ci: { type: 'boolean', default: false },
  },
});

function int(name, value, min) {
  const v = Number(value);
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return v;
}

const names = args.target === 'all' ? Object.keys(TARGETS) : args.target.split(',');
for (const n of names) if (!TARGETS[n]) throw new RangeError(`--target must be all or some of ${Object.keys(TARGETS).join(', ')}, got ${JSON.stringify(n)}`);
const seed = int('seed', args.seed, 0);
const hangMs = int('hang-ms', args['hang-ms'], 1);
const MAX_INPUT = 1 << 20;

/**
 * One worker over `data`: its findings, its last figures, and how it ended
 * ('done', or a finding of its own: 'hang' when an input ran past hangMs, 'crash' when it died).
 */
function spawn(name, data, onInput) {
  const shared = new SharedArrayBuffer(16 + MAX_INPUT);
  const heartbeat = new Int32Array(shared, 0, 4);
  heartbeat[1] = -1;
  const base = Date.now();
  const limit = data.hangMs;
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
    workerData: { name, ...data, shared, base },
    resourceLimits: { maxOldGenerationSizeMb: 4096 },
  });
  const current = () => new Uint8Array(shared, 16, heartbeat[2]).slice();
  const findings = [];
  let stats = { execs: 0, corpus: 0, features: 0 };
  return new Promise((resolve) => {
    let hung = false;
    const finish = (end) => resolve({ findings, stats: { ...stats, execs: Atomics.load(heartbeat, 0) }, end });
    const watchdog = setInterval(() => {
      const start = Atomics.load(heartbeat, 1);
      if (start >= 0 && Date.now() - base - start > limit) {
        clearInterval(watchdog);
        hung = true;
        const input = current();
        worker.terminate().then(() => finish({ kind: 'hang', problem: `no answer after ${limit} ms`, signature: `hang ${hashOf(input)}`, input }));
      }
    }, 100);
    worker.on('message', (m) => {
      if (m.type === 'finding') findings.push(m.finding);
      else if (m.type === 'input') onInput?.(m.input);
      else if (m.type === 'stats') stats = m.stats;
      else if (m.type === 'done') {
        clearInterval(watchdog);
        stats = m.stats;
        finish({ kept: m.kept });
      }
    });
    worker.on('error', (error) => {
      clearInterval(watchdog);
      finish({ kind: 'crash', problem: `the worker died: ${error.code ?? ''} ${error.message}`, signature: `crash ${error.code ?? error.message}`, stack: error.stack, input: current() });
    });
    // An exit without 'done' (a target calling process.exit, say) would otherwise leave the run waiting;
    // after 'done' or 'error' the promise is settled and this changes nothing.
    worker.on('exit', (code) => {
      clearInterval(watchdog);
      if (!hung) finish({ kind: 'crash', problem: `the worker exited (code ${code}) before it finished`, signature: `exit ${code}`, input: current() });
    });
  });
}

/**
 * Whether a slow input is slow on its own: replayed alone in a fresh worker
 * with five times the limit, since wall time on a loaded machine (nice 19,
 * shared cores) can pass the limit for a fast input.
 */
async function confirmed(name, finding) {
  const r = await spawn(name, { mode: 'replay', seed, hangMs: hangMs * 5, dirs: [], extra: [finding.input], seeds: false });
  return r.end.kind === 'hang' || r.findings.some((f) => f.kind === 'slow');
}

/**
 * Runs one target in workers until its time is up; a worker that hangs past
 * hangMs or dies (out of memory) is a finding, and a new worker takes over
 * with the corpus grown so far.
 */
async function runTarget(name, { mode, seconds, runs, dirs, out, maxBytes }) {
  const end = performance.now() + (seconds ?? 0) * 1000;
  const findings = [];
  const grown = [];
  const totals = { execs: 0, corpus: 0, features: 0 };
  const started = performance.now();
  let kept;
  let dismissed = 0;
  for (let attempt = 0; ; attempt++) {
    const left = seconds === undefined ? undefined : Math.max(0, (end - performance.now()) / 1000);
    const r = await spawn(name, { mode, seed: seed + attempt, seconds: left, runs, hangMs, dirs, extra: grown, seeds: mode !== 'merge', maxBytes }, (input) => {
      grown.push(input);
      if (out) writeInput(join(out, name), input);
    });
    totals.execs += r.stats.execs;
    totals.corpus = r.stats.corpus;
    totals.features = Math.max(totals.features, r.stats.features);
    for (const f of [...r.findings, ...(r.end.kind ? [r.end] : [])]) {
      if ((f.kind === 'slow' || f.kind === 'hang') && !(await confirmed(name, f))) dismissed++;
      else findings.push(f);
    }
    if (!r.end.kind) {
      kept = r.end.kept;
      break;
    }
    if (mode !== 'fuzz' || performance.now() >= end) break;
  }
  if (dismissed > 0) console.log(`  ${name}: ${dismissed} slow input(s) not slow when replayed alone (machine load), dismissed`);
  // Findings of several workers may repeat one another: one per signature.
  const unique = [...new Map(findings.map((f) => [f.signature, f])).values()];
  return { name, seconds: (performance.now() - started) / 1000, ...totals, findings: unique, kept };
}

function saveFindings(result) {
  for (const f of result.findings) {
    const dir = join(args.crashes, result.name);
    const path = writeInput(dir, f.input, `${f.kind}-`);
    writeFileSync(`${path}.txt`, `${f.signature}\n${f.problem}\n\n${f.stack ?? ''}\n`);
    console.log(`  ${result.name}: ${f.kind}: ${f.problem.split('\n')[0].slice(0, 200)}\n    input: ${path}`);
  }
}

function table(results) {
  const rows = results.map((r) => [r.name, r.seconds.toFixed(1), String(r.execs), (r.execs / Math.max(r.seconds, 1e-9)).toFixed(0), String(r.corpus), String(r.features), String(r.findings.length)]);
  const head = ['target', 'seconds', 'executions', 'exec/s', 'corpus', 'features', 'findings'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log([line(head), ...rows.map(line)].join('\n'));
}

const committed = (name) => [join(CORPUS_ROOT, name), ...args.corpus.map((d) => join(d, name))];
const results = [];
if (args.merge) {
  if (!args.into) throw new RangeError('--merge needs --into ROOT');
  for (const name of names) {
    const r = await runTarget(name, { mode: 'merge', dirs: committed(name), maxBytes: int('max-bytes', args['max-bytes'], 0) });
    const dir = join(args.into, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const input of r.kept ?? []) writeInput(dir, input);
    console.log(`${name}: kept ${r.kept?.length ?? 0} inputs, ${r.features} features`);
    results.push(r);
  }
} else {
  const ci = args.ci;
  const seconds = args.seconds === undefined ? (ci ? 5 : args.replay ? undefined : 60) : int('seconds', args.seconds, 0);
  const runs = args.runs === undefined ? undefined : int('runs', args.runs, 0);
  if (ci || args.replay) {
    console.log('replaying the seeds and committed corpora');
    const replayed = [];
    for (const name of names) replayed.push(await runTarget(name, { mode: 'replay', dirs: committed(name) }));
    table(replayed);
    replayed.forEach(saveFindings);
    results.push(...replayed);
  }
  if (!args.replay) {
    console.log(`fuzzing ${seconds} s per target, seed ${seed}`);
    const fuzzed = [];
    for (const name of names) {
      const r = await runTarget(name, { mode: 'fuzz', seconds, runs, dirs: committed(name), out: args.out });
      fuzzed.push(r);
      table([r]);
      saveFindings(r);
    }
    if (fuzzed.length > 1) table(fuzzed);
    results.push(...fuzzed);
  }
}
const found = results.reduce((n, r) => n + r.findings.length, 0);
console.log(found === 0 ? 'fuzz: no findings' : `fuzz: ${found} finding(s), inputs in ${args.crashes}/`);
process.exitCode = found === 0 ? 0 : 1;
