// Converts the PyTorch-trained pt-BR number model into an aiayn model directory and
// evaluates it with aiayn.
//
//   npm run build
//   node tools/convert_pt_numbers.mjs [/tmp/pt-numbers.safetensors]
//
// Reads the state_dict written by tools/train_pt_numbers.py (tutorial names, F32) with
// models/pt-numbers/config.json and tokenizer.json, writes models/pt-numbers/ with
// model.save(), then reloads that directory and greedy-decodes every example of
// heldout.json (source = characters + <eos>, as in training). Prints the exact-match
// accuracy and the agreement with PyTorch's own greedy output (pytorch_predictions.json);
// exits 1 unless every one of those predictions is reproduced.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CharTokenizer, Transformer, generate } from '../dist/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_DIR = join(ROOT, 'models/pt-numbers');
const MAX_NEW_TOKENS = 8;
const BATCH = 250;

function readJSON(name) {
  return JSON.parse(readFileSync(join(MODEL_DIR, name), 'utf8'));
}

function convert(weightsFile) {
  const config = readJSON('config.json');
  const tokenizer = CharTokenizer.load(join(MODEL_DIR, 'tokenizer.json'));
  const model = Transformer.fromPyTorch(weightsFile, config, { tokenizer });
  model.save(MODEL_DIR);
  model.dispose();
}

/** Greedy digits for each text, in batches. */
function predict(model, texts) {
  const out = [];
  for (let i = 0; i < texts.length; i += BATCH) {
    const src = texts.slice(i, i + BATCH).map((t) => model.tokenizer.encode(t, { eos: true }));
    for (const g of generate(model, src, { maxNewTokens: MAX_NEW_TOKENS })) out.push(model.tokenizer.decode(g.sequences[0].ids));
  }
  return out;
}

function main() {
  const weightsFile = process.argv[2] ?? '/tmp/pt-numbers.safetensors';
  convert(weightsFile);
  const model = Transformer.load(MODEL_DIR);
  const heldout = readJSON('heldout.json');
  const reference = readJSON('pytorch_predictions.json');

  const start = performance.now();
  const predictions = predict(model, heldout.map((e) => e.text));
  const seconds = (performance.now() - start) / 1000;
  model.dispose();

  const correct = predictions.filter((p, i) => p === heldout[i].digits).length;
  const pt = reference.predictions;
  const agree = pt.filter((p, i) => p === predictions[i]).length;
  console.log(`wrote ${MODEL_DIR} from ${weightsFile}`);
  console.log(`aiayn greedy on ${heldout.length} held-out examples: ${correct}/${heldout.length} exact ` +
    `(${((100 * correct) / heldout.length).toFixed(2)}%), ${seconds.toFixed(2)}s`);
  console.log(`PyTorch on the same: ${reference.correct}/${reference.examples} ` +
    `(${(100 * reference.accuracy).toFixed(2)}%)`);
  console.log(`agreement with PyTorch's greedy output on the first ${pt.length}: ${agree}/${pt.length}`);
  for (let i = 0; i < pt.length; i++) {
    if (pt[i] !== predictions[i]) console.log(`  differs: ${JSON.stringify(heldout[i].text)}: aiayn ${predictions[i]}, PyTorch ${pt[i]}`);
  }
  if (agree !== pt.length) process.exitCode = 1;
}

main();
