// Load/dispose soak (issue #11): --cycles cycles of Transformer.load →
// generate() (a few inputs, greedy then 4 beams) → dispose(), going round the
// --models, native backend; every --engine-every-th cycle also runs an Engine
// (worker thread) on the same model: load → one request → close. Every
// answer must equal that model's first one (zero wrong answers), and after
// every cycle no packed weights may be left (info().packedWeights back to 0:
// the addon's own count, exact, where V8's external memory is not). After a
// full collection (node --expose-gc), RSS, heapUsed, external and
// arrayBuffers are sampled at the end of the warm-up and every --every cycles
// after it.
// Verdict, end of the warm-up → end (each the median of the last 3 samples up
// to that point): RSS grows at most --rss-slack (5 %); external and
// arrayBuffers at most 1 MiB; heapUsed at most 2 MiB. Exit code 1 otherwise.
// Writes bench/results/soak-cycles.json.
//
//   node --expose-gc tools/soak/cycles.mjs [--cycles 1000] [--warmup 100] [--every 25] [--engine-every 10]
import { Engine, Transformer, generate, info } from '../../dist/index.js';
import { MiB, loadAverage, median, mib, parseFlags, sourceTexts, table, verdict, writeResults } from './report.mjs';

const flags = parseFlags(process.argv.slice(2), {
  cycles: 1000,
  warmup: 100,
  every: 25,
  models: 'models/pt-numbers,test/fixtures/hf/marian,test/fixtures/hf/t5',
  rssSlack: 0.05,
  engineEvery: 10,
});
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc (the samples are taken after a full collection)');
if (flags.warmup >= flags.cycles) throw new Error(`--warmup (${flags.warmup}) must be below --cycles (${flags.cycles})`);
const EXTERNAL_SLACK = MiB;
const HEAP_SLACK = 2 * MiB;

const models = flags.models.split(',').map((dir) => ({ dir, inputs: sourceTexts(dir, 4), answer: undefined, engineAnswer: undefined, cycles: 0, engineCycles: 0 }));
// An addon built before the count existed has no packedWeights: that check is then left out.
const countsPacked = typeof info().packedWeights === 'number';

/** One cycle on `m`: the generated ids of both searches as one string. */
function cycle(m) {
  const model = Transformer.load(m.dir);
  try {
    const greedy = generate(model, m.inputs, { maxNewTokens: 16 });
    const beams = generate(model, m.inputs, { maxNewTokens: 16, numBeams: 4, numReturnSequences: 2 });
    return JSON.stringify([greedy, beams].map((gs) => gs.map((g) => g.sequences.map((s) => Array.from(s.ids)))));
  } finally {
    model.dispose();
  }
}

/** An Engine on `m`: load → one greedy request → close; its ids. */
async function engineCycle(m) {
  const engine = await Engine.load(m.dir);
  try {
    const g = await engine.generate(m.inputs[0], { maxNewTokens: 16 });
    return JSON.stringify(g.sequences.map((s) => Array.from(s.ids)));
  } finally {
    await engine.close();
  }
}

