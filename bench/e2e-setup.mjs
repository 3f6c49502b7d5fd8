// What bench/prepare.mjs makes and bench/e2e.mjs uses: the two configs, where
// their files live, and which peers are present.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Transformer } from '../dist/index.js';

export const benchDir = fileURLToPath(new URL('.', import.meta.url));
export const root = fileURLToPath(new URL('..', import.meta.url));

// The tutorial's special ids; maxPositions covers the longest workload (128 source tokens).
const ids = { unkId: 0, padId: 1, bosId: 2, eosId: 3 };
export const CONFIGS = {
  small: {
    seed: 2,
    config: { dModel: 256, heads: 4, dFF: 1024, encoderLayers: 3, decoderLayers: 3, srcVocab: 8000, tgtVocab: 8000, maxPositions: 128, ...ids },
  },
  base: {
    seed: 1,
    config: { dModel: 512, heads: 8, dFF: 2048, encoderLayers: 6, decoderLayers: 6, srcVocab: 32000, tgtVocab: 32000, maxPositions: 128, ...ids },
  },
};

export const modelDir = (name) => `${benchDir}models/${name}`;
export const onnxDir = (name) => `${benchDir}onnx/${name}`;
export const ONNX_FILES = ['encoder.onnx', 'decoder.onnx', 'decoder_with_past.onnx'];
// The dev-only venv (torch 2.13.0+cpu, onnx, onnxruntime): Debian's torch 1.13 ran its reference BLAS.
export const PYTHON = `${root}.venv/bin/python`;
export const peersDir = `${benchDir}peers/`;
export const ortDir = `${peersDir}node_modules/onnxruntime-node`;
export const DTYPES = ['fp32', 'bf16', 'int8'];
/** Where the ONNX exports of `dtype` are: int8 is onnxruntime's quantize_dynamic of the fp32 ones; no bf16. */
export const onnxFiles = (name, dtype) => ({ fp32: onnxDir(name), int8: `${onnxDir(name)}/int8` })[dtype];

/** Identifies a model file, so exports made from an older one are not taken for its peers. */
export function fingerprint(file) {
  const s = statSync(file);
  return `${s.size}:${Math.round(s.mtimeMs)}`;
}

/** Writes bench/models/<name> from its seed unless it is there; returns the directory. */
export function ensureModel(name) {
  const dir = modelDir(name);
  if (!existsSync(`${dir}/model.safetensors`)) {
    const { config, seed } = CONFIGS[name];
    const model = Transformer.random(config, { seed });
    model.save(dir);
    model.dispose();
  }
  return dir;
}

/** Why the ONNX exports of `name` cannot be used, or null when they can. */
export function onnxProblem(name) {
  const dir = onnxDir(name);
  if (!existsSync(`${dir}/meta.json`)) return `no ONNX exports in bench/onnx/${name} (npm run bench:prepare makes them with the dev-only venv's Python)`;
  const meta = JSON.parse(readFileSync(`${dir}/meta.json`, 'utf8'));
  if (meta.model !== fingerprint(`${modelDir(name)}/model.safetensors`)) {
    return `bench/onnx/${name} was exported from another bench/models/${name} (run npm run bench:prepare)`;
  }
  if (![...ONNX_FILES, 'quantization.json'].every((f) => existsSync(`${onnxFiles(name, 'int8')}/${f}`))) {
    return `bench/onnx/${name} has no int8 exports (run npm run bench:prepare)`;
  }
  return null;
}

/** Why the PyTorch peer (and the exports) cannot run, or null when they can. */
export function torchProblem() {
  const r = spawnSync(PYTHON, ['-c', 'import torch, onnx, onnxruntime.quantization'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (the dev-only venv: torch 2.13.0+cpu, onnx, onnxruntime)`;
  if (r.status !== 0) return `${PYTHON} lacks torch, onnx or onnxruntime`;
  return null;
}

/** Source rows of non-special ids from a fixed LCG: the same for every engine and benchmark. */
export function sources(config, B, S, seed) {
  const special = new Set([config.padId, config.bosId, config.eosId, config.unkId]);
  const pool = Array.from({ length: config.srcVocab }, (_, i) => i).filter((i) => !special.has(i));
  let s = seed >>> 0;
  return Array.from({ length: B }, () =>
    Array.from({ length: S }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return pool[s % pool.length];
    }),
  );
}
