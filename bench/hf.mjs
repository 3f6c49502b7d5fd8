// aiayn next to Python transformers on the same Hugging Face snapshots (issue #10):
// an OPUS-MT-sized Marian and a t5-small-sized T5 with random weights, made by
// tools/hf_bench.py with save_pretrained into bench/models/hf-marian-base and
// bench/models/hf-t5-small. Workloads: greedy and 4 beams, batch 1 and 8,
// sources of 24 ids, exactly 32 new tokens per row on both sides
// (min_new_tokens = max_new_tokens = 32 / minNewTokens = maxNewTokens = 32: EOS
// banned until the last step, where Marian's generation_config forces it), 1 and
// 2 threads. tokens/s = B x 32 / wall time of one generate call (encoder
// included; beams count once), medians of several runs after a warm-up. Each
// engine runs in a child process of its own. Also: aiayn's generated ids
// against transformers' at 1 thread (greedy must agree; beam shown for
// information). Third column: onnxruntime-node (installed by npm run bench:prepare
// in bench/peers) on ONNX exports of the same snapshots with an explicit KV cache
// (tools/hf_bench.py export, into bench/onnx/hf-*; checked there against
// transformers' greedy ids), greedy and beams with the cache, its ids against aiayn's;
// n/a when the exports or onnxruntime-node are missing.
// Prints markdown tables and writes bench/results/hf.json (and hf-peers.json, the
// Python side as it ran); --quick writes hf-quick.json.
// Usage: npm run bench:hf [-- --quick] [--reuse-peers] [--threads 1,2] [--models marian,t5]
//   [--rounds N]: run both engines N times, interleaved; each cell keeps its best median (default 1)
//   [--max-wait S]: before each engine, wait up to S seconds for a quiet machine (default 60, 0 with --quick)
//   --reuse-peers: take the transformers side from bench/results/hf-peers.json instead of running Python
//   --quick: aiayn (and ORT when the exports of these snapshots are there; no Python), 1 thread, two timed runs per cell, for CI; when the snapshots are
//     missing it writes same-shaped random ones (its own weights) to a temporary directory
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, Transformer, generate, info, setThreads, writeSafetensors } from '../dist/index.js';
import { cpuTicks, othersCores, waitForQuiet } from './machine.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = `${root}.venv/bin/python`;
const PEERS_FILE = `${root}bench/results/hf-peers.json`;
const peersDir = `${root}bench/peers/`;
const ortDir = `${peersDir}node_modules/onnxruntime-node`;
const ORT_FILES = ['encoder.onnx', 'decoder.onnx', 'decoder_with_past.onnx', 'beam_step.onnx'];
const NEW_TOKENS = 32;
const SRC_LEN = 24;
// As tools/hf_bench.py: the seed of workload i is 1000 + i.
const WORKLOADS = [
  { name: 'greedy 1x24 +32', B: 1, numBeams: 1 },
  { name: 'greedy 8x24 +32', B: 8, numBeams: 1 },
  { name: 'beam4 1x24 +32', B: 1, numBeams: 4 },
  { name: 'beam4 8x24 +32', B: 8, numBeams: 4 },
];
const MODELS = {
  marian: { dir: 'bench/models/hf-marian-base', onnx: 'bench/onnx/hf-marian-base', title: 'Marian, OPUS-MT-sized (d 512, 6+6 layers, 8 heads, FFN 2048, vocab 58,101, swish, tied)' },
  t5: { dir: 'bench/models/hf-t5-small', onnx: 'bench/onnx/hf-t5-small', title: 'T5, t5-small-sized (d 512, d_kv 64, 8 heads, d_ff 2048, 6+6 layers, vocab 32,128, relu, tied)' },
};

/** As tools/hf_bench.py's `sources`: B rows of S - 1 non-special ids from an LCG, then EOS (special[0]). */
function sources(vocab, special, B, S, seed) {
  const banned = new Set(special);
  const pool = [];
  for (let i = 0; i < vocab; i++) if (!banned.has(i)) pool.push(i);
  let s = seed >>> 0;
  return Array.from({ length: B }, () => [
    ...Array.from({ length: S - 1 }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return pool[s % pool.length];
    }),
    special[0],
  ]);
}

