// A Hugging Face snapshot's generation_config.json as aiayn's generation
// defaults (GenerationOptions, camel-cased names). Settings that would change
// the output and that aiayn cannot honour are errors naming the field, never
// silently dropped; bookkeeping fields are ignored.
import { readFileSync } from 'node:fs';
import { describe } from '../tensor.js';
import { resolveGenerationOptions, type GenerationOptions } from '../generate/options.js';
import type { TransformerConfig } from '../model/config.js';

/** generation_config.json's ids that configure the model rather than a search. */
export interface GenerationIds {
  decoderStartTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

export interface GenerationConfig {
  defaults: GenerationOptions;
  ids: GenerationIds;
}

const OPTIONS: Readonly<Record<string, keyof GenerationOptions>> = {
  max_length: 'maxLength',
  max_new_tokens: 'maxNewTokens',
  min_new_tokens: 'minNewTokens',
  num_beams: 'numBeams',
  length_penalty: 'lengthPenalty',
  early_stopping: 'earlyStopping',
  num_return_sequences: 'numReturnSequences',
  do_sample: 'doSample',
  temperature: 'temperature',
  top_k: 'topK',
  top_p: 'topP',
  repetition_penalty: 'repetitionPenalty',
  no_repeat_ngram_size: 'noRepeatNgramSize',
  bad_words_ids: 'badWordsIds',
  forced_bos_token_id: 'forcedBosTokenId',
  forced_eos_token_id: 'forcedEosTokenId',
  renormalize_logits: 'renormalizeLogits',
};

/** OPTIONS backwards: an option's generation_config.json field. */
const FIELDS: ReadonlyMap<string, string> = new Map(Object.entries(OPTIONS).map(([field, option]) => [option as string, field]));

/** Fields that do not change which tokens come out. */
const IGNORED = new Set([
  '_from_model_config', 'transformers_version', 'bos_token_id', 'use_cache', 'output_scores', 'output_attentions',
  'output_hidden_states', 'return_dict_in_generate', 'output_logits', 'num_assistant_tokens', 'num_assistant_tokens_schedule',
  'cache_implementation', 'is_assistant',
]);

/** Fields whose value is allowed only when it is the no-op one. */
const NO_OP: Readonly<Record<string, unknown>> = {
  min_length: 0, num_beam_groups: 1, diversity_penalty: 0, typical_p: 1, epsilon_cutoff: 0, eta_cutoff: 0,
  encoder_repetition_penalty: 1, encoder_no_repeat_ngram_size: 0, guidance_scale: 1, suppress_tokens: null,
  begin_suppress_tokens: null, sequence_bias: null, exponential_decay_length_penalty: null, force_words_ids: null,
  constraints: null, min_p: null, top_h: null, penalty_alpha: null, low_memory: null, remove_invalid_values: false,
  max_time: null, stop_strings: null, watermarking_config: null, token_healing: false, dola_layers: null,
};

/** A single id, or a one-id list (HF allows several EOS ids; aiayn's generation ends at one). */
function oneId(file: string, key: string, value: unknown): number {
  const v = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Error(`${file}: "${key}" must be one token id, got ${describe(value)}${Array.isArray(value) ? ' (aiayn ends generation at one EOS id)' : ''}`);
  }
  return v;
}

/** Reads the generation settings of `json` (generation_config.json, or config.json when there is none); `file` names it in errors. */
export function parseGenerationConfig(json: Readonly<Record<string, unknown>>, file: string, strict = true): GenerationConfig {
  const defaults: Record<string, unknown> = {};
  const ids: GenerationIds = {};
  for (const [key, value] of Object.entries(json)) {
    if (value === undefined || value === null) continue;
    if (key === 'decoder_start_token_id') ids.decoderStartTokenId = oneId(file, key, value);
    else if (key === 'eos_token_id') ids.eosTokenId = oneId(file, key, value);
    else if (key === 'pad_token_id') ids.padTokenId = oneId(file, key, value);
    else if (Object.hasOwn(OPTIONS, key)) defaults[OPTIONS[key]] = key === 'forced_eos_token_id' ? oneId(file, key, value) : value;
    else if (Object.hasOwn(NO_OP, key)) {
      if (JSON.stringify(value) !== JSON.stringify(NO_OP[key]) && !(NO_OP[key] === null && Array.isArray(value) && value.length === 0)) {
        throw new Error(`${file}: "${key}" = ${describe(value)} is not supported by aiayn (remove it to generate without it)`);
      }
    } else if (strict && !IGNORED.has(key)) {
      throw new Error(`${file}: unknown generation setting "${key}" (remove it to load the model without it)`);
    }
  }
  // transformers' own default when the file sets none.
  if (defaults.maxLength === undefined && defaults.maxNewTokens === undefined) defaults.maxLength = 20;
  return { defaults: defaults as GenerationOptions, ids };
}

/** Generation defaults as generation_config.json writes them (snake_case), for parseGenerationConfig to read back. */
export function generationConfigJson(defaults: GenerationOptions): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(defaults)) {
    const name = FIELDS.get(key);
    if (name === undefined) throw new RangeError(`generation default ${JSON.stringify(key)} has no generation_config.json field`);
    if (value !== undefined) json[name] = value;
  }
  return json;
}

/**
 * Checks generation defaults once, at load, as every generate() call resolves
 * them: a bad value is an Error naming `file` and its field ("num_beams", not
 * options.numBeams), not an error on each request (a server would answer
 * every client 400 for a field none of them sent).
 */
export function checkGenerationDefaults(defaults: GenerationOptions, config: Readonly<TransformerConfig>, file: string): void {
  try {
    resolveGenerationOptions({}, config, [], defaults);
  } catch (error) {
    const message = (error as Error).message.replace(/options\.(\w+)/g, (name, option: string) => (FIELDS.has(option) ? `"${FIELDS.get(option)}"` : name));
    throw new Error(`${file}: ${message}`, { cause: error });
  }
}

/** generation_config.json at `path`. */
export function readGenerationConfig(path: string): GenerationConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: cannot read the generation config (${(error as Error).message})`, { cause: error });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: must be a JSON object, got ${describe(json)}`);
  return parseGenerationConfig(json as Record<string, unknown>, path);
}
