// `aiayn bench`: end-to-end throughput of one model directory, native next to
// the pure-TypeScript reference on the same inputs. Medians of several runs.
import { generate } from '../generate/generate.js';
import { Transformer } from '../model/transformer.js';
import { info } from '../runtime.js';

export interface BenchOptions {
  batch: number;
  srcLen: number;
  newTokens: number;
  reference: boolean;
}

function median(fn: () => void, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

/** Random source rows of `len` ids, none of them special. */
function sources(model: Transformer, B: number, len: number): number[][] {
  const c = model.config;
  const special = new Set([c.padId, c.bosId, c.eosId, c.unkId]);
  const pool = Array.from({ length: c.srcVocab }, (_, i) => i).filter((i) => !special.has(i));
  let seed = 12345;
  return Array.from({ length: B }, () =>
    Array.from({ length: len }, () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return pool[seed % pool.length];
    }),
  );
}

export function runBench(dir: string, o: BenchOptions): void {
  const backends = o.reference ? (['native', 'reference'] as const) : (['native'] as const);
  const rows: Array<{ workload: string; tokens: number; seconds: Record<string, number> }> = [];
  const models = backends.map((backend) => Transformer.load(dir, { backend }));
  const c = models[0].config;
  const srcLen = Math.min(o.srcLen, c.maxPositions);
  const newTokens = Math.min(o.newTokens, c.maxPositions);
  const src = sources(models[0], o.batch, srcLen);
  const encoder = { workload: `encoder ${o.batch}x${srcLen}`, tokens: o.batch * srcLen, seconds: {} as Record<string, number> };
  const greedy = { workload: `greedy ${o.batch}x${newTokens} new`, tokens: o.batch * newTokens, seconds: {} as Record<string, number> };
  models.forEach((model, i) => {
    const runs = backends[i] === 'native' ? 7 : 1;
    model.encode(src);
    encoder.seconds[backends[i]] = median(() => model.encode(src), runs);
    greedy.seconds[backends[i]] = median(() => generate(model, src, { maxNewTokens: newTokens, stopAtEos: false }), runs);
    model.dispose();
  });
  rows.push(encoder, greedy);
  const about = info();
  process.stdout.write(`aiayn ${about.version}, ISA ${about.isa}, ${about.threads} thread(s), model ${dir}\n\n`);
  process.stdout.write(`| workload | native tokens/s |${o.reference ? ' reference tokens/s | native / reference |' : ''}\n`);
  process.stdout.write(`|---|---:|${o.reference ? '---:|---:|' : ''}\n`);
  for (const r of rows) {
    const n = r.tokens / r.seconds.native;
    const ref = o.reference ? r.tokens / r.seconds.reference : 0;
    process.stdout.write(`| ${r.workload} | ${n.toFixed(0)} |${o.reference ? ` ${ref.toFixed(0)} | ${(n / ref).toFixed(1)}x |` : ''}\n`);
  }
}
