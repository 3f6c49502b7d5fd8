// `npm run bench:accuracy`: what bf16 and int8 weights cost in accuracy.
// - the demo model (models/pt-numbers): held-out exact match in each dtype,
//   and how many outputs equal fp32's;
// - every PyTorch and Hugging Face fixture of test/fixtures (random weights,
//   the harder case: flat distributions flip on small changes): the
//   teacher-forced logits' largest deviation from fp32's, relative to the
//   largest |fp32 logit|, and the greedy ids' agreement with fp32's.
// Next to them, PyTorch's own bf16 autocast and dynamic int8 on the same
// fixtures when bench/results/accuracy-pytorch.json exists (made by
// tools/dtype_deviation.py, which needs the Python venv; '–' where PyTorch
// has no figure: its greedy rows on the tutorial model, or a generate() that failed).
// Writes bench/results/accuracy.json and prints markdown tables.
// Flags: --backend native|reference (default native), --quick (500 demo examples).
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Transformer, generate, info } from '../dist/index.js';
import { generateText } from '../dist/cli/text.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const args = process.argv.slice(2);
const backend = args.includes('--backend') ? args[args.indexOf('--backend') + 1] : 'native';
const quick = args.includes('--quick');

/** The dtypes measured: each linear layer's, and the output projection's. */
const VARIANTS = [
  { label: 'fp32', dtype: 'fp32' },
  { label: 'bf16', dtype: 'bf16' },
  { label: 'int8', dtype: 'int8' },
  { label: 'int8, fp32 output', dtype: 'int8', outputDtype: 'fp32' },
];

function options(v) {
  return { backend, dtype: v.dtype, ...(v.outputDtype && { outputDtype: v.outputDtype }) };
}

function demo() {
  const dir = join(root, 'models/pt-numbers');
  const heldout = JSON.parse(readFileSync(join(dir, 'heldout.json'), 'utf8')).slice(0, quick ? 500 : undefined);
  let fp32;
  return VARIANTS.map((v) => {
    const model = Transformer.load(dir, options(v));
    const out = [];
    for (let i = 0; i < heldout.length; i += 100) {
      out.push(...generateText(model, heldout.slice(i, i + 100).map((e) => e.text), { maxNewTokens: 8 }));
    }
    model.dispose();
    fp32 ??= out;
    const exact = out.filter((o, i) => o === heldout[i].digits).length / heldout.length;
    const sameAsFp32 = out.filter((o, i) => o === fp32[i]).length / heldout.length;
    return { variant: v.label, examples: heldout.length, exact, sameAsFp32 };
  });
}

/** Teacher-forced logits [B, T, V] of each row's first lengths[b] positions, flattened. */
function validLogits(logits, lengths) {
  const [, T, V] = logits.shape;
  const rows = lengths.map((n, b) => logits.data.subarray(b * T * V, (b * T + n) * V));
  const out = new Float32Array(rows.reduce((s, r) => s + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

/** Each fixture: how to load it, its sources, teacher-forced targets and greedy length. */
function fixtures() {
  const list = [];
  const pt = join(root, 'test/fixtures/pytorch');
  for (const name of readdirSync(pt, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
    const dir = join(pt, name);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8'));
    list.push({
      name: `pytorch/${name}`,
      load: (o) => Transformer.fromPyTorch(join(dir, 'model.safetensors'), config, o),
      src: cases.src, tgt: cases.tgt, newTokens: Math.max(...cases.greedy.map((g) => g.length)),
    });
  }
  const hf = join(root, 'test/fixtures/hf');
  for (const name of readdirSync(hf, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
    const dir = join(hf, name);
    if (!existsSync(join(dir, 'expected.json'))) continue;
    const f = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).forward;
    const trim = (rows, masks) => rows.map((r, b) => r.filter((_, t) => masks[b][t] === 1));
    list.push({
      name: `hf/${name}`,
      load: (o) => Transformer.load(dir, o),
      src: trim(f.input_ids, f.attention_mask), tgt: trim(f.decoder_input_ids, f.decoder_attention_mask), newTokens: 16,
    });
  }
  return list;
}

function families() {
  return fixtures().map((fx) => {
    let fp32;
    const results = VARIANTS.map((v) => {
      const model = fx.load(options(v));
      const memory = model.encode(fx.src);
      const logits = validLogits(model.decode(fx.tgt, memory, fx.src.map((s) => s.length)), fx.tgt.map((t) => t.length));
      const greedy = generate(model, fx.src, { maxNewTokens: fx.newTokens, numBeams: 1, doSample: false })
        .map((r) => r.sequences[0].ids.join(' '));
      model.dispose();
      fp32 ??= { logits, greedy, scale: logits.reduce((m, x) => Math.max(m, Math.abs(x)), 0) };
      let diff = 0;
      for (let i = 0; i < logits.length; i++) diff = Math.max(diff, Math.abs(logits[i] - fp32.logits[i]));
      return {
        variant: v.label,
        logitDeviation: diff / fp32.scale,
        greedySameAsFp32: greedy.filter((g, i) => g === fp32.greedy[i]).length / greedy.length,
        rows: greedy.length,
      };
    });
    return { fixture: fx.name, results };
  });
}

// The reference backend needs no addon.
const about = backend === 'native' ? info() : { version: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version, isa: 'none' };
const started = Date.now();
const result = { date: new Date().toISOString(), backend, isa: about.isa, gemm: about.gemm, demo: demo(), families: families() };
const pct = (x) => `${(100 * x).toFixed(2)} %`;
console.log(`aiayn ${about.version}, backend ${backend}, ISA ${about.isa}\n`);
console.log(`Demo model (models/pt-numbers), ${result.demo[0].examples} held-out examples, greedy:\n`);
console.log('| weights | exact match | outputs equal to fp32\'s |\n|---|---:|---:|');
for (const r of result.demo) console.log(`| ${r.variant} | ${pct(r.exact)} | ${pct(r.sameAsFp32)} |`);
console.log('\nFixtures (random weights): teacher-forced logits, max |Δ| / max |fp32 logit|; greedy rows equal to fp32\'s:\n');
const torchFile = join(root, 'bench/results/accuracy-pytorch.json');
const torch = existsSync(torchFile) ? JSON.parse(readFileSync(torchFile, 'utf8')) : undefined;
const torchHead = torch ? ` PyTorch ${torch.torch} bf16 autocast Δlogit | greedy | PyTorch quantize_dynamic int8 Δlogit | greedy |` : '';
console.log(`| fixture |${VARIANTS.slice(1).map((v) => ` ${v.label} Δlogit | ${v.label} greedy |`).join('')}${torchHead}`);
console.log(`|---|${'---:|---:|'.repeat(VARIANTS.length - 1)}${torch ? '---:|---:|---:|---:|' : ''}`);
for (const f of result.families) {
  const cells = f.results.slice(1).map((r) => ` ${r.logitDeviation.toExponential(1)} | ${r.greedySameAsFp32 * r.rows}/${r.rows} |`);
  const t = torch?.fixtures[f.fixture];
  const rows = (n) => (t?.rows ? `${n}/${t.rows}` : '–');
  const torchCells = torch ? (t ? ` ${t.bf16.toExponential(1)} | ${rows(t.bf16Greedy)} | ${t.int8.toExponential(1)} | ${rows(t.int8Greedy)} |` : ' – | – | – | – |') : '';
  console.log(`| ${f.fixture} |${cells.join('')}${torchCells}`);
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', quick ? 'accuracy-quick.json' : 'accuracy.json');
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s; written ${file}`);
