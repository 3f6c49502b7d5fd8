// The fused decoder step against the op-by-op one, side by side in one
// process: greedy generation on bench:e2e's models and workloads (greedy
// tokens/s: new tokens over the whole call, the encoder included), the two
// variants alternating run by run, medians. Also checks that both generate the
// same ids. Tokens/s by wall time and by the process's CPU time (user + sys:
// on a shared machine the wall time includes waiting for a core, the CPU time
// does not; with 1 thread no pool worker spins). With --baseline, a third variant: another aiayn build (e.g. a
// checkout of an older commit, built) loaded into the same process. With --dtype, a fourth: the fused step
// in that dtype; with both, the issue #12 CTranslate2 goal estimated (CT2_FACTORS below).
// Prints a table and writes bench/results/step.json.
// Usage: npm run bench:step [-- --config small,base] [--threads 1] [--runs N] [--baseline path/to/dist/index.js]
//   [--dtype bf16|int8]
import { mkdirSync, writeFileSync } from 'node:fs';
import { Transformer, generate, info, setThreads } from '../dist/index.js';
import { CONFIGS, ensureModel, root, sources } from './e2e-setup.mjs';

const WORKLOADS = [
  { name: 'greedy 1x32 +32', B: 1, S: 32, newTokens: 32 },
  { name: 'greedy 16x32 +32', B: 16, S: 32, newTokens: 32 },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const names = option('--config', 'small,base').split(',');
for (const n of names) if (!CONFIGS[n]) throw new RangeError(`--config must be small or base, got ${n}`);
const threads = option('--threads', '1').split(',').map(Number);
const runs = Number(option('--runs', '9'));
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be an integer >= 1, got ${option('--runs')}`);

const dtype = option('--dtype', undefined);
if (dtype !== undefined && !['bf16', 'int8'].includes(dtype)) throw new RangeError(`--dtype must be bf16 or int8, got ${dtype}`);
const baselinePath = option('--baseline', undefined);
const baseline = baselinePath && (await import(new URL(baselinePath, `file://${process.cwd()}/`).href));

/**
 * CTranslate2 int8 over aiayn fp32, tokens/s, as issue #12 measured them side by side (CT2 built from
 * source on the issue author's machine; it is in no registry here, so it cannot run beside aiayn). With
 * --baseline at that aiayn (b53326f, the commit the issue was written against) and --dtype int8,
 * (int8 / baseline) / factor estimates aiayn int8 over CT2 int8 through the aiayn fp32 both were measured against.
 */
const CT2_FACTORS = {
  'small greedy 1x32 +32 1': 3338 / 1795,
  'small greedy 16x32 +32 1': 10785 / 5557,
  'base greedy 1x32 +32 1': 160 / 155,
  'base greedy 16x32 +32 1': 1161 / 759,
  'base greedy 1x32 +32 2': 346 / 203,
};

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
  if (dtype) variants.push([dtype, Transformer.load(dir, { dtype })]);
  for (const t of threads) {
    setThreads(t);
    baseline?.setThreads(t);
    for (const w of WORKLOADS) {
      const src = sources(fused.config, w.B, w.S, 1);
      const own = (m) => generate(m, src, { maxNewTokens: w.newTokens, stopAtEos: false });
      const gens = {
        fused: own,
        ops: own,
        ...(dtype ? { [dtype]: own } : {}),
        baseline: (m) => baseline.generate(m, src, { maxNewTokens: w.newTokens, stopAtEos: false }),
      };
      // Also the warm-up; the fp32 variants must agree (another dtype's ids may differ).
      const ids = variants.map(([key, m]) => [key, JSON.stringify(gens[key](m).map((g) => g.sequences[0].ids))]);
      const same = ids.filter(([key]) => key !== dtype).every(([, x]) => x === ids[0][1]);
      const times = Object.fromEntries(variants.map(([key]) => [key, []]));
      const cpuTimes = Object.fromEntries(variants.map(([key]) => [key, []]));
      for (let i = 0; i < runs; i++) {
        const order = i % 2 === 0 ? variants : [...variants].reverse();
        for (const [key, m] of order) {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          gens[key](m);
          times[key].push((performance.now() - t0) / 1000);
          const c = process.cpuUsage(c0);
          cpuTimes[key].push((c.user + c.system) / 1e6);
        }
      }
      const tokens = w.B * w.newTokens;
      const rate = (all) => Object.fromEntries(Object.entries(all).map(([key, xs]) => [key, tokens / median(xs)]));
      const tps = rate(times);
      const cpuTps = rate(cpuTimes);
      const ct2 = CT2_FACTORS[`${name} ${w.name} ${t}`];
      const ct2Estimate = dtype === 'int8' && baseline && ct2 ? { wall: tps.int8 / tps.baseline / ct2, cpu: cpuTps.int8 / cpuTps.baseline / ct2 } : undefined;
      const row = { config: name, workload: w.name, threads: t, runs, sameIds: same, tps, cpuTps, ct2Estimate };
      rows.push(row);
      const line = Object.entries(tps).map(([key, v]) => `${key} ${v.toFixed(0)} (CPU time ${cpuTps[key].toFixed(0)})`).join(', ');
      process.stderr.write(`  ${name} ${w.name} ${t}t: ${line} tokens/s${same ? '' : ' IDS DIFFER'}\n`);
    }
  }
  for (const [, m] of variants) m.dispose();
}