/** EOS first, then the other ids sources avoid (tools/hf_bench.py's special_ids). */
function specialIds(dir) {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  return [...new Set([c.eos_token_id, c.pad_token_id, c.decoder_start_token_id, c.bos_token_id, c.unk_token_id].filter((x) => x !== undefined && x !== null))];
}

function fingerprint(dir) {
  const s = statSync(join(dir, 'model.safetensors'));
  return `${s.size}:${Math.round(s.mtimeMs)}`;
}

/** Why ORT cannot run on model `name` (snapshot in `dir`), or null. */
function ortProblem(name, dir) {
  if (!existsSync(join(ortDir, 'package.json'))) return 'onnxruntime-node is not in bench/peers (run npm run bench:prepare)';
  const out = join(root, MODELS[name].onnx);
  if (!existsSync(join(out, 'meta.json')) || !ORT_FILES.every((f) => existsSync(join(out, f)))) return `no ONNX exports in ${MODELS[name].onnx} (.venv/bin/python tools/hf_bench.py export)`;
  if (JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')).model !== fingerprint(dir)) return `${MODELS[name].onnx} was exported from another snapshot (.venv/bin/python tools/hf_bench.py export)`;
  return null;
}

/** [median seconds, runs]: one warm-up, then runs until minRuns and (maxRuns or the budget in seconds). */
function median(fn, { budget, minRuns, maxRuns }) {
  fn();
  const times = [];
  const start = performance.now();
  while (times.length < minRuns || (times.length < maxRuns && performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  return [n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2, n];
}

const log = (line) => process.stderr.write(`  ${line}\n`);

// --- quick mode without Python: same-shaped snapshots written here --------------------------

/** mulberry32 + Box-Muller: N(0, std) floats. */
function normals(n, std, seed) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(u()));
    const th = 2 * Math.PI * u();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

function synthesize(name, dir) {
  mkdirSync(dir, { recursive: true });
  const t = new Map();
  let seed = name === 'marian' ? 11 : 12;
  const rand = (key, shape, std) => t.set(key, new Tensor(normals(shape[0] * (shape[1] ?? 1), std, seed++), shape));
  const fill = (key, n, v) => t.set(key, new Tensor(new Float32Array(n).fill(v), [n]));
  const [D, F, L] = [512, 2048, 6];
  if (name === 'marian') {
    const V = 58101;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 'marian', architectures: ['MarianMTModel'], activation_function: 'swish', d_model: D, encoder_layers: L, decoder_layers: L,
      encoder_attention_heads: 8, decoder_attention_heads: 8, encoder_ffn_dim: F, decoder_ffn_dim: F, vocab_size: V, decoder_vocab_size: V,
      max_position_embeddings: 512, scale_embedding: true, share_encoder_decoder_embeddings: true, tie_word_embeddings: true,
      pad_token_id: 58100, eos_token_id: 0, bos_token_id: 0, decoder_start_token_id: 58100, forced_eos_token_id: 0,
    }));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({
      bad_words_ids: [[58100]], bos_token_id: 0, decoder_start_token_id: 58100, eos_token_id: 0, forced_eos_token_id: 0, max_length: 512, num_beams: 4, pad_token_id: 58100,
    }));
    rand('model.shared.weight', [V, D], 0.05);
    t.set('final_logits_bias', new Tensor(new Float32Array(V), [1, V]));
    for (const stack of ['encoder', 'decoder']) {
      for (let i = 0; i < L; i++) {
        const p = `model.${stack}.layers.${i}`;
        const linear = (n, o, k, std) => { rand(`${p}.${n}.weight`, [o, k], std); fill(`${p}.${n}.bias`, o, 0); };
        const norm = (n) => { fill(`${p}.${n}.weight`, D, 1); fill(`${p}.${n}.bias`, D, 0); };
        const attn = (n, std) => { for (const x of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${n}.${x}`, D, D, std); };
        attn('self_attn', 0.05);
        norm('self_attn_layer_norm');
        if (stack === 'decoder') { attn('encoder_attn', 0.02); norm('encoder_attn_layer_norm'); }
        linear('fc1', F, D, 0.05);
        linear('fc2', D, F, 0.05);
        norm('final_layer_norm');
      }
    }
  } else {
    const V = 32128;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 't5', architectures: ['T5ForConditionalGeneration'], d_model: D, d_kv: 64, num_heads: 8, d_ff: F, num_layers: L, num_decoder_layers: L,
      vocab_size: V, feed_forward_proj: 'relu', tie_word_embeddings: true, scale_decoder_outputs: true, layer_norm_epsilon: 1e-6,
      relative_attention_num_buckets: 32, relative_attention_max_distance: 128, pad_token_id: 0, eos_token_id: 1, decoder_start_token_id: 0,
    }));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 }));
    rand('shared.weight', [V, D], 0.05);
    for (const stack of ['encoder', 'decoder']) {
      for (let i = 0; i < L; i++) {
        const p = `${stack}.block.${i}.layer`;
        const attn = (n) => { for (const x of ['q', 'k', 'v', 'o']) rand(`${n}.${x}.weight`, [D, D], 0.05); };
        attn(`${p}.0.SelfAttention`);
        if (i === 0) rand(`${p}.0.SelfAttention.relative_attention_bias.weight`, [32, 8], 0.5);
        fill(`${p}.0.layer_norm.weight`, D, 1);
        if (stack === 'decoder') { attn(`${p}.1.EncDecAttention`); fill(`${p}.1.layer_norm.weight`, D, 1); }
        const ff = `${p}.${stack === 'encoder' ? 1 : 2}`;
        rand(`${ff}.DenseReluDense.wi.weight`, [F, D], 0.05);
        rand(`${ff}.DenseReluDense.wo.weight`, [D, F], 0.05);
        fill(`${ff}.layer_norm.weight`, D, 1);
      }
      fill(`${stack}.final_layer_norm.weight`, D, 1);
    }
  }
  writeSafetensors(join(dir, 'model.safetensors'), t, { format: 'pt' });
}

// --- the aiayn child ---------------------------------------------------------------------

function aiaynChild(job) {
  const out = { setup: '', models: {} };
  for (const m of job.models) {
    const model = Transformer.load(m.dir);
    const { eosId } = model.config;
    const options = (w) => ({ maxNewTokens: NEW_TOKENS, minNewTokens: NEW_TOKENS, numBeams: w.numBeams, doSample: false });
    const run = (w) => generate(model, w.src, options(w));
    // ids as transformers returns them after the start token: the EOS that ended a row included.
    setThreads(1);
    const ids = Object.fromEntries(m.workloads.map((w) => [w.name, run(w).map((g) => {
      const s = g.sequences[0];
      return s.finishReason === 'stop' ? [...s.ids, eosId] : s.ids;
    })]));
    const results = [];
    for (const threads of job.threads) {
      setThreads(threads);
      for (const w of m.workloads) {
        const [seconds, runs] = median(() => run(w), job.runs);
        results.push({ workload: w.name, threads, seconds, runs, tokensPerSecond: (w.B * NEW_TOKENS) / seconds });
        log(`aiayn ${m.name} ${threads}t ${w.name}: ${(seconds * 1e3).toFixed(1)} ms (${runs} runs), ${((w.B * NEW_TOKENS) / seconds).toFixed(0)} tokens/s`);
      }
    }
    model.dispose();
    out.models[m.name] = { results, ids };
  }
  const about = info();
  out.setup = `aiayn ${about.version} (native, ISA ${about.isa}, float32, KV cache)`;
  return out;
}

// --- the onnxruntime-node child ------------------------------------------------------------
// Graphs per snapshot from `tools/hf_bench.py export` (bench/onnx/<snapshot>/): encoder.onnx,
// decoder.onnx (the first step: start token + encoder states -> logits, self and cross K/V),
// decoder_with_past.onnx (one token + past self K/V + cross K/V -> logits, present self K/V) and
// beam_step.onnx (log-softmax + bans + beam scores + top-K over each source's beams x vocabulary). The
// logits processing follows model.generate as meta.json's `rules` say: single-id bad words banned, EOS
// banned (min_new_tokens = 32), forced_eos_token_id at the last step. Beams: HF's beam search on these
// workloads (no beam can end before the last step, so the K best candidates are the K new beams; first
// step: beam 0 only, the others start at -1e9), the self K/V rows of the surviving beams gathered in
// JS (into buffers allocated once); the result is the best-scoring beam.

async function ortGenerate(ort, s, meta, src, numBeams) {
  const { layers: L, rules, heads: H, headDim: Dh, vocab: V } = meta;
  const B = src.length;
  const K = numBeams;
  const N = B * K;
  const ids = new ort.Tensor('int64', BigInt64Array.from(src.flat(), BigInt), [B, src[0].length]);
  const mask = new ort.Tensor('int64', new BigInt64Array(ids.data.length).fill(1n), ids.dims);
  let { last_hidden_state: h } = await s.encoder.run({ input_ids: ids, attention_mask: mask });
  if (K > 1) {
    // Each source's encoder states K times (model.generate expands the encoder output the same way).
    const row = h.data.length / B;
    const data = new Float32Array(N * row);
    for (let r = 0; r < N; r++) data.set(h.data.subarray(Math.floor(r / K) * row, (Math.floor(r / K) + 1) * row), r * row);
    h = new ort.Tensor('float32', data, [N, ...h.dims.slice(1)]);
  }
  const token = (values) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length, 1]);
  let out = await s.decoder.run({ input_ids: token(new Array(N).fill(rules.decoderStart)), encoder_hidden_states: h });
  const cross = {};
  for (let i = 0; i < L; i++) for (const t of ['key', 'value']) cross[`past_key_values.${i}.encoder.${t}`] = out[`present.${i}.encoder.${t}`];
  const banned = new Uint8Array(V);
  for (const id of rules.banned) banned[id] = 1;
  banned[rules.eos] = 1; // min_new_tokens = NEW_TOKENS
  const forced = rules.forcedEos !== null && rules.forcedEos !== undefined;
  let seqs = Array.from({ length: N }, () => []);
  let scores;
  let ban;
  let buffers;
  if (K > 1) {
    scores = new Float32Array(N).fill(-1e9);
    for (let b = 0; b < B; b++) scores[b * K] = 0;
    ban = new ort.Tensor('float32', Float32Array.from(banned, (x) => (x ? -Infinity : 0)), [V]);
    buffers = Object.fromEntries(Array.from({ length: L }, (_, i) => ['key', 'value'].map((t) => [`${i}.${t}`, new Float32Array(N * H * NEW_TOKENS * Dh)])).flat());
  }
  for (let t = 0; t < NEW_TOKENS; t++) {
    const last = t === NEW_TOKENS - 1;
    let next;
    let origin = null;
    if (last && forced) {
      // Every candidate but EOS is -inf and EOS scores 0: each beam ends with EOS, its score unchanged.
      next = new Array(N).fill(rules.forcedEos);
    } else if (K === 1) {
      const logits = out.logits.data;
      next = Array.from({ length: N }, (_, r) => {
        let best = -1;
        for (let v = 0, o = r * V; v < V; v++) if (!banned[v] && (best < 0 || logits[o + v] > logits[o + best])) best = v;
        return best;
      });
    } else {
      const sel = await s.beamStep.run({ logits: out.logits, scores: new ort.Tensor('float32', scores, [N, 1]), ban });
      scores = Float32Array.from(sel.values.data);
      origin = new Array(N);
      next = new Array(N);
      for (let r = 0; r < N; r++) {
        const index = Number(sel.indices.data[r]);
        origin[r] = Math.floor(r / K) * K + Math.floor(index / V);
        next[r] = index % V;
      }
      seqs = origin.map((r) => seqs[r].slice());
    }
    next.forEach((id, r) => seqs[r].push(id));
    if (last) break;
    const feeds = { input_ids: token(next), ...cross };
    for (let i = 0; i < L; i++) {
      for (const k of ['key', 'value']) {
        const p = out[`present.${i}.decoder.${k}`];
        let fed = p;
        if (origin) {
          const row = p.data.length / N;
          const data = buffers[`${i}.${k}`].subarray(0, N * row);
          for (let r = 0; r < N; r++) data.set(p.data.subarray(origin[r] * row, (origin[r] + 1) * row), r * row);
          fed = new ort.Tensor('float32', data, p.dims);
        }
        feeds[`past_key_values.${i}.decoder.${k}`] = fed;
      }
    }
    out = await s.withPast.run(feeds);
  }
  if (K === 1) return seqs;
  // Every beam has the same length, so length penalty 1 ranks them as their scores do: beam 0 of each source is
  // the best (TopK sorts), with a forced EOS appended to all beams alike.
  return Array.from({ length: B }, (_, b) => seqs[b * K]);
}

/** [median seconds, runs], as `median` for an async function. */
async function medianAsync(fn, { budget, minRuns, maxRuns }) {
  await fn();
  const times = [];
  const start = performance.now();
  while (times.length < minRuns || (times.length < maxRuns && performance.now() - start < budget * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  return [n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2, n];
}

async function ortChild(job) {
  const ort = createRequire(`${peersDir}package.json`)('onnxruntime-node');
  const out = { models: {} };
  for (const m of job.models.filter((x) => x.onnx)) {
    const meta = JSON.parse(readFileSync(join(m.onnx, 'meta.json'), 'utf8'));
    const results = [];
    let ids;
    for (const threads of job.threads) {
      // As bench:e2e: no spinning (between short decoder steps, spinning workers of three sessions take the cores from each other).
      const options = {
        intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
        extra: { session: { 'intra_op.allow_spinning': '0' } },
      };
      const sessions = await Promise.all(ORT_FILES.map((f) => ort.InferenceSession.create(join(m.onnx, f), options)));
      const [encoder, decoder, withPast, beamStep] = sessions;
      const s = { encoder, decoder, withPast, beamStep };
      const run = (w) => ortGenerate(ort, s, meta, w.src, w.numBeams);
      if (!ids) {
        ids = {};
        for (const w of m.workloads) ids[w.name] = await run(w);
      }
      for (const w of m.workloads) {
        const [seconds, runs] = await medianAsync(() => run(w), job.runs);
        results.push({ workload: w.name, threads, seconds, runs, tokensPerSecond: (w.B * NEW_TOKENS) / seconds });
        log(`ort ${m.name} ${threads}t ${w.name}: ${(seconds * 1e3).toFixed(1)} ms (${runs} runs), ${((w.B * NEW_TOKENS) / seconds).toFixed(0)} tokens/s`);
      }
      await Promise.all(sessions.map((x) => x.release()));
    }
    out.models[m.name] = { results, ids };
  }
  const { version } = JSON.parse(readFileSync(join(ortDir, 'package.json'), 'utf8'));
  out.setup = `onnxruntime-node ${version} (CPU, float32, graph optimisation all, interOp 1, no spinning; ONNX exports of the snapshots with an explicit KV cache; beams: selection in a small ONNX graph, cache rows gathered in JS)`;
  return out;
}

// --- the parent --------------------------------------------------------------------------

function runChild(command, args, { json = true } = {}) {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  return json ? JSON.parse(r.stdout.trim().split('\n').pop()) : null;
}

/** Greedy/beam ids of aiayn against transformers': all equal, or how many and where the first difference is. */
function agreement(ours, theirs) {
  const a = ours.flat();
  const b = theirs.flat();
  const same = a.length === b.length ? a.filter((id, i) => b[i] === id).length : 0;
  const r = ours.findIndex((row, i) => row.length !== theirs[i].length || row.some((id, t) => theirs[i][t] !== id));
  if (r < 0) return { equal: true, text: `✓ ${a.length}/${b.length}` };
  const t = ours[r].findIndex((id, k) => theirs[r][k] !== id);
  return { equal: false, text: `✗ ${same}/${b.length} (row ${r} from step ${t < 0 ? ours[r].length : t})` };
}

function flag(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const t0 = performance.now();
  const quick = process.argv.includes('--quick');
  const reuse = process.argv.includes('--reuse-peers');
  const threads = flag('--threads', quick ? '1' : '1,2').split(',').map(Number);
  const names = flag('--models', 'marian,t5').split(',');
  const rounds = Number(flag('--rounds', '1'));
  const maxWait = Number(flag('--max-wait', quick ? '0' : '60'));
  for (const n of names) if (!MODELS[n]) throw new Error(`--models: unknown ${n} (marian, t5)`);
  const runs = quick ? { budget: 0, minRuns: 2, maxRuns: 2 } : { budget: 3, minRuns: 3, maxRuns: 10 };
  const scratch = mkdtempSync(join(tmpdir(), 'aiayn-hf-'));
  const about = info();
  const machine = { cpu: cpus()[0].model, cores: cpus().length, isa: about.isa, node: process.version, aiayn: about.version };
  const started = new Date().toISOString();
  const self = fileURLToPath(import.meta.url);
  const notes = [];

  // The Python side: run (interleaved with aiayn below), reused from hf-peers.json, or left out (--quick).
  const python = !quick && !reuse;
  if (python && !existsSync(PYTHON)) throw new Error(`${PYTHON} not found: make the venv (torch 2.13, transformers 5.17) or use --quick / --reuse-peers`);
  if (python) runChild(PYTHON, ['tools/hf_bench.py', 'make', '--models', names.join(',')], { json: false });
  let peers = reuse ? JSON.parse(readFileSync(PEERS_FILE, 'utf8')) : null;
  if (reuse) notes.push(`transformers side reused from bench/results/hf-peers.json (run of ${peers.started}), not measured in this run`);

  const dirs = {};
  for (const n of names) {
    const dir = join(root, MODELS[n].dir);
    if (existsSync(join(dir, 'model.safetensors'))) dirs[n] = dir;
    else if (quick) {
      dirs[n] = join(scratch, n);
      log(`${MODELS[n].dir} missing: writing a same-shaped random snapshot to ${dirs[n]}`);
      synthesize(n, dirs[n]);
      notes.push(`${n}: ${MODELS[n].dir} missing, ran on a same-shaped snapshot with aiayn's own random weights`);
    } else throw new Error(`${MODELS[n].dir} missing (run .venv/bin/python tools/hf_bench.py make)`);
    if (reuse && peers.models[n]?.fingerprint !== fingerprint(dirs[n])) throw new Error(`bench/results/hf-peers.json was measured on another ${MODELS[n].dir}: run without --reuse-peers`);
  }
  // ONNX exports: made here when Python runs anyway and they are missing or stale (a few minutes).
  const stale = names.filter((n) => ortProblem(n, dirs[n])?.includes('tools/hf_bench.py export'));
  if (python && stale.length && existsSync(join(ortDir, 'package.json'))) {
    log(`exporting ${stale.join(', ')} to ONNX (tools/hf_bench.py export)`);
    try {
      runChild(PYTHON, ['tools/hf_bench.py', 'export', '--models', stale.join(',')], { json: false });
    } catch (e) {
      log(`export failed: ${e.message}`);
    }
  }
  const ortMissing = Object.fromEntries(names.map((n) => [n, ortProblem(n, dirs[n])]));
  for (const [n, why] of Object.entries(ortMissing)) if (why) notes.push(`ORT n/a on ${n}: ${why}`);
  const job = {
    threads,
    runs,
    models: names.map((n) => {
      const special = specialIds(dirs[n]);
      const { vocab_size: vocab } = JSON.parse(readFileSync(join(dirs[n], 'config.json'), 'utf8'));
      return { name: n, dir: dirs[n], onnx: ortMissing[n] ? null : join(root, MODELS[n].onnx), workloads: WORKLOADS.map((w, i) => ({ ...w, src: sources(vocab, special, w.B, SRC_LEN, 1000 + i) })) };
    }),
  };
  const jobFile = join(scratch, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));

  const plan = { aiayn: [process.execPath, [self, '--child', jobFile]] };
  if (job.models.some((m) => m.onnx)) plan.ort = [process.execPath, [self, '--child-ort', jobFile]];
  if (python) plan.transformers = [PYTHON, ['tools/hf_bench.py', 'run', '--models', names.join(','), '--threads', threads.join(','), '--budget', String(runs.budget), '--min-runs', String(runs.minRuns), '--max-runs', String(runs.maxRuns), '--out', join(scratch, 'peers.json')]];
  const engines = {};
  const othersBusy = {};
  for (let round = 0; round < rounds; round++) {
    for (const [engine, [command, args]] of Object.entries(plan)) {
      const waited = waitForQuiet(maxWait);
      if (waited > 2) log(`waited ${waited.toFixed(0)} s for other processes to quieten`);
      const before = cpuTicks();
      let r;
      if (engine !== 'transformers') r = runChild(command, args);
      else {
        runChild(command, args, { json: false });
        r = JSON.parse(readFileSync(join(scratch, 'peers.json'), 'utf8'));
      }
      const others = othersCores(before, cpuTicks());
      (othersBusy[engine] ??= []).push(others);
      log(`${engine} round ${round + 1}: other processes kept ${others.toFixed(2)} cores busy`);
      if (!engines[engine]) engines[engine] = r;
      else {
        for (const [n, m] of Object.entries(r.models)) {
          for (const row of m.results) {
            const best = engines[engine].models[n].results.find((x) => x.workload === row.workload && x.threads === row.threads);
            if (row.seconds < best.seconds) Object.assign(best, row);
          }
        }
      }
    }
  }
  if (python) {
    peers = engines.transformers;
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(PEERS_FILE, JSON.stringify(peers, null, 1) + '\n');
  }

  const output = { machine, date: started, quick, rounds, setups: { aiayn: engines.aiayn.setup, ort: engines.ort?.setup, transformers: peers?.setup }, notes, othersBusy, models: {} };
  for (const n of names) {
    const ours = engines.aiayn.models[n];
    const theirs = peers?.models[n];
    if (theirs) {
      // Same inputs on both sides, or the comparison means nothing.
      for (const w of job.models.find((m) => m.name === n).workloads) {
        const t = theirs.workloads.find((x) => x.name === w.name);
        if (JSON.stringify(t?.src) !== JSON.stringify(w.src)) throw new Error(`${n} ${w.name}: transformers ran other sources than aiayn`);
      }
    }
    const checks = Object.fromEntries(WORKLOADS.map((w) => [w.name, theirs ? agreement(ours.ids[w.name], theirs.ids[w.name]) : null]));
    const onnx = engines.ort?.models[n];
    const ortChecks = Object.fromEntries(WORKLOADS.map((w) => [w.name, onnx ? agreement(onnx.ids[w.name], ours.ids[w.name]) : null]));
    const rows = [];
    for (const t of threads) {
      for (const w of WORKLOADS) {
        const a = ours.results.find((r) => r.workload === w.name && r.threads === t);
        const o = onnx?.results.find((r) => r.workload === w.name && r.threads === t);
        const p = theirs?.results.find((r) => r.workload === w.name && r.threads === t);
        rows.push({
          workload: w.name, threads: t, aiayn: a.tokensPerSecond, aiaynRuns: a.runs, ort: o?.tokensPerSecond, ortRuns: o?.runs,
          transformers: p?.tokensPerSecond, transformersRuns: p?.runs,
          ratioOrt: o ? a.tokensPerSecond / o.tokensPerSecond : undefined, ratio: p ? a.tokensPerSecond / p.tokensPerSecond : undefined,
          ids: checks[w.name]?.text, ortIds: ortChecks[w.name]?.text,
        });
      }
    }
    const f = (x) => (x === undefined ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
    // Issue #10's goals: aiayn at least 1.5x onnxruntime-node and 3x transformers.
    const ratio = (x, goal) => (x === undefined ? 'n/a' : `${x.toFixed(2)}x ${x >= goal ? '✓' : '✗'}`);
    console.log(`\n${MODELS[n].title}; tokens/s (B x 32 new tokens / wall time of generate, encoder included), medians`);
    console.log('\n| workload | threads | aiayn | ORT | transformers | aiayn / ORT (≥1.5x) | aiayn / transformers (≥3x) | ids = transformers (1 thread) | ORT ids = aiayn (1 thread) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---|---|');
    for (const r of rows) {
      const first = r.threads === threads[0];
      console.log(`| ${r.workload} | ${r.threads} | ${f(r.aiayn)} | ${f(r.ort)} | ${f(r.transformers)} | ${ratio(r.ratioOrt, 1.5)} | ${ratio(r.ratio, 3)} | ${first ? (r.ids ?? '-') : ''} | ${first ? (r.ortIds ?? '-') : ''} |`);
    }
    if (theirs) {
      const margins = Object.entries(theirs.greedyMargin).map(([k, v]) => `${k} ${v.toExponential(1)} (${(v / theirs.maxAbsScore[k]).toExponential(1)} x max |score|)`).join(', ');
      const distinct = Object.entries(theirs.distinct).filter(([k]) => k.startsWith('greedy')).map(([k, v]) => `${k} [${v.join(' ')}]`).join(', ');
      console.log(`\ngreedy: smallest top-1/top-2 gap of transformers' scores ${margins}; distinct ids per row ${distinct}`);
    }
    output.models[n] = { dir: MODELS[n].dir, fingerprint: fingerprint(dirs[n]), rows, ortGreedyIdsEqual: onnx ? WORKLOADS.filter((w) => w.numBeams === 1).every((w) => ortChecks[w.name].equal) : null, ortBeamIdsEqual: onnx ? WORKLOADS.filter((w) => w.numBeams > 1).every((w) => ortChecks[w.name].equal) : null, greedyIdsEqual: theirs ? WORKLOADS.filter((w) => w.numBeams === 1).every((w) => checks[w.name].equal) : null, beamIdsEqual: theirs ? WORKLOADS.filter((w) => w.numBeams > 1).every((w) => checks[w.name].equal) : null, greedyMargin: theirs?.greedyMargin, maxAbsScore: theirs?.maxAbsScore };
  }
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\n${Object.entries(output.setups).filter(([, v]) => v).map(([, v]) => v).join('; ')}`);
  console.log(`beams: 4 beams per source, tokens counted once per source; ids column: every row's 32 new tokens (Marian's forced final EOS included); beam ids can part on ties, and only greedy must agree; ORT's ids are from its first thread count, aiayn's at 1 thread`);
  console.log(`other processes kept ${Object.entries(othersBusy).map(([k, v]) => `${v.map((x) => x.toFixed(2)).join('/')} cores busy while ${k} ran`).join(', ')} (of ${machine.cores}; per round)`);
  for (const note of notes) console.log(`note: ${note}`);
  const seconds = (performance.now() - t0) / 1000;
  output.seconds = seconds;
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.isa}, Node ${machine.node}; started ${started}, took ${seconds.toFixed(0)} s`);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = quick ? 'hf-quick.json' : 'hf.json';
  writeFileSync(join(root, 'bench/results', file), JSON.stringify(output, null, 2) + '\n');
  console.log(`wrote bench/results/${file}${python ? ' and bench/results/hf-peers.json' : ''}`);
}

if (process.argv[2] === '--child') {
  console.log(JSON.stringify(aiaynChild(JSON.parse(readFileSync(process.argv[3], 'utf8')))));
} else if (process.argv[2] === '--child-ort') {
  console.log(JSON.stringify(await ortChild(JSON.parse(readFileSync(process.argv[3], 'utf8')))));
} else {
  await main();
}
