// Kernel benchmark: GFLOP/s of linear and attention on the native backend
// (1 and 2 threads) next to the pure-TypeScript reference, medians of several
// runs, topK over a 32k vocabulary, and the cost of one JS -> C++ call.
// Prints a table and writes bench/results/kernels.json.
// Usage: npm run bench:kernels [-- --quick]
import { mkdirSync, writeFileSync } from 'node:fs';
import { Tensor, info, native, reference, setThreads } from '../dist/index.js';

const quick = process.argv.includes('--quick');

function randomTensor(shape, seed) {
  let a = seed >>> 0;
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    t.data[i] = a / 2 ** 31 - 1;
  }
  return t;
}

/** Median seconds per call: warm up, then time `runs` calls or until `budget` seconds pass (at least `min`). */
function time(fn, { runs = 15, min = 3, budget = 2 } = {}) {
  fn();
  const times = [];
  const start = performance.now();
  while (times.length < runs && (times.length < min || performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)], runs: times.length };
}

const linearShapes = [
  [1, 512, 512], [1, 2048, 512], [1, 32000, 512], [16, 512, 512], [64, 2048, 512],
  [128, 512, 512], [128, 2048, 512], [128, 512, 2048], [1024, 1024, 1024],
];
const attentionShapes = [128, 512, 2048].flatMap((T) => [false, true].map((causal) => ({ B: 1, H: 8, Dh: 64, T, causal })));

const results = { machine: info(), date: new Date().toISOString(), linear: [], attention: [] };
const referenceBudget = quick ? 0.5 : 3;

for (const [M, N, K] of linearShapes) {
  const x = randomTensor([M, K], 1);
  const w = randomTensor([N, K], 2);
  const b = randomTensor([N], 3);
  const flops = 2 * M * N * K;
  const out = Tensor.zeros([M, N]);
  const nw = native.linearPack(w, b);
  const row = { M, N, K };
  for (const threads of [1, 2]) {
    setThreads(threads);
    const t = time(() => native.linear(x, nw, { out }), { budget: quick ? 0.3 : 2 });
    row[`gflops${threads}t`] = flops / t.seconds / 1e9;
  }
  nw.dispose();
  const rw = reference.linearPack(w, b);
  const tr = time(() => reference.linear(x, rw, { out }), { runs: 5, min: 1, budget: referenceBudget });
  row.referenceGflops = flops / tr.seconds / 1e9;
  row.referenceRuns = tr.runs;
  results.linear.push(row);
}

for (const { B, H, Dh, T, causal } of attentionShapes) {
  const q = randomTensor([B, T, H, Dh], 4);
  const k = randomTensor([B, T, H, Dh], 5);
  const v = randomTensor([B, T, H, Dh], 6);
  const out = Tensor.zeros([B, T, H, Dh]);
  // Useful flops: QK^T and PV over the visible keys only.
  const flops = 4 * B * H * Dh * (causal ? (T * (T + 1)) / 2 : T * T);
  const row = { B, H, Dh, T, causal };
  for (const threads of [1, 2]) {
    setThreads(threads);
    const t = time(() => native.attention(q, k, v, { causal, out }), { budget: quick ? 0.3 : 2 });
    row[`ms${threads}t`] = t.seconds * 1e3;
    row[`gflops${threads}t`] = flops / t.seconds / 1e9;
  }
  const skipReference = T > 512 && quick;
  if (!skipReference) {
    const tr = time(() => reference.attention(q, k, v, { causal, out }), { runs: 3, min: 1, budget: referenceBudget });
    row.referenceMs = tr.seconds * 1e3;
    row.referenceRuns = tr.runs;
  }
  results.attention.push(row);
}
setThreads(info().defaultThreads);

// topK over a vocabulary, as beam search and top-k sampling call it: k = 8 of V = 32000 for 32 rows,
// of the logits and of their log-softmax (computed in the call, never materialised), native (1 and 2
// threads) next to the reference.
{
  const [R, V, k] = [32, 32000, 8];
  const x = randomTensor([R, V], 8);
  const row = { R, V, k };
  for (const logSoftmax of [false, true]) {
    const key = logSoftmax ? 'logSoftmax' : 'plain';
    for (const threads of [1, 2]) {
      setThreads(threads);
      row[`${key}Us${threads}t`] = time(() => native.topK(x, k, { logSoftmax }), { budget: quick ? 0.3 : 1 }).seconds * 1e6;
    }
    row[`${key}ReferenceUs`] = time(() => reference.topK(x, k, { logSoftmax }), { runs: 5, min: 1, budget: referenceBudget }).seconds * 1e6;
  }
  setThreads(info().defaultThreads);
  results.topK = row;
}