const about = info();
const keys = ['fused', 'ops', ...(baseline ? ['baseline'] : []), ...(dtype ? [dtype] : [])];
const label = { fused: 'fused', ops: 'op by op', baseline: 'baseline', [dtype]: `fused ${dtype}` };
console.log(`\nGreedy tokens/s by wall time (by CPU time), medians of ${runs} alternating runs; aiayn ${about.version}, ISA ${about.isa}`);
const ratios = [['fused', 'ops'], ...(baseline ? [['fused', 'baseline']] : []), ...(baseline && dtype ? [[dtype, 'baseline']] : [])];
const estimates = rows.some((r) => r.ct2Estimate);
console.log(`| model | workload | threads | ${keys.map((k) => label[k]).join(' | ')} | ${ratios.map(([a, b]) => `${label[a]} / ${label[b]}`).join(' | ')} | ${estimates ? 'int8 / CT2 int8, estimated | ' : ''}same fp32 ids |`);
console.log(`|---|---|---:|${keys.map(() => '---:|').join('')}${ratios.map(() => '---:|').join('')}${estimates ? '---:|' : ''}---|`);
const cell = (r, k) => `${r.tps[k].toFixed(0)} (${r.cpuTps[k].toFixed(0)})`;
const ratio = (r, a, b) => `${(r.tps[a] / r.tps[b]).toFixed(2)}x (${(r.cpuTps[a] / r.cpuTps[b]).toFixed(2)}x)`;
for (const r of rows) {
  const est = !estimates ? '' : r.ct2Estimate ? `${r.ct2Estimate.wall.toFixed(2)}x (${r.ct2Estimate.cpu.toFixed(2)}x) | ` : '- | ';
  console.log(`| ${r.config} | ${r.workload} | ${r.threads} | ${keys.map((k) => cell(r, k)).join(' | ')} | ${ratios.map(([a, b]) => ratio(r, a, b)).join(' | ')} | ${est}${r.sameIds ? 'yes' : 'NO'} |`);
}
if (estimates) console.log('\nint8 / CT2 int8, estimated: (fused int8 / baseline) over CT2 int8 / aiayn fp32 as issue #12 measured them; meaningful with --baseline at b53326f (goal: 1.3x).');
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/step.json`, `${JSON.stringify({ isa: about.isa, version: about.version, dtype, rows }, null, 2)}\n`);
