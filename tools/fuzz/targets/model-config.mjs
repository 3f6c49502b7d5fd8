// config.json of a model directory: aiayn's own fields, or a Hugging Face
// snapshot's mapped by its family (model_type picks the fixture snapshot the
// rest of the directory comes from), read whole by readModelDir.
import { join } from 'node:path';
import { DIST, HF, REPO, linkedFixture, read, remove, write } from './common.mjs';

const { readModelDir } = await import(join(DIST, 'io/model-dir.js'));

const FIXTURES = ['bart', 'm2m100', 'marian', 'marian-separate', 'mbart', 'nllb', 't5', 't5-gated'];

/** The fixture whose other files suit this config.json (parsed loosely: an unparsable one gets aiayn's). */
function fixtureFor(input) {
  let json;
  try {
    json = JSON.parse(new TextDecoder().decode(input));
  } catch {
    return 'aiayn';
  }
  const type = json?.model_type;
  if (type === 't5') return json.feed_forward_proj === 'gated-gelu' ? 't5-gated' : 't5';
  if (type === 'marian') return json.share_encoder_decoder_embeddings === false ? 'marian-separate' : 'marian';
  if (type === 'm2m_100') return json.vocab_size > 200 ? 'nllb' : 'm2m100';
  if (type === 'bart' || type === 'mbart') return type;
  return 'aiayn';
}

export default {
  name: 'model-config',
  kind: 'json',
  maxLength: 1 << 16,
  dictionary: ['model_type', 'marian', 'bart', 'mbart', 'm2m_100', 't5', 'd_model', 'vocab_size', 'max_position_embeddings', 'n_positions'],
  seeds: () => [read('models/pt-numbers/config.json'), ...FIXTURES.map((f) => read('test/fixtures/hf', f, 'config.json'))],
  setup() {
    const dirs = { aiayn: linkedFixture('config-aiayn', join(REPO, 'models/pt-numbers'), 'config.json') };
    for (const f of FIXTURES) dirs[f] = linkedFixture(`config-${f}`, join(HF, f), 'config.json');
    return { dirs, dir: undefined };
  },
  teardown(s) {
    Object.values(s.dirs).forEach(remove);
  },
  run(s, input) {
    s.dir = s.dirs[fixtureFor(input)];
    write(join(s.dir, 'config.json'), input);
    return readModelDir(s.dir);
  },
  expect: (s) => ({ names: [s.dir] }),
};
