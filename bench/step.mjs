// The fused decoder step against the op-by-op one, side by side in one
// process: greedy generation on bench:e2e's models and workloads (greedy
// tokens/s: new tokens over the whole call, the encoder included), the two
// variants alternating run by run, medians. Also checks that both generate the
// same ids. With --baseline, a third variant: another aiayn build (e.g. a
// checkout of an older commit, built) loaded into the same process.
// Prints a table and writes bench/results/step.json.
// Usage: npm run bench:step [-- --config small,base] [--threads 1] [--runs N] [--baseline path/to/dist/index.js]
import { mkdirSync, writeFileSync } from 'node:fs';
import { Transformer, generate, info, setThreads } from '../dist/index.js';
import { CONFIGS, ensureModel, root } from './e2e-setup.mjs';

const WORKLOADS = [
  { name: 'greedy 1x32 +32', B: 1, S: 32, newTokens: 32 },
  { name: 'greedy 16x32 +32', B: 16, S: 32, newTokens: 32 },
];

/** bench:e2e's sources: non-special ids from a fixed LCG. */
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const names = option('--config', 'small,base').split(',');
for (const n of names) if (!CONFIGS[n]) throw new RangeError(`--config must be small or base, got ${n}`);
const threads = option('--threads', '1').split(',').map(Number);
const runs = Number(option('--runs', '9'));
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be an integer >= 1, got ${option('--runs')}`);

const baselinePath = option('--baseline', undefined);
const baseline = baselinePath && (await import(new URL(baselinePath, `file://${process.cwd()}/`).href));

const rows = [];
for (const name of names) {
  const dir = ensureModel(name);
  const fused = Transformer.load(dir);
  const ops = Transformer.load(dir, { fusedStep: false });
  const variants = [['fused', fused], ['ops', ops]];
  if (baseline) {
    baseline.setThreads(threads[0]);
    variants.push(['baseline', baseline.Transformer.load(dir)]);
  }
  for (const t of threads) {
    setThreads(t);
    baseline?.setThreads(t);
    for (const w of WORKLOADS) {
      const src = sources(fused.config, w.B, w.S, 1);
      const gens = {
        fused: (m) => generate(m, src, { maxNewTokens: w.newTokens, stopAtEos: false }),
        ops: (m) => generate(m, src, { maxNewTokens: w.newTokens, stopAtEos: false }),
        baseline: (m) => baseline.generate(m, src, { maxNewTokens: w.newTokens, stopAtEos: false }),
      };
      const ids = variants.map(([key, m]) => JSON.stringify(gens[key](m).map((g) => g.sequences[0].ids))); // also the warm-up
      const same = ids.every((x) => x === ids[0]);
      const times = Object.fromEntries(variants.map(([key]) => [key, []]));
      for (let i = 0; i < runs; i++) {
        const order = i % 2 === 0 ? variants : [...variants].reverse();
        for (const [key, m] of order) {
          const t0 = performance.now();
          gens[key](m);
          times[key].push((performance.now() - t0) / 1000);
        }
      }
      const tokens = w.B * w.newTokens;
      const tps = Object.fromEntries(Object.entries(times).map(([key, xs]) => [key, tokens / median(xs)]));
      const row = { config: name, workload: w.name, threads: t, runs, sameIds: same, tps, ratio: tps.fused / tps.ops };
      if (baseline) row.ratioBaseline = tps.fused / tps.baseline;
      rows.push(row);
      const line = Object.entries(tps).map(([key, v]) => `${key} ${v.toFixed(0)}`).join(', ');
      process.stderr.write(`  ${name} ${w.name} ${t}t: ${line} tokens/s${same ? '' : ' IDS DIFFER'}\n`);
    }
  }
  for (const [, m] of variants) m.dispose();
}

const about = info();
console.log(`\nGreedy tokens/s, fused step vs op by op, medians of ${runs} alternating runs; aiayn ${about.version}, ISA ${about.isa}`);
const b = baseline ? [' baseline |', ' fused / baseline |'] : ['', ''];
console.log(`| model | workload | threads | fused | op by op |${b[0]} fused / op by op |${b[1]} same ids |`);
console.log(`|---|---|---:|---:|---:|${baseline ? '---:|---:|' : ''}---:|---|`);
for (const r of rows) {
  const extra = baseline ? ` ${r.tps.baseline.toFixed(0)} | ` : ' ';
  const extraRatio = baseline ? ` ${r.ratioBaseline.toFixed(2)}x |` : '';
  console.log(`| ${r.config} | ${r.workload} | ${r.threads} | ${r.tps.fused.toFixed(0)} | ${r.tps.ops.toFixed(0)} |${extra}${r.ratio.toFixed(2)}x |${extraRatio} ${r.sameIds ? 'yes' : 'NO'} |`);
}
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/step.json`, `${JSON.stringify({ isa: about.isa, version: about.version, rows }, null, 2)}\n`);