function sample(c) {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { cycle: c, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

console.log(`soak:cycles: ${flags.cycles} cycles (warm-up ${flags.warmup}, a sample every ${flags.every}) over ${models.map((m) => m.dir).join(', ')}; load average ${loadAverage().join(' ')}`);
const samples = [sample(0)];
const wrong = []; // the first 10, for the report
let wrongCount = 0;
const leftPacked = [];
const t0 = performance.now();
for (let c = 1; c <= flags.cycles; c++) {
  const m = models[(c - 1) % models.length];
  const answer = cycle(m);
  m.cycles++;
  m.answer ??= answer;
  if (answer !== m.answer && wrongCount++ < 10) wrong.push({ cycle: c, model: m.dir, got: answer.slice(0, 200), want: m.answer.slice(0, 200) });
  if (flags.engineEvery > 0 && c % flags.engineEvery === 0) {
    const e = await engineCycle(m);
    m.engineCycles++;
    m.engineAnswer ??= e;
    if (e !== m.engineAnswer && wrongCount++ < 10) wrong.push({ cycle: c, model: m.dir, engine: true, got: e.slice(0, 200), want: m.engineAnswer.slice(0, 200) });
  }
  if (countsPacked && info().packedWeights !== 0 && leftPacked.length < 10) leftPacked.push({ cycle: c, model: m.dir, packedWeights: info().packedWeights, packedBytes: info().packedBytes });
  if (c === flags.warmup || (c > flags.warmup && (c - flags.warmup) % flags.every === 0) || c === flags.cycles) {
    samples.push(sample(c));
    const s = samples.at(-1);
    console.log(`  cycle ${c}: RSS ${mib(s.rss)} MiB, heap ${mib(s.heapUsed)} MiB, external ${mib(s.external)} MiB, arrayBuffers ${mib(s.arrayBuffers)} MiB (${((performance.now() - t0) / c).toFixed(0)} ms/cycle)`);
  }
}
const seconds = (performance.now() - t0) / 1000;

const upTo = (c, key) => median(samples.filter((s) => s.cycle <= c && s.cycle > 0).slice(-3).map((s) => s[key]));
const keys = [['rss', 'RSS'], ['heapUsed', 'heapUsed'], ['external', 'external'], ['arrayBuffers', 'arrayBuffers']];
const growth = Object.fromEntries(keys.map(([k]) => [k, { warm: upTo(flags.warmup, k), end: upTo(flags.cycles, k) }]));
const allowed = { rss: growth.rss.warm * flags.rssSlack, heapUsed: HEAP_SLACK, external: EXTERNAL_SLACK, arrayBuffers: EXTERNAL_SLACK };
const rows = [['memory', 'start MiB', `cycle ${flags.warmup} MiB`, `cycle ${flags.cycles} MiB`, 'growth MiB', 'allowed MiB']];
for (const [k, label] of keys) rows.push([label, mib(samples[0][k]), mib(growth[k].warm), mib(growth[k].end), mib(growth[k].end - growth[k].warm), mib(allowed[k])]);
console.log('\n' + table(rows));
const engineCycles = models.reduce((n, m) => n + m.engineCycles, 0);
console.log(`\n${flags.cycles} cycles (${engineCycles} with an Engine) in ${seconds.toFixed(0)} s (${((seconds * 1000) / flags.cycles).toFixed(0)} ms/cycle); wrong answers: ${wrongCount}`);
console.log(countsPacked ? `cycles that left packed weights alive: ${leftPacked.length}` : 'packed weights not counted: this addon predates info().packedWeights (rebuild it)');

const problems = keys.filter(([k]) => growth[k].end - growth[k].warm > allowed[k]).map(([k, label]) => `${label} grew ${mib(growth[k].end - growth[k].warm)} MiB after the warm-up (allowed ${mib(allowed[k])} MiB)`);
for (const w of wrong) problems.push(`cycle ${w.cycle} (${w.model}${w.engine ? ', engine' : ''}) answered differently from its first cycle`);
for (const p of leftPacked) problems.push(`cycle ${p.cycle} (${p.model}) left ${p.packedWeights} packed weights (${p.packedBytes} bytes) after dispose()`);
const file = writeResults('soak-cycles.json', {
  date: new Date().toISOString(),
  command: `node --expose-gc tools/soak/cycles.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  cycles: flags.cycles,
  warmup: flags.warmup,
  models: models.map((m) => ({ dir: m.dir, inputs: m.inputs.length, cycles: m.cycles, engineCycles: m.engineCycles })),
  packedWeightsLeft: countsPacked ? leftPacked : 'not counted (addon without info().packedWeights)',
  seconds,
  loadAverageAtEnd: loadAverage(),
  growthMiB: Object.fromEntries(keys.map(([k]) => [k, { warm: growth[k].warm / MiB, end: growth[k].end / MiB, allowed: allowed[k] / MiB }])),
  samples: { columns: ['cycle', 'rssMiB', 'heapUsedMiB', 'externalMiB', 'arrayBuffersMiB'], rows: samples.map((s) => [s.cycle, ...[s.rss, s.heapUsed, s.external, s.arrayBuffers].map((v) => Number((v / MiB).toFixed(2)))]) },
  wrongAnswers: wrongCount,
  firstWrong: wrong,
  pass: problems.length === 0,
});
verdict(file, problems);
