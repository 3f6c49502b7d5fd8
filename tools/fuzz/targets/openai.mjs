// POST /v1/completions bodies (OpenAI's legacy completions API).
import { join } from 'node:path';
import { DIST, utf8 } from './common.mjs';
import { serveTarget } from './serve-stub.mjs';

const openai = await import(join(DIST, 'serve/openai.js'));

const SEEDS = [
  { model: 'pt-numbers', prompt: 'dois mil e vinte', max_tokens: 8 },
  { prompt: ['um', 'dois'], max_tokens: 4, temperature: 0.7, top_p: 0.9, top_k: 5, seed: 3, n: 2 },
  { prompt: [5, 6, 7, 2], num_beams: 3, n: 2, length_penalty: 1.2, early_stopping: 'never', logprobs: 0 },
  { prompt: [[5, 6, 2], 'tres'], stream: true, stream_options: { include_usage: true }, min_tokens: 1, repetition_penalty: 1.1, no_repeat_ngram_size: 2 },
  { prompt: 'x', stop: [], echo: false, suffix: '', frequency_penalty: 0, presence_penalty: 0, logit_bias: {}, user: 'u', best_of: 1, target_language: 'fra_Latn', source_language: 'deu_Latn' },
];

export default serveTarget({
  name: 'openai',
  handlers: [openai.completions],
  seeds: () => SEEDS.map((s) => utf8(JSON.stringify(s))),
  dictionary: ['prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'best_of', 'num_beams', 'stream', 'stream_options', 'include_usage', 'logprobs', 'min_tokens', 'seed', 'never'],
});
