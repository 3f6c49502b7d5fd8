// `npm start`: the main job on the shipped demo model (models/pt-numbers,
// Brazilian-Portuguese number words -> digits, trained by tools/). Shows a few
// examples, evaluates the held-out set with a progress bar, and measures the
// native backend next to the pure-TypeScript reference on the same inputs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SingleBar, Presets } from 'cli-progress';
import { Transformer } from '../model/transformer.js';
import { info } from '../runtime.js';
import { generate } from '../generate/generate.js';
import { generateText, requireTokenizer } from './text.js';

interface Example {
  text: string;
  digits: string;
}

const MODEL_DIR = fileURLToPath(new URL('../../models/pt-numbers/', import.meta.url));
const BATCH = 64;
const MAX_NEW_TOKENS = 8; // at most 6 digits, then EOS
const REFERENCE_EXAMPLES = 64;
const BEAM_EXAMPLES = 500;

/** Runs `texts` through the model in batches; returns outputs and generated tokens per second (EOS counted). */
function run(model: Transformer, texts: string[], onBatch?: (done: number) => void): { outputs: string[]; tokensPerSecond: number } {
  requireTokenizer(model, MODEL_DIR);
  const outputs: string[] = [];
  let seconds = 0;
  for (let i = 0; i < texts.length; i += BATCH) {
    const batch = texts.slice(i, i + BATCH);
    const t0 = performance.now();
    outputs.push(...generateText(model, batch, { maxNewTokens: MAX_NEW_TOKENS }));
    seconds += (performance.now() - t0) / 1000;
    onBatch?.(outputs.length);
  }
  const tokens = outputs.reduce((n, o) => n + Array.from(o).length + 1, 0);
  return { outputs, tokensPerSecond: tokens / seconds };
}

function main(): void {
  const started = performance.now();
  const about = info();
  const t0 = performance.now();
  const model = Transformer.load(MODEL_DIR, { backend: 'native' });
  const loadMs = performance.now() - t0;
  const c = model.config;
  console.log(`aiayn ${about.version}: native kernels (${about.isa}, ${about.threads} threads)`);
  console.log(
    `model models/pt-numbers: ${c.encoderLayers}+${c.decoderLayers} layers, dModel ${c.dModel}, ${c.heads} heads, ` +
      `vocabulary ${c.srcVocab}, loaded in ${loadMs.toFixed(0)} ms\n`,
  );

  const heldout = JSON.parse(readFileSync(`${MODEL_DIR}heldout.json`, 'utf8')) as Example[];
  const shown = heldout.slice(0, 8);
  const { outputs: shownOut } = run(model, shown.map((e) => e.text));
  console.log('Brazilian-Portuguese number words -> digits (held-out examples, never seen in training):');
  shown.forEach((e, i) => console.log(`  ${shownOut[i] === e.digits ? '✓' : '✗'} ${e.text} -> ${shownOut[i]}`));

  console.log(`\nEvaluating ${heldout.length} held-out examples (greedy, batch ${BATCH}):`);
  const bar = new SingleBar({ format: '  {bar} {value}/{total} examples', hideCursor: true }, Presets.shades_classic);
  bar.start(heldout.length, 0);
  const all = run(model, heldout.map((e) => e.text), (done) => bar.update(done));
  bar.stop();
  const correct = all.outputs.filter((o, i) => o === heldout[i].digits).length;
  console.log(`  exact match: ${correct}/${heldout.length} = ${((100 * correct) / heldout.length).toFixed(2)}%`);
  const wrong = heldout.map((e, i) => [e, all.outputs[i]] as const).filter(([e, o]) => o !== e.digits).slice(0, 5);
  for (const [e, o] of wrong) console.log(`  ✗ ${e.text} -> ${o} (expected ${e.digits})`);

  requireTokenizer(model, MODEL_DIR);
  const beamSet = heldout.slice(0, BEAM_EXAMPLES);
  const beams = generate(model, beamSet.map((e) => e.text), { maxNewTokens: MAX_NEW_TOKENS, numBeams: 4, numReturnSequences: 2 });
  const beamCorrect = beams.filter((g, i) => g.sequences[0].text === beamSet[i].digits).length;
  const greedyCorrect = beamSet.filter((e, i) => all.outputs[i] === e.digits).length;
  console.log(`
Beam search (4 beams) on the first ${beamSet.length}: ${beamCorrect} exact (greedy: ${greedyCorrect}); the two best of one:`);
  beams[0].sequences.forEach((s) => console.log(`  ${beamSet[0].text} -> ${s.text}  (log-prob / length ${s.score.toFixed(4)})`));

  const subset = heldout.slice(0, REFERENCE_EXAMPLES).map((e) => e.text);
  const reference = Transformer.load(MODEL_DIR, { backend: 'reference' });
  const ref = run(reference, subset);
  const nat = run(model, subset);
  console.log(`\nSpeed on the same ${subset.length} inputs (generated tokens/s, batch ${BATCH}):`);
  console.log(`  native    ${nat.tokensPerSecond.toFixed(0).padStart(9)}`);
  console.log(`  reference ${ref.tokensPerSecond.toFixed(0).padStart(9)}   (pure TypeScript)`);
  console.log(`  native is ${(nat.tokensPerSecond / ref.tokensPerSecond).toFixed(0)}x faster; over all ${heldout.length}: ${all.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  model.dispose();
  reference.dispose();
}

main();
