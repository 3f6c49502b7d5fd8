// Messages between the Engine (main thread) and its worker. Plain data only:
// they cross postMessage's structured clone.
import type { WeightDType } from '../backend/backend.js';
import type { TransformerConfig } from '../model/config.js';
import type { FinishReason, GeneratedSequence, GenerationOptions } from '../generate/options.js';
import type { LanguageOptions } from '../generate/text.js';
import { KvBudgetError } from './kv-budget.js';

export interface WorkerSetup {
  dir: string;
  backend: 'native' | 'reference';
  dtype: WeightDType;
  outputDtype: WeightDType;
  maxBatch: number;
  /** Bytes the decode state may hold (Infinity: no limit). */
  maxKvBytes: number;
  threads: number | undefined;
  nice: number;
}

/** A request's input: text (encoded by the model's tokenizer) or source ids. */
export type WireInput = { text: string } | { ids: number[] };

export type ToWorker =
  | { type: 'request'; id: number; input: WireInput; options: GenerationOptions & LanguageOptions; stream: boolean }
  | { type: 'cancel'; id: number }
  | { type: 'close' };

/** An Error as data: its class name picks the class it is rebuilt as. */
export interface WireError {
  name: string;
  message: string;
}

/** A sequence of a result, with its text when the model has a tokenizer. */
export interface EngineSequence extends GeneratedSequence {
  text?: string;
}

export interface EngineGeneration {
  sequences: EngineSequence[];
  /** Source tokens the request was encoded to. */
  promptTokens: number;
}

export interface WireToken {
  id: number;
  index: number;
  token: number;
  text: string;
  logprob?: number;
  special: boolean;
  finishReason?: FinishReason;
}

export type FromWorker =
  | { type: 'ready'; config: TransformerConfig; tokenizer: boolean; generation: GenerationOptions; languages: [string, number][] }
  | { type: 'fatal'; error: WireError }
  | { type: 'admitted'; ids: number[] }
  | { type: 'tokens'; tokens: WireToken[] }
  | { type: 'step'; rows: number; seconds: number; joined: number; kvBytes: number }
  | { type: 'done'; id: number; result: EngineGeneration }
  | { type: 'failed'; id: number; error: WireError }
  | { type: 'closed' }
  | { type: 'batch'; messages: FromWorker[] };

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** The Error a WireError describes, as its own class where it is a standard one. */
export function fromWireError(e: WireError): Error {
  const Class = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : e.name === 'KvBudgetError' ? KvBudgetError : Error;
  return new Class(e.message);
}
