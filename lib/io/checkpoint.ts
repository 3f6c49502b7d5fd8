// The weights of a Hugging Face snapshot directory: `model.safetensors`, or
// shards listed by `model.safetensors.index.json`. Only safetensors are read:
// a pickle (`pytorch_model.bin`) can run code when it is loaded, so aiayn
// never opens one and says how to convert it instead.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, type Shape, type Tensor } from '../tensor.js';
import { openSafetensors, type SafetensorsReader } from './safetensors.js';

export interface Checkpoint {
  /** Every tensor's shape, over all shards. */
  readonly shapes: ReadonlyMap<string, Shape>;
  /** What the messages name: the file, or the index of the shards. */
  readonly source: string;
  /** One tensor as float32 (F16/BF16 widened); over `scratch` when given and large enough (see SafetensorsReader.read). */
  read(name: string, scratch?: ArrayBuffer): Tensor;
}

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const PICKLES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** A shard name from the index: a plain file name in `dir`, so an index cannot point anywhere else. */
function shardPath(dir: string, index: string, file: unknown, tensor: string): string {
  if (typeof file !== 'string' || file === '' || basename(file) !== file || file === '.' || file === '..' || file.includes('\0')) {
    throw new Error(`${index}: weight_map[${JSON.stringify(tensor)}] must be a file name in the snapshot directory, got ${JSON.stringify(file)}`);
  }
  return join(dir, file);
}

function openSharded(dir: string): Checkpoint {
  const index = join(dir, INDEX);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(index, 'utf8'));
  } catch (error) {
    throw new Error(`${index}: cannot read the shard index (${(error as Error).message})`, { cause: error });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${index}: must be a JSON object, got ${describe(json)}`);
  const map = (json as { weight_map?: unknown }).weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new Error(`${index}: "weight_map" must be an object of tensor name -> shard file`);
  }
  const readers = new Map<string, SafetensorsReader>();
  const owner = new Map<string, SafetensorsReader>();
  const shapes = new Map<string, Shape>();
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    const path = shardPath(dir, index, file, tensor);
    let reader = readers.get(path);
    if (reader === undefined) {
      reader = openSafetensors(path);
      readers.set(path, reader);
    }
    const shape = reader.shapes.get(tensor);
    if (shape === undefined) throw new Error(`${index}: tensor ${JSON.stringify(tensor)} is not in its shard ${path}`);
    owner.set(tensor, reader);
    shapes.set(tensor, shape);
  }
  return {
    shapes,
    source: index,
    read: (name, scratch) => {
      const reader = owner.get(name);
      if (reader === undefined) throw new Error(`${index}: no tensor ${JSON.stringify(name)}`);
      return reader.read(name, scratch);
    },
  };
}

/** Opens the weights of snapshot `dir`; a clear Error when there are none or only a pickle. */
export function openCheckpoint(dir: string): Checkpoint {
  if (existsSync(join(dir, INDEX))) return openSharded(dir);
  const single = join(dir, SINGLE);
  if (existsSync(single)) {
    const reader = openSafetensors(single);
    return { shapes: reader.shapes, source: single, read: (name, scratch) => reader.read(name, scratch) };
  }
  const pickle = PICKLES.find((f) => existsSync(join(dir, f)));
  if (pickle !== undefined) {
    throw new Error(
      `${join(dir, pickle)}: aiayn reads only safetensors (a pickle can run code when loaded). Convert it once with Python: ` +
      `python -c "from transformers import AutoModelForSeq2SeqLM as M; M.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)"`,
    );
  }
  throw new Error(`${dir}: no model weights (expected ${SINGLE} or ${INDEX})`);
}
