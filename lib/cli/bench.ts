// `aiayn bench`: end-to-end throughput of one model directory, native next to
// the pure-TypeScript reference on the same inputs. Medians of several runs.
import { generate } from '../generate/generate.js';
import type { WeightDType } from '../backend/backend.js';
import { Transformer } from '../model/transformer.js';
import { info } from '../runtime.js';

export interface BenchOptions {
  batch: number;
  srcLen: number;
  newTokens: number;
  reference: boolean;
  /** Weight dtypes of the native model, measured side by side; the first is the baseline of the ratios. */
  dtype: readonly WeightDType[];
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
  // The native model in each dtype, then the reference (fp32: it is the spec, not a contender).
  const runs = [
    ...o.dtype.map((dtype) => ({ label: `native ${dtype}`, backend: 'native' as const, dtype, repeats: 7 })),
    ...(o.reference ? [{ label: 'reference fp32', backend: 'reference' as const, dtype: 'fp32' as const, repeats: 1 }] : []),
  ];
  let src: number[][] = [];
  let encoder = { workload: '', tokens: 0 };
  let greedy = { workload: '', tokens: 0 };
  const seconds = runs.map((run, i) => {
    const model = Transformer.load(dir, { backend: run.backend, dtype: run.dtype });
    try {
      if (i === 0) {
        const c = model.config;
        const srcLen = Math.min(o.srcLen, c.maxPositions);
        const newTokens = Math.min(o.newTokens, c.maxPositions);
        src = sources(model, o.batch, srcLen);
        encoder = { workload: `encoder ${o.batch}x${srcLen}`, tokens: o.batch * srcLen };
        greedy = { workload: `greedy ${o.batch}x${newTokens} new`, tokens: o.batch * newTokens };
      }
      model.encode(src);
      return {
        encoder: median(() => model.encode(src), run.repeats),
        greedy: median(() => generate(model, src, { maxNewTokens: greedy.tokens / o.batch, stopAtEos: false }), run.repeats),
      };
    } finally {
      model.dispose();
    }
  });
  const about = info();
  process.stdout.write(`aiayn ${about.version}, ISA ${about.isa}, ${about.threads} thread(s), model ${dir}\n\n`);
  const base = runs[0].label;
  const others = runs.slice(1).map((r) => r.label);
  process.stdout.write(`| workload |${runs.map((r) => ` ${r.label} tokens/s |`).join('')}${others.map((l) => ` ${l} / ${base} |`).join('')}\n`);
  process.stdout.write(`|---|${'---:|'.repeat(runs.length + others.length)}\n`);
  for (const [key, w] of [['encoder', encoder], ['greedy', greedy]] as const) {
    const rate = seconds.map((s) => w.tokens / s[key]);
    const ratios = rate.slice(1).map((r) => ` ${(r / rate[0]).toPrecision(3)}x |`);
    process.stdout.write(`| ${w.workload} |${rate.map((r) => ` ${r.toFixed(0)} |`).join('')}${ratios.join('')}\n`);
  }
}
