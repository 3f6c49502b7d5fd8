// The end-to-end benchmark's tables (bench/e2e.mjs): fp32 next to the peers,
// every dtype side by side, each engine's accuracy against its own fp32, and
// the goals of issue #12 as a verdict table. Tokens/s in, markdown out.

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

const mark = (ok) => (ok ? '✓' : '✗');
const f0 = (x) => (x === undefined ? '-' : x.toFixed(0));
const ratio = (a, b) => (a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}x`);

/** Greedy ids equal, and the last step's logits: max |difference| relative to max |logit|. */
export function agreement(native, other) {
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

/** fp32: aiayn native (and the reference) next to every peer, cached and not. */
export function fp32Table(config, rows) {
  const lines = [
    '| workload | threads | aiayn native | reference | ORT | ORT no cache | PyTorch | PyTorch no cache | aiayn / best peer | goal (1 thread unless said) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const peers = [r.ort, r.ortNoCache, r.torch, r.torchNoCache].filter((x) => x !== undefined);
    const best = peers.length ? `${(r.native / Math.max(...peers)).toFixed(2)}x` : '-';
    lines.push(`| ${r.workload} | ${r.threads} | ${f0(r.native)} | ${f0(r.reference)} | ${f0(r.ort)} | ${f0(r.ortNoCache)} | ${f0(r.torch)} | ${f0(r.torchNoCache)} | ${best} | ${goalCell(config, r, rows)} |`);
  }
  return lines.join('\n');
}

/** One line per workload, threads and dtype: each engine's tokens/s (greedy: cached), and aiayn's ratios. */
export function dtypeTable(rows) {
  const lines = [
    '| workload | threads | dtype | aiayn | ORT | PyTorch | aiayn / aiayn fp32 | aiayn / ORT | aiayn / PyTorch |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const fp32 = rows.find((x) => x.workload === r.workload && x.threads === r.threads && x.dtype === 'fp32');
    lines.push(`| ${r.workload} | ${r.threads} | ${r.dtype} | ${f0(r.aiayn)} | ${f0(r.ort)} | ${f0(r.torch)} | ${ratio(r.aiayn, fp32?.aiayn)} | ${ratio(r.aiayn, r.ort)} | ${ratio(r.aiayn, r.torch)} |`);
  }
  return lines.join('\n');
}

/**
 * An engine's greedy ids in `dtype` against its own fp32 on the same sources: free-running
 * (once a step differs, the prefixes do), and teacher-forced on the fp32 ids.
 * engine.reference: { [workload]: fp32 ids [B][T] }; engine.ids: { [dtype]: { [workload]: { ids, forced } } }.
 */
export function accuracy(engine, dtype, workload) {
  const own = engine?.ids?.[dtype]?.[workload];
  const fp32 = engine?.reference?.[workload]?.flat();
  if (!own || !fp32) return undefined;
  const equal = (rows) => rows.flat().filter((id, i) => id === fp32[i]).length;
  return { free: equal(own.ids) / fp32.length, forced: equal(own.forced) / fp32.length, n: fp32.length };
}

/** Per greedy workload and dtype: ids equal to the engine's own fp32, free-running (teacher-forced). */
export function accuracyTable(engines, workloads, dtypes) {
  const pct = (a) => (a === undefined ? '-' : `${(100 * a.free).toFixed(1)} % (${(100 * a.forced).toFixed(1)} %)`);
  const lines = ['| workload | dtype | ids | aiayn | ORT | PyTorch |', '|---|---|---:|---:|---:|---:|'];
  for (const w of workloads) {
    for (const d of dtypes.filter((x) => x !== 'fp32')) {
      const cells = ['aiayn', 'ort', 'torch'].map((e) => accuracy(engines[e], d, w));
      const n = cells.find(Boolean)?.n;
      lines.push(`| ${w} | ${d} | ${n ?? '-'} | ${cells.map(pct).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/**
 * Issue #12's goals, 1 thread: aiayn bf16 and int8 over aiayn fp32 (base), and aiayn int8 over
 * the peers' int8 on every greedy workload. Each line: the goal, the measured ratio, the verdict.
 */
export function verdicts(configs, { bf16Hardware }) {
  const goals = [
    { config: 'base', workload: 'greedy 1x32 +32', dtype: 'bf16', over: ['aiayn', 'fp32'], goal: 1.8 },
    { config: 'base', workload: 'greedy 1x32 +32', dtype: 'int8', over: ['aiayn', 'fp32'], goal: 3 },
    { config: 'base', workload: 'encoder 16x64', dtype: 'bf16', over: ['aiayn', 'fp32'], goal: 1.7, needsBf16: true },
    ...['base', 'small'].flatMap((config) => ['greedy 1x32 +32', 'greedy 16x32 +32'].flatMap((workload) => [
      { config, workload, dtype: 'int8', over: ['ort', 'int8'], goal: 1.5 },
      { config, workload, dtype: 'int8', over: ['torch', 'int8'], goal: 2 },
    ])),
  ];
  const names = { aiayn: 'aiayn', ort: 'ORT', torch: 'PyTorch' };
  const lines = ['| goal (1 thread) | measured | verdict |', '|---|---:|---|'];
  for (const g of goals) {
    const [engine, dtype] = g.over;
    const text = `${g.config} ${g.workload}: aiayn ${g.dtype} ≥ ${g.goal}x ${names[engine]} ${dtype}`;
    const row = (d) => configs[g.config]?.dtypeRows.find((r) => r.workload === g.workload && r.threads === 1 && r.dtype === d);
    const a = row(g.dtype)?.aiayn;
    const b = row(dtype)?.[engine];
    if (!configs[g.config] || !row(g.dtype)) {
      lines.push(`| ${text} | - | not run (--config, --workload, --dtype) |`);
    } else if (a === undefined || b === undefined) {
      lines.push(`| ${text} | - | not measured (${a === undefined ? `aiayn ${g.dtype}` : `${names[engine]} ${dtype}`} missing) |`);
    } else if (g.needsBf16 && !bf16Hardware) {
      lines.push(`| ${text} | ${(a / b).toFixed(2)}x | n/a: this CPU has no AVX512-BF16 |`);
    } else {
      lines.push(`| ${text} | ${(a / b).toFixed(2)}x | ${mark(a >= g.goal * b)} |`);
    }
  }
  return lines.join('\n');
}
