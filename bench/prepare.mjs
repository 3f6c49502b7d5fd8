// Prepares the end-to-end benchmark (bench/e2e.mjs): the two random models,
// onnxruntime-node in bench/peers (kept out of aiayn's dependencies), and the
// ONNX exports of the same weights, fp32 and int8 (the venv's torch and
// onnxruntime). Every step says what is missing and the rest go on; e2e then
// runs without that peer.
// Usage: npm run bench:prepare [-- --config small|base] [--force]
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  CONFIGS, ONNX_FILES, PYTHON, ensureModel, fingerprint, modelDir, onnxDir, onnxFiles, onnxProblem, ortDir, peersDir,
  root, torchProblem,
} from './e2e-setup.mjs';

const argv = process.argv.slice(2);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const force = argv.includes('--force');
const names = option('--config') ? [option('--config')] : Object.keys(CONFIGS);
for (const n of names) if (!CONFIGS[n]) throw new RangeError(`--config must be one of ${Object.keys(CONFIGS).join(', ')}, got ${n}`);
const missing = [];

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', ...opts });

for (const name of names) {
  if (force) rmSync(modelDir(name), { recursive: true, force: true });
  if (existsSync(`${modelDir(name)}/model.safetensors`)) {
    console.log(`model ${name}: bench/models/${name} is there`);
    continue;
  }
  const t0 = performance.now();
  ensureModel(name);
  console.log(`model ${name}: wrote bench/models/${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const pinned = JSON.parse(readFileSync(`${peersDir}package.json`, 'utf8')).dependencies['onnxruntime-node'];
const installed = existsSync(`${ortDir}/package.json`) ? JSON.parse(readFileSync(`${ortDir}/package.json`, 'utf8')).version : null;
if (installed === pinned) {
  console.log(`onnxruntime-node ${pinned}: already in bench/peers`);
} else {
  console.log(`onnxruntime-node ${pinned}: installing into bench/peers (about 290 MB)`);
  // bench/peers/.npmrc skips its CUDA download; the environment says so too, for npm versions that warn on unknown keys.
  const r = run('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: peersDir,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  if (r.status !== 0) missing.push('onnxruntime-node (npm install in bench/peers failed)');
}

const torchMissing = torchProblem();
if (torchMissing) {
  missing.push(`PyTorch and the ONNX exports: ${torchMissing}`);
} else {
  for (const name of names) {
    if (!force && onnxProblem(name) === null) {
      console.log(`ONNX ${name}: bench/onnx/${name} is up to date`);
      continue;
    }
    console.log(`ONNX ${name}: exporting bench/models/${name} to bench/onnx/${name}`);
    const t0 = performance.now();
    const out = onnxDir(name);
    rmSync(out, { recursive: true, force: true });
    const r = run(PYTHON, ['tools/bench_peers.py', 'export', '--model', modelDir(name), '--out', out, '--int8', onnxFiles(name, 'int8')], { cwd: root });
    if (r.status === 0 && ['fp32', 'int8'].every((d) => ONNX_FILES.every((f) => existsSync(`${onnxFiles(name, d)}/${f}`)))) {
      writeFileSync(`${out}/meta.json`, JSON.stringify({ model: fingerprint(`${modelDir(name)}/model.safetensors`) }) + '\n');
      console.log(`ONNX ${name}: done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    } else {
      missing.push(`ONNX exports of ${name} (tools/bench_peers.py export failed)`);
    }
  }
}

console.log(missing.length ? `\nmissing (npm run bench:e2e runs without them):\n- ${missing.join('\n- ')}` : '\nall peers ready: npm run bench:e2e');
