// Sampling (issue #9 §1): a seed reproduces the same ids on both backends (and
// on every ISA: the suite runs under AIAYN_ISA=scalar|avx2|avx512 too); seeds
// differ; scores are untempered log-prob sums; the first token's distribution
// is softmax(logits / temperature), restricted and renormalised by top-k and
// top-p, by chi-square tests on fixed seeds.
import { afterAll, describe, expect, it } from 'vitest';
import { Transformer, generate, type GenerationOptions } from '../lib/index.js';
import { expectClose, isa } from './helpers.js';
import { expectScore, forcedLogits, generatedTokens, recomputeLogprobs, small, softmax64, sources, sum } from './generate-helpers.js';

const backendNames = ['native', 'reference'] as const;

// ---- chi-square, written out ----

/** ln Γ(x), x > 0 (Lanczos, g = 7, n = 9: ~1e-15 relative). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularised upper incomplete gamma function Q(a, x) (series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let total = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(total) * 1e-16; n++) {
      term *= x / (a + n);
      total += term;
    }
    return 1 - total * front;
  }
  // Lentz's method for the continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(X >= x) for X ~ chi-square with df degrees of freedom. */
const chiSquarePValue = (x: number, df: number) => gammaQ(df / 2, x / 2);

/** Standard normal upper quantile by bisection on Φ(z) = 1 - Q(1/2, z²/2) / 2 (z > 0). */
function normalUpperQuantile(p: number): number {
  let [lo, hi] = [0, 40];
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (gammaQ(0.5, (mid * mid) / 2) / 2 > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Wilson–Hilferty: the chi-square value exceeded with probability p. */
function chiSquareCritical(p: number, df: number): number {
  const z = normalUpperQuantile(p);
  const v = 2 / (9 * df);
  return df * (1 - v + z * Math.sqrt(v)) ** 3;
}

/**
 * Pearson's statistic of `counts` against probabilities `p` (each cell
 * expected n * p), cells with an expected count below 5 merged with the
 * next smallest ones; returns the statistic, degrees of freedom and p-value.
 */
function chiSquare(counts: number[], p: number[]): { stat: number; df: number; pValue: number } {
  const n = sum(counts);
  const cells = p.map((pi, i) => ({ expected: n * pi, observed: counts[i] })).sort((a, b) => a.expected - b.expected);
  while (cells.length > 1 && cells[0].expected < 5) {
    const [a, b] = cells.splice(0, 2);
    cells.push({ expected: a.expected + b.expected, observed: a.observed + b.observed });
    cells.sort((x, y) => x.expected - y.expected);
  }
  const stat = cells.reduce((s, c) => s + (c.observed - c.expected) ** 2 / c.expected, 0);
  const df = cells.length - 1;
  return { stat, df, pValue: chiSquarePValue(stat, df) };
}

describe('the chi-square helpers of this file', () => {
  it('match published critical values', () => {
    // chi-square upper 0.001 critical values (NIST/SEMATECH tables) and the normal 0.999 quantile;
    // Wilson–Hilferty is a few per cent off this far in the tail at small df, closer as df grows.
    const table: Array<[number, number]> = [[1, 10.828], [2, 13.816], [5, 20.515], [10, 29.588], [30, 59.703]];
    for (const [df, crit] of table) {
      expect(chiSquarePValue(crit, df)).toBeCloseTo(1e-3, 6);
      expect(Math.abs(chiSquareCritical(1e-3, df) - crit) / crit).toBeLessThan(df <= 2 ? 0.05 : 0.02);
    }
    expect(normalUpperQuantile(1e-3)).toBeCloseTo(3.0902, 4);
    expect(chiSquarePValue(0, 4)).toBe(1);
    expect(chiSquarePValue(4, 4)).toBeCloseTo(Math.exp(-2) * 3, 12); // df 4: Q = e^(-x/2) (1 + x/2)
  });
});

// ---- sampling ----

describe(`sampling on ${isa}`, () => {
  const variants: GenerationOptions[] = [
    {},
    { temperature: 0.7 },
    { topK: 5 },
    { topP: 0.9 },
    { topK: 8, topP: 0.8, temperature: 1.3 },
  ];

  it('the same seed gives the same ids on both backends, and again on the same one', () => {
    const native = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 4, backend: 'native' });
    const reference = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 4, backend: 'reference' });
    for (const variant of variants) {
      const options: GenerationOptions = { ...variant, doSample: true, seed: 1234, numReturnSequences: 3, maxNewTokens: 16 };
      const what = JSON.stringify(variant);
      const n = generate(native, sources, options);
      const r = generate(reference, sources, options);
      expect(n.map((g) => g.sequences.map((s) => [s.ids, s.finishReason])), what).toEqual(r.map((g) => g.sequences.map((s) => [s.ids, s.finishReason])));
      n.forEach((g, b) => g.sequences.forEach((s, i) => expectScore(s.score, r[b].sequences[i].score, s.ids.length + 1, what)));
      expect(generate(native, sources, options), what).toEqual(n);
      expect(generate(reference, sources, options), what).toEqual(r);
    }
    native.dispose();
    reference.dispose();
  });

  it('different seeds give different ids; source i of a batch draws from seed + i', () => {
    const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 4, backend: 'native' });
    const options: GenerationOptions = { doSample: true, maxNewTokens: 16, stopAtEos: false };
    const ids = (seed: number) => generate(model, sources, { ...options, seed }).map((g) => g.sequences[0].ids);
    const a = ids(1);
    const b = ids(2);
    a.forEach((row, i) => expect(row, `source ${i}`).not.toEqual(b[i]));
    // Documented: a source alone with seed s reproduces its row of a batch with seed s - i.
    sources.forEach((src, i) => expect(generate(model, [src], { ...options, seed: 1 + i })[0].sequences[0].ids).toEqual(a[i]));
    // No seed: a random one each call.
    expect(generate(model, sources, options).map((g) => g.sequences[0].ids)).not.toEqual(generate(model, sources, options).map((g) => g.sequences[0].ids));
    model.dispose();
  });

  for (const backend of backendNames) {
    it(`numReturnSequences n gives n samples whose scores are untempered log-prob sums (${backend})`, () => {
      const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 3, backend });
      const reasons = new Set<string>();
      for (const variant of variants) {
        const out = generate(model, sources, { ...variant, doSample: true, seed: 99, numReturnSequences: 4, maxNewTokens: 10, logprobs: true });
        sources.forEach((src, b) => {
          const seqs = out[b].sequences;
          const what = `${backend} ${JSON.stringify(variant)} src ${b}`;
          expect(seqs, what).toHaveLength(4);
          expect(new Set(seqs.map((s) => generatedTokens(model, s).join(' '))).size, `${what}: not all the same`).toBeGreaterThan(1);
          for (const s of seqs) {
            // Log-probabilities of the model's distribution, before temperature, top-k and top-p.
            const logprobs = recomputeLogprobs(model, src, s);
            expectClose(s.logprobs!, logprobs, 2e-5, 1e-4, what);
            expectScore(s.score, sum(logprobs), logprobs.length, what);
            reasons.add(s.finishReason);
          }
        });
      }
      expect([...reasons].sort()).toEqual(['length', 'stop']);
      model.dispose();
    });
  }

  it('topK 1, a tiny topP and a tiny temperature (no float32 overflow) are greedy, whatever the seed', () => {
    const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 4, backend: 'native' });
    const greedy = generate(model, sources, { maxNewTokens: 12 }).map((g) => g.sequences[0].ids);
    for (const seed of [1, 2, 3]) {
      for (const variant of [{ topK: 1 }, { topP: 1e-6 }, { topK: 1, temperature: 5 }, { temperature: 1e-30 }, { temperature: 1e-300 }]) {
        const sampled = generate(model, sources, { ...variant, doSample: true, seed, maxNewTokens: 12 }).map((g) => g.sequences[0].ids);
        expect(sampled, JSON.stringify(variant)).toEqual(greedy);
      }
    }
    model.dispose();
  });

  describe('the first token is distributed as softmax(logits / temperature), then top-k, then top-p', () => {
    // tgtVocab 8: every id has a fair probability at the first step of this model and source.
    const V = 8;
    const model = Transformer.random({ ...small, tgtVocab: V }, { seed: 5, backend: 'native' });
    const src = [4, 9, 13, 6];
    const logits = forcedLogits(model, src, [[model.config.bosId]])[0][0];
    const draws = 4000;
    afterAll(() => model.dispose());

    let calls = 0;
    /**
     * Counts of the first sampled token over `draws` samples: 16 requests of
     * 250 samples, fixed seeds, different for each call (so that the tests do
     * not share their uniform draws, and one unlucky sample cannot fail them all).
     */
    function sampleFirst(options: GenerationOptions): number[] {
      const counts = new Array<number>(V).fill(0);
      const base = 1_000_003 * ++calls;
      for (let r = 0; r < draws / 250; r++) {
        const [g] = generate(model, [src], { ...options, doSample: true, seed: base + 7 * r, numReturnSequences: 250, maxNewTokens: 1, stopAtEos: false });
        for (const s of g.sequences) counts[s.ids[0]]++;
      }
      expect(sum(counts)).toBe(draws);
      return counts;
    }

    /** softmax(logits / T), then the top k kept, then the nucleus of mass topP kept, renormalised (Hugging Face's warpers, written out). */
    function expected(temperature: number, topK = 0, topP = 1): number[] {
      let p = Array.from(softmax64(logits.map((x) => x / temperature)));
      const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
      const keep = new Set(topK > 0 ? order.slice(0, topK) : order);
      p = p.map((pi, i) => (keep.has(i) ? pi : 0));
      let total = sum(p);
      p = p.map((pi) => pi / total);
      if (topP < 1) {
        let mass = 0;
        const nucleus = new Set<number>();
        for (const i of order) {
          if (!keep.has(i) || mass >= topP) continue;
          nucleus.add(i);
          mass += p[i];
        }
        p = p.map((pi, i) => (nucleus.has(i) ? pi : 0));
        total = sum(p);
        p = p.map((pi) => pi / total);
      }
      return p;
    }

    function expectDistribution(counts: number[], p: number[], what: string): void {
      const allowed = p.map((pi, i) => i).filter((i) => p[i] > 0);
      counts.forEach((c, i) => {
        if (p[i] === 0) expect(c, `${what}: id ${i} is never drawn`).toBe(0);
      });
      const test = chiSquare(allowed.map((i) => counts[i]), allowed.map((i) => p[i]));
      expect(test.df, what).toBeGreaterThanOrEqual(1);
      expect(test.stat, `${what}: chi-square ${test.stat.toFixed(2)} (df ${test.df}, p ${test.pValue.toExponential(2)}), critical ${chiSquareCritical(1e-3, test.df).toFixed(2)}`)
        .toBeLessThan(chiSquareCritical(1e-3, test.df));
      expect(test.pValue, what).toBeGreaterThan(1e-3);
    }

    it('temperature 1, 0.6 and 1.8 (and the test has power: 0.6 is not 1)', () => {
      const probs = expected(1);
      expect(Math.min(...probs) * draws, 'every id is expected a few times').toBeGreaterThan(5);
      expect(Math.max(...probs)).toBeLessThan(0.6);
      expectDistribution(sampleFirst({}), probs, 'temperature 1');
      const cold = sampleFirst({ temperature: 0.6 });
      expectDistribution(cold, expected(0.6), 'temperature 0.6');
      expect(chiSquare(cold, probs).pValue, 'temperature 0.6 draws are not softmax(logits)').toBeLessThan(1e-9);
      expectDistribution(sampleFirst({ temperature: 1.8 }), expected(1.8), 'temperature 1.8');
    });

    it('topK: only the k most likely ids, in renormalised proportion', () => {
      for (const [topK, temperature] of [[3, 1], [5, 0.8], [V, 1]] as const) {
        const p = expected(temperature, topK);
        expect(p.filter((x) => x > 0)).toHaveLength(topK);
        expectDistribution(sampleFirst({ topK, temperature }), p, `topK ${topK} temperature ${temperature}`);
      }
    });

    it('topP: only the nucleus, in renormalised proportion; with topK, the nucleus of the top k', () => {
      for (const [topP, topK, temperature] of [[0.65, 0, 1], [0.8, 0, 1.2], [0.8, 4, 1], [0.9, 0, 1]] as const) {
        const p = expected(temperature, topK, topP);
        const kept = p.filter((x) => x > 0).length;
        // With topK 4, the nucleus is taken of the renormalised top 4: 2 ids here, 3 of the whole distribution.
        if (topK === 4) expect(kept).toBe(2);
        expect(kept).toBeGreaterThan(1);
        expect(kept).toBeLessThan(topK || V);
        expectDistribution(sampleFirst({ topP, topK, temperature }), p, `topP ${topP} topK ${topK} temperature ${temperature}`);
      }
    });
  });
});

