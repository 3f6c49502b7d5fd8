// The public surface of aiayn.
export { Tensor, type Shape } from './tensor.js';
export { sinusoidalPositions } from './positions.js';
export type {
  Activation,
  AttentionOptions,
  Backend,
  EmbeddingOptions,
  LayerNormOptions,
  LinearOptions,
  LinearWeights,
  RowOptions,
} from './backend/backend.js';
export { native } from './backend/native.js';
export { reference } from './backend/reference.js';
export { getBackend, info, setThreads, type BackendName, type Info } from './runtime.js';
export { CharTokenizer, type CharTokenizerJSON, type EncodeOptions, type EncodedBatch } from './tokenizer/char.js';
export {
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type SafetensorsFile,
  type SafetensorsReader,
} from './io/safetensors.js';
export { Transformer, type GenerateOptions, type TokenBatch, type TransformerOptions } from './model/transformer.js';
export { resolveConfig, type TransformerConfig } from './model/config.js';
export { KVCache } from './generate/kvcache.js';
