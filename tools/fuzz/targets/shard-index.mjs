// model.safetensors.index.json: the weight map of a sharded snapshot (BART's
// fixture, four shards), opened and every listed tensor read.
import { join } from 'node:path';
import { DIST, HF, linkedFixture, read, remove, write } from './common.mjs';

const { openCheckpoint } = await import(join(DIST, 'io/checkpoint.js'));

export default {
  name: 'shard-index',
  kind: 'json',
  maxLength: 1 << 16,
  dictionary: ['weight_map', 'metadata', 'total_size', 'model-00001-of-00004.safetensors', '..', '.', '/etc/passwd', 'model.safetensors.index.json', 'config.json'],
  seeds: () => [read('test/fixtures/hf/bart/model.safetensors.index.json')],
  setup() {
    return { dir: linkedFixture('shard-index', join(HF, 'bart'), 'model.safetensors.index.json') };
  },
  teardown(s) {
    remove(s.dir);
  },
  run(s, input) {
    write(join(s.dir, 'model.safetensors.index.json'), input);
    const checkpoint = openCheckpoint(s.dir);
    for (const name of checkpoint.shapes.keys()) checkpoint.read(name);
    return checkpoint;
  },
  expect: (s) => ({ names: [s.dir] }),
};