describe(`sampling over a large vocabulary on ${isa}`, () => {
  // tgtVocab 600 and a flat first-step distribution (max p ~0.005): the top-p nucleus holds hundreds
  // of ids, more than the 64 candidates the sampler asks of topK first, so it must grow them.
  const V = 600;
  const model = Transformer.random({ ...small, tgtVocab: V }, { seed: 5, backend: 'native' });
  const src = [4, 9, 13, 6];
  const p = softmax64(forcedLogits(model, src, [[model.config.bosId]])[0][0]);
  const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
  afterAll(() => model.dispose());

  /** Ids kept by top-k then top-p, with their renormalised probabilities. */
  function kept(topK: number, topP: number): Map<number, number> {
    const top = topK > 0 ? order.slice(0, topK) : order;
    const mass = sum(top.map((i) => p[i]));
    const out = new Map<number, number>();
    let acc = 0;
    for (const i of top) {
      if (acc >= topP) break;
      out.set(i, p[i] / mass);
      acc += p[i] / mass;
    }
    const total = sum([...out.values()]);
    for (const [i, q] of out) out.set(i, q / total);
    return out;
  }

  for (const [topK, topP] of [[0, 0.5], [0, 0.99], [100, 0.8], [300, 1]] as const) {
    it(`topK ${topK}, topP ${topP}: only the kept ids, in proportion (by rank bins)`, () => {
      const keep = kept(topK, topP);
      expect(keep.size).toBeGreaterThan(64);
      const counts = new Map<number, number>();
      for (let r = 0; r < 16; r++) {
        const [g] = generate(model, [src], { doSample: true, topK, topP, seed: 77 + 13 * r, numReturnSequences: 250, maxNewTokens: 1, stopAtEos: false });
        for (const s of g.sequences) counts.set(s.ids[0], (counts.get(s.ids[0]) ?? 0) + 1);
      }
      for (const id of counts.keys()) expect(keep.has(id), `id ${id} (rank ${order.indexOf(id)}) is outside the ${keep.size} kept`).toBe(true);
      expect(Math.max(...[...counts.keys()].map((id) => order.indexOf(id))), 'ids past the first 64 candidates are drawn').toBeGreaterThan(64);
      // Ten bins of consecutive ranks with about equal mass.
      const ids = order.filter((i) => keep.has(i));
      const bins = Array.from({ length: 10 }, () => ({ p: 0, n: 0 }));
      let acc = 0;
      for (const id of ids) {
        const bin = Math.min(9, Math.floor(acc * 10));
        bins[bin].p += keep.get(id)!;
        bins[bin].n += counts.get(id) ?? 0;
        acc += keep.get(id)!;
      }
      const test = chiSquare(bins.map((b) => b.n), bins.map((b) => b.p));
      expect(test.pValue, `chi-square ${test.stat.toFixed(2)} df ${test.df}`).toBeGreaterThan(1e-3);
      expect(test.stat).toBeLessThan(chiSquareCritical(1e-3, test.df));
    });
  }
});

