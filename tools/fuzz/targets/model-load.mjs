// config.json as model-config.mjs fuzzes it, one step further: the model is
// built from the directory (Transformer.load on the reference backend), where
// config sizes decide what is computed at load (e.g. T5's relative-position table).
import { join } from 'node:path';
import { DIST } from './common.mjs';
import modelConfig from './model-config.mjs';

const { Transformer } = await import(join(DIST, 'index.js'));

export default {
  ...modelConfig,
  name: 'model-load',
  run(s, input) {
    modelConfig.run(s, input); // writes config.json into the directory it picks, and reads it
    Transformer.load(s.dir, { backend: 'reference' }).dispose();
  },
  // Load errors name the file, or the config field (config.maxPositions ...) of the model being built.
  expect: (s) => ({ names: [s.dir, 'config.'] }),
};
