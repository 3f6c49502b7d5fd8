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
// information). ONNX Runtime is not part of this benchmark (bench:e2e has it).
// Prints markdown tables and writes bench/results/hf.json (and hf-peers.json, the
// Python side as it ran); --quick writes hf-quick.json.
// Usage: npm run bench:hf [-- --quick] [--reuse-peers] [--threads 1,2] [--models marian,t5]
//   [--rounds N]: run both engines N times, interleaved; each cell keeps its best median (default 1)
//   [--max-wait S]: before each engine, wait up to S seconds for a quiet machine (default 60, 0 with --quick)
//   --reuse-peers: take the transformers side from bench/results/hf-peers.json instead of running Python
//   --quick: aiayn only (no Python), 1 thread, two timed runs per cell, for CI; when the snapshots are
//     missing it writes same-shaped random ones (its own weights) to a temporary directory
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, Transformer, generate, info, setThreads, writeSafetensors } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = `${root}.venv/bin/python`;
const PEERS_FILE = `${root}bench/results/hf-peers.json`;
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
  marian: { dir: 'bench/models/hf-marian-base', title: 'Marian, OPUS-MT-sized (d 512, 6+6 layers, 8 heads, FFN 2048, vocab 58,101, swish, tied)' },
  t5: { dir: 'bench/models/hf-t5-small', title: 'T5, t5-small-sized (d 512, d_kv 64, 8 heads, d_ff 2048, 6+6 layers, vocab 32,128, relu, tied)' },
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

// --- the parent --------------------------------------------------------------------------

/** CPU ticks: the machine's busy time (steal included) and that of this process with its waited-for children. */
function cpuTicks() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const [utime, stime, cutime, cstime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  return { busy: user + nice + system + irq + softirq + steal, own: utime + stime + cutime + cstime, ms: performance.now() };
}

/** Cores other processes kept busy on average between two cpuTicks() (USER_HZ = 100). */
const othersCores = (a, b) => Math.max(0, (b.busy - a.busy - (b.own - a.own)) / 100 / ((b.ms - a.ms) / 1000));

/** Waits (up to maxSeconds) for a second in which other processes keep less than a quarter of a core busy. */
function waitForQuiet(maxSeconds) {
  const start = performance.now();
  while (performance.now() - start < maxSeconds * 1000) {
    const a = cpuTicks();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    if (othersCores(a, cpuTicks()) < 0.25) break;
  }
  return (performance.now() - start) / 1000;
}

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
  const job = {
    threads,
    runs,
    models: names.map((n) => {
      const special = specialIds(dirs[n]);
      const { vocab_size: vocab } = JSON.parse(readFileSync(join(dirs[n], 'config.json'), 'utf8'));
      return { name: n, dir: dirs[n], workloads: WORKLOADS.map((w, i) => ({ ...w, src: sources(vocab, special, w.B, SRC_LEN, 1000 + i) })) };
    }),
  };
  const jobFile = join(scratch, 'job.json');
  writeFileSync(jobFile, JSON.stringify(job));

  const plan = { aiayn: [process.execPath, [self, '--child', jobFile]] };
  if (python) plan.transformers = [PYTHON, ['tools/hf_bench.py', 'run', '--models', names.join(','), '--threads', threads.join(','), '--budget', String(runs.budget), '--min-runs', String(runs.minRuns), '--max-runs', String(runs.maxRuns), '--out', join(scratch, 'peers.json')]];
  const engines = {};
  const othersBusy = {};
  for (let round = 0; round < rounds; round++) {
    for (const [engine, [command, args]] of Object.entries(python ? { transformers: plan.transformers, aiayn: plan.aiayn } : plan)) {
      const waited = waitForQuiet(maxWait);
      if (waited > 2) log(`waited ${waited.toFixed(0)} s for other processes to quieten`);
      const before = cpuTicks();
      let r;
      if (engine === 'aiayn') r = runChild(command, args);
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

  const output = { machine, date: started, quick, rounds, setups: { aiayn: engines.aiayn.setup, transformers: peers?.setup }, notes, othersBusy, models: {} };
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
    const rows = [];
    for (const t of threads) {
      for (const w of WORKLOADS) {
        const a = ours.results.find((r) => r.workload === w.name && r.threads === t);
        const p = theirs?.results.find((r) => r.workload === w.name && r.threads === t);
        rows.push({
          workload: w.name, threads: t, aiayn: a.tokensPerSecond, aiaynRuns: a.runs, transformers: p?.tokensPerSecond, transformersRuns: p?.runs,
          ratio: p ? a.tokensPerSecond / p.tokensPerSecond : undefined, ids: checks[w.name]?.text,
        });
      }
    }
    const f = (x) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
    console.log(`\n${MODELS[n].title}; tokens/s (B x 32 new tokens / wall time of generate, encoder included), medians`);
    console.log('\n| workload | threads | aiayn | transformers | aiayn / transformers | ids = transformers (1 thread) |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const r of rows) console.log(`| ${r.workload} | ${r.threads} | ${f(r.aiayn)} | ${f(r.transformers)} | ${r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x`} | ${r.threads === threads[0] ? (r.ids ?? '-') : ''} |`);
    if (theirs) {
      const margins = Object.entries(theirs.greedyMargin).map(([k, v]) => `${k} ${v.toExponential(1)} (${(v / theirs.maxAbsScore[k]).toExponential(1)} x max |score|)`).join(', ');
      const distinct = Object.entries(theirs.distinct).filter(([k]) => k.startsWith('greedy')).map(([k, v]) => `${k} [${v.join(' ')}]`).join(', ');
      console.log(`\ngreedy: smallest top-1/top-2 gap of transformers' scores ${margins}; distinct ids per row ${distinct}`);
    }
    output.models[n] = { dir: MODELS[n].dir, fingerprint: fingerprint(dirs[n]), rows, greedyIdsEqual: theirs ? WORKLOADS.filter((w) => w.numBeams === 1).every((w) => checks[w.name].equal) : null, beamIdsEqual: theirs ? WORKLOADS.filter((w) => w.numBeams > 1).every((w) => checks[w.name].equal) : null, greedyMargin: theirs?.greedyMargin, maxAbsScore: theirs?.maxAbsScore };
  }
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\n${Object.entries(output.setups).filter(([, v]) => v).map(([, v]) => v).join('; ')}`);
  console.log(`beams: 4 beams per source, tokens counted once per source; ids column: every row's 32 new tokens (Marian's forced final EOS included); beam ids can part on ties, and only greedy must agree`);
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
} else {
  await main();
}
