// Model directories: aiayn's own (config.json with our fields, model.safetensors
// in our names, tokenizer.json) and Hugging Face snapshots as downloaded
// (config.json with a model_type, generation_config.json, model.safetensors
// or its shards, the tokenizer's files). Reads and checks; the model is built
// by Transformer.load from what this returns.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from '../tensor.js';
import { resolveConfig, type TransformerConfig } from '../model/config.js';
import { checkLayerCount, checkWeights, scratchSource, type WeightMap, type WeightSource } from '../model/weights.js';
import type { GenerationOptions } from '../generate/options.js';
import { FAMILIES } from '../families/index.js';
import { recipeSource } from '../families/family.js';
import { CharTokenizer } from '../tokenizer/char.js';
import { loadTokenizer } from '../tokenizer/load.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { openCheckpoint } from './checkpoint.js';
import { checkGenerationDefaults, generationConfigJson, parseGenerationConfig, readGenerationConfig, type GenerationConfig } from './generation-config.js';
import { openSafetensors, writeSafetensors } from './safetensors.js';

export interface ModelDir {
  config: Readonly<TransformerConfig>;
  weights: WeightSource;
  tokenizer: Tokenizer | undefined;
  /** Generation defaults from generation_config.json (empty for aiayn's own directories without one). */
  generation: GenerationOptions;
  /** config.json's model_type, or 'aiayn'. */
  family: string;
}

function readJson(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read the ${what} (${(error as Error).message})`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: the ${what} must be a JSON object, got ${describe(json)}`);
  return json as Record<string, unknown>;
}

function resolveIn(file: string, config: Partial<TransformerConfig>): Readonly<TransformerConfig> {
  try {
    return resolveConfig(config);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** A Hugging Face snapshot: the family's config and weight mapping, with generation_config.json's start and end tokens. */
function readSnapshot(dir: string, hf: Record<string, unknown>, configPath: string): ModelDir {
  const type = hf.model_type;
  const family = typeof type === 'string' ? FAMILIES.get(type) : undefined;
  if (family === undefined) {
    throw new Error(`${configPath}: model_type ${describe(type)} is not supported (supported: ${[...FAMILIES.keys()].join(', ')})`);
  }
  const generationPath = join(dir, 'generation_config.json');
  const generation: GenerationConfig = existsSync(generationPath)
    ? readGenerationConfig(generationPath)
    : parseGenerationConfig(hf, configPath, false);
  const checkpoint = openCheckpoint(dir);
  const has = (name: string) => checkpoint.shapes.has(name);
  const mapped = family.config(hf, configPath, has);
  checkLayerCount({ encoderLayers: mapped.encoderLayers ?? 0, decoderLayers: mapped.decoderLayers ?? 0 }, checkpoint.shapes.size, configPath, checkpoint.source);
  const { decoderStartTokenId, eosTokenId } = generation.ids;
  if (eosTokenId !== undefined && eosTokenId !== mapped.eosId) {
    throw new Error(`${generationPath}: eos_token_id ${eosTokenId} differs from config.json's ${mapped.eosId}`);
  }
  const config = resolveIn(configPath, { ...mapped, ...(decoderStartTokenId !== undefined && { bosId: decoderStartTokenId }) });
  checkGenerationDefaults(generation.defaults, config, existsSync(generationPath) ? generationPath : configPath);
  const weights = recipeSource(family.recipes(config, hf, has), checkpoint, family.ignored);
  checkWeights(weights.shapes, config, checkpoint.source);
  return { config, weights, tokenizer: loadTokenizer(dir), generation: generation.defaults, family: type as string };
}

/** The weights of one safetensors file in aiayn's names, checked against `config` as a whole, read one tensor at a time. */
export function safetensorsSource(file: string, config: Readonly<TransformerConfig>): WeightSource {
  const reader = openSafetensors(file);
  checkWeights(reader.shapes, config, file);
  return scratchSource(reader.shapes, (name, scratch) => reader.read(name, scratch));
}

/** Reads model directory `dir` (either kind); every problem is an Error naming the file and field. */
export function readModelDir(dir: string): ModelDir {
  if (typeof dir !== 'string') throw new TypeError(`dir must be a string, got ${describe(dir)}`);
  const configPath = join(dir, 'config.json');
  const json = readJson(configPath, 'model config');
  if ('model_type' in json) return readSnapshot(dir, json, configPath);
  const config = resolveIn(configPath, json as Partial<TransformerConfig>);
  const generationPath = join(dir, 'generation_config.json');
  const generation = existsSync(generationPath) ? readGenerationConfig(generationPath).defaults : {};
  checkGenerationDefaults(generation, config, generationPath);
  return {
    config,
    weights: safetensorsSource(join(dir, 'model.safetensors'), config),
    tokenizer: loadTokenizer(dir),
    generation,
    family: 'aiayn',
  };
}

/** Writes `path` through a temporary file, so a crash never leaves half a file under the real name. */
function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/**
 * Writes an aiayn model directory: config.json, model.safetensors (aiayn's
 * names), generation_config.json when there are generation defaults, and
 * tokenizer.json for a CharTokenizer (other tokenizers' files are the
 * snapshot's own: copy them alongside).
 */
export function writeModelDir(
  dir: string, config: Readonly<TransformerConfig>, weights: WeightMap, tokenizer: Tokenizer | undefined, generation: GenerationOptions,
): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), weights, { format: 'pt', writer: 'aiayn' });
  writeAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  if (Object.keys(generation).length > 0) writeAtomic(join(dir, 'generation_config.json'), JSON.stringify(generationConfigJson(generation), null, 2) + '\n');
  if (tokenizer instanceof CharTokenizer) tokenizer.save(join(dir, 'tokenizer.json'));
}
