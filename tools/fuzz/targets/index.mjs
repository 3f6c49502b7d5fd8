// Every fuzz target, by name (imported on demand: each loads its part of dist/).
export const TARGETS = {
  safetensors: () => import('./safetensors.mjs'),
  'shard-index': () => import('./shard-index.mjs'),
  'model-config': () => import('./model-config.mjs'),
  'model-load': () => import('./model-load.mjs'),
  'generation-config': () => import('./generation-config.mjs'),
  'tokenizer-json': () => import('./tokenizer-json.mjs'),
  'tokenizer-config': () => import('./tokenizer-config.mjs'),
  sentencepiece: () => import('./sentencepiece.mjs'),
  'marian-vocab': () => import('./marian-vocab.mjs'),
  'm2m100-vocab': () => import('./m2m100-vocab.mjs'),
  char: () => import('./char.mjs'),
  openai: () => import('./openai.mjs'),
  tgi: () => import('./tgi.mjs'),
};

export async function loadTarget(name) {
  const load = TARGETS[name];
  if (!load) throw new RangeError(`--target must be one of ${Object.keys(TARGETS).join(', ')}, got ${JSON.stringify(name)}`);
  return (await load()).default;
}
