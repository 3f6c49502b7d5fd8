// generation_config.json: read as generation defaults, then checked as a model
// directory's are at load (as every generate() call resolves them), against the demo model's config.
import { join } from 'node:path';
import { DIST, HF, read, remove, scratch, write } from './common.mjs';

const { checkGenerationDefaults, readGenerationConfig } = await import(join(DIST, 'io/generation-config.js'));
const { resolveConfig } = await import(join(DIST, 'model/config.js'));

const config = resolveConfig(JSON.parse(new TextDecoder().decode(read('models/pt-numbers/config.json'))));

export default {
  name: 'generation-config',
  kind: 'json',
  maxLength: 1 << 16,
  dictionary: ['max_length', 'max_new_tokens', 'num_beams', 'do_sample', 'top_k', 'top_p', 'temperature', 'bad_words_ids', 'eos_token_id', 'forced_eos_token_id', 'early_stopping', 'never'],
  seeds: () => ['bart', 'm2m100', 'marian', 'mbart', 'nllb', 't5'].map((f) => read('test/fixtures/hf', f, 'generation_config.json')),
  setup() {
    const dir = scratch('generation-config');
    return { dir, path: join(dir, 'generation_config.json') };
  },
  teardown(s) {
    remove(s.dir);
  },
  run(s, input) {
    write(s.path, input);
    const { defaults } = readGenerationConfig(s.path);
    checkGenerationDefaults(defaults, config, s.path);
    return defaults;
  },
  expect: (s) => ({ names: [s.path] }),
};