// The JS -> C++ crossing: a tiny op is almost all call overhead (argument checks, N-API, views over
// typed arrays), which every op of a decode step pays. Median per call over batches of calls.
{
  const x = randomTensor([1, 4], 7);
  const perCall = (fn) => {
    const calls = 10000;
    return time(() => { for (let i = 0; i < calls; i++) fn(); }, { runs: 15, budget: quick ? 0.3 : 1 }).seconds / calls * 1e6;
  };
  results.crossing = { op: 'argmax [1, 4]', nativeUs: perCall(() => native.argmax(x)), referenceUs: perCall(() => reference.argmax(x)) };
}

const f = (x, d = 1) => (x === undefined ? '-' : x.toFixed(d));
console.log(`aiayn ${results.machine.version}, ISA ${results.machine.isa}, default threads ${results.machine.defaultThreads}\n`);
console.log('linear  (M, N, K)        | GFLOP/s 1t | GFLOP/s 2t | 2t/1t | reference GFLOP/s | native 1t / reference');
console.log('-------------------------|-----------:|-----------:|------:|------------------:|---------------------:');
for (const r of results.linear) {
  console.log(
    `${`(${r.M}, ${r.N}, ${r.K})`.padEnd(25)}| ${f(r.gflops1t).padStart(10)} | ${f(r.gflops2t).padStart(10)} | ${f(r.gflops2t / r.gflops1t, 2).padStart(5)} | ${f(r.referenceGflops, 2).padStart(17)} | ${f(r.gflops1t / r.referenceGflops, 0).padStart(19)}x`,
  );
}
console.log('\nattention B=1 H=8 Dh=64 | ms 1t | GFLOP/s 1t | ms 2t | GFLOP/s 2t | reference ms | native 1t / reference');
console.log('-------------------------|------:|-----------:|------:|-----------:|-------------:|---------------------:');
for (const r of results.attention) {
  console.log(
    `${`T=${r.T}${r.causal ? ' causal' : ''}`.padEnd(25)}| ${f(r.ms1t, 2).padStart(5)} | ${f(r.gflops1t).padStart(10)} | ${f(r.ms2t, 2).padStart(5)} | ${f(r.gflops2t).padStart(10)} | ${f(r.referenceMs, 0).padStart(12)} | ${r.referenceMs ? f(r.referenceMs / r.ms1t, 0).padStart(19) + 'x' : '-'.padStart(20)}`,
  );
}
for (const T of [128, 512, 2048]) {
  const [full, causal] = results.attention.filter((r) => r.T === T);
  console.log(`causal speed-up at T=${T}: ${f(full.ms1t / causal.ms1t, 2)}x (1 thread), ${f(full.ms2t / causal.ms2t, 2)}x (2 threads)`);
}
const tk = results.topK;
console.log(`\n${`topK k=${tk.k} of V=${tk.V}, ${tk.R} rows`.padEnd(35)}| us 1t | us 2t | reference us | native 1t / reference`);
console.log('-----------------------------------|------:|------:|-------------:|---------------------:');
for (const key of ['plain', 'logSoftmax']) {
  console.log(
    `${(key === 'plain' ? 'of x' : 'of log_softmax(x), fused').padEnd(35)}| ${f(tk[`${key}Us1t`]).padStart(5)} | ${f(tk[`${key}Us2t`]).padStart(5)} | ${f(tk[`${key}ReferenceUs`], 0).padStart(12)} | ${f(tk[`${key}ReferenceUs`] / tk[`${key}Us1t`], 0).padStart(19)}x`,
  );
}
const c = results.crossing;
console.log(`\nJS -> C++ crossing: native ${c.op} ${f(c.nativeUs, 2)} us per call (the same op in pure TypeScript: ${f(c.referenceUs, 2)} us)`);

mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/kernels.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
console.log('\nwrote bench/results/kernels.json');
