// The public surface of aiayn.
export { Tensor, type Shape } from './tensor.js';
export { sinusoidalPositions } from './positions.js';
export type {
  Activation,
  AttentionOptions,
  Backend,
  DecoderLayerParams,
  DecoderStepInputs,
  DecoderStepPlan,
  DecoderStepSpec,
  EmbeddingOptions,
  GluOptions,
  LayerNormOptions,
  LinearOptions,
  LinearPackOptions,
  LinearWeights,
  NormParams,
  RmsNormOptions,
  RowOptions,
  TopKOptions,
  WeightDType,
} from './backend/backend.js';
export { bf16Round, quantizeRows, type Int8Rows } from './backend/dtypes.js';
export { EmbeddingTable, type EmbeddingDType } from './backend/embedding-table.js';
export { native } from './backend/native.js';
export { reference } from './backend/reference.js';
export { getBackend, info, setThreads, type BackendName, type Info } from './runtime.js';
export { CharTokenizer, type CharTokenizerJSON, type EncodeOptions, type EncodedBatch } from './tokenizer/char.js';
export type { Tokenizer, TokenizerEncodeOptions, TokenizerDecodeOptions } from './tokenizer/tokenizer.js';
export { loadTokenizer } from './tokenizer/load.js';
export { HFTokenizer } from './tokenizer/hf-tokenizer.js';
export { MarianTokenizer, type MarianDecodeOptions } from './tokenizer/marian.js';
export { M2M100Tokenizer } from './tokenizer/m2m100.js';
export { SentencePieceTokenizer } from './tokenizer/sentencepiece-tokenizer.js';
export {
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type SafetensorsFile,
  type SafetensorsReader,
} from './io/safetensors.js';
export { Transformer, type TokenBatch, type TransformerOptions } from './model/transformer.js';
export type { DecodeState } from './model/decode-state.js';
export { resolveConfig, type FeedForwardActivation, type PositionKind, type TransformerConfig } from './model/config.js';
export { generate } from './generate/generate.js';
export type { LanguageOptions } from './generate/text.js';
export { FAMILIES } from './families/index.js';
export type { Family, HFConfig, Recipe } from './families/family.js';
export type { FinishReason, GeneratedSequence, Generation, GenerationOptions } from './generate/options.js';
export {
  Engine,
  EngineClosedError,
  EngineDownError,
  KvBudgetError,
  QueueFullError,
  type CrashEvent,
  type EngineState,
  type RestartOptions,
  type EngineGeneration,
  type EngineInput,
  type EngineOptions,
  type EngineSequence,
  type EngineStats,
  type RequestOptions,
  type StepEvent,
  type StreamPiece,
} from './serve/engine.js';
export {
  createServer,
  serve,
  type AiaynServer,
  type ServeOptions,
  type ServerLimits,
  type ServerOptions,
  type Serving,
} from './serve/http.js';
