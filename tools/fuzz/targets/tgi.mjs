// POST /generate and /generate_stream bodies (Text Generation Inference's API).
import { join } from 'node:path';
import { DIST, utf8 } from './common.mjs';
import { serveTarget } from './serve-stub.mjs';

const tgi = await import(join(DIST, 'serve/tgi.js'));

const SEEDS = [
  { inputs: 'dois mil e vinte' },
  { inputs: 'um', parameters: { max_new_tokens: 5, do_sample: true, temperature: 0.8, top_k: 3, top_p: 0.9, seed: 1, details: true } },
  { inputs: 'tres', parameters: { num_beams: 2, length_penalty: 1, early_stopping: true, repetition_penalty: 1.2, no_repeat_ngram_size: 2, min_new_tokens: 1 } },
  { inputs: 'x', parameters: { best_of: 2, do_sample: true, details: true, stop: [], return_full_text: false, decoder_input_details: false, watermark: false, top_n_tokens: 0, frequency_penalty: 0, target_language: 'fra_Latn' } },
];

export default serveTarget({
  name: 'tgi',
  // Both routes parse the same body; /generate_stream refuses best_of > 1.
  handlers: [tgi.generate, tgi.generateStream],
  seeds: () => SEEDS.map((s) => utf8(JSON.stringify(s))),
  dictionary: ['inputs', 'parameters', 'max_new_tokens', 'do_sample', 'temperature', 'top_k', 'top_p', 'best_of', 'num_beams', 'details', 'seed', 'never'],
});
