// Logits processors (issue #9 §1): each on hand-made score rows, then end to
// end: greedy against the plain teacher-forced greedy with the rule written
// out here, and greedy / beam / sampling outputs obeying the rule where the
// unconstrained outputs break it.
import { afterAll, describe, expect, it } from 'vitest';
import { Transformer, generate, resolveConfig, type GeneratedSequence, type GenerationOptions, type Generation } from '../lib/index.js';
import { resolveGenerationOptions } from '../lib/generate/options.js';
import { badWords, buildProcessors, forceToken, minNewTokens, noRepeatNgram, repetitionPenalty } from '../lib/generate/processors.js';
import { expectClose, isa } from './helpers.js';
import { expectScore, forcedLogits, generatedTokens, logSoftmax64, plainGreedy, small, sources, sum } from './generate-helpers.js';

const NEG = -Infinity;
const row = (...xs: number[]) => Float32Array.from(xs);

describe('logits processors on hand-made rows', () => {
  it('repetitionPenalty: CTRL, positive scores divided, negative multiplied, once per distinct token (the start token included)', () => {
    const scores = row(2, -1, 0.5, -3, 1, 0);
    repetitionPenalty(1.5)(scores, [1, 0, 3, 3], 3);
    expectClose(scores, [2 / 1.5, -1 * 1.5, 0.5, -3 * 1.5, 1, 0], 1e-7, 0);
    const boost = row(2, -1, 0.5, -3);
    repetitionPenalty(0.5)(boost, [0, 1], 1);
    expectClose(boost, [4, -0.5, 0.5, -3], 0);
  });

  it('noRepeatNgram: bans each token that would complete an n-gram already present', () => {
    const run = (n: number, tokens: number[]) => {
      const scores = new Float32Array(10);
      noRepeatNgram(n)(scores, tokens, tokens.length - 1);
      return [...scores.keys()].filter((i) => scores[i] === NEG);
    };
    expect(run(2, [1, 4, 5, 4])).toEqual([5]);
    expect(run(2, [1, 4, 5, 4, 6, 4])).toEqual([5, 6]);
    expect(run(2, [1, 4, 5, 6])).toEqual([]);
    expect(run(3, [1, 4, 5, 6, 4, 5])).toEqual([6]);
    expect(run(3, [1, 4, 5])).toEqual([]);
    expect(run(3, [1, 4])).toEqual([]);
    expect(run(1, [1, 4, 5, 4])).toEqual([1, 4, 5]);
    expect(run(2, [1, 1])).toEqual([1]); // (1, 1) seen: the start token counts
  });

  it('minNewTokens: EOS banned until that many tokens are generated', () => {
    for (const generated of [0, 1, 2, 3]) {
      const scores = row(0.1, 0.2, 0.3, 0.4);
      minNewTokens(2, 2)(scores, [1], generated);
      expect(scores[2]).toBe(generated < 2 ? NEG : Math.fround(0.3));
      expect(scores[3]).toBe(Math.fround(0.4));
    }
  });

  it('badWords: a single id always, a sequence\'s last id only after the rest', () => {
    const banned = (tokens: number[]) => {
      const scores = new Float32Array(10);
      badWords([[5], [4, 6], [1, 7], [4, 5, 8]])(scores, tokens, tokens.length - 1);
      return [...scores.keys()].filter((i) => scores[i] === NEG);
    };
    expect(banned([1])).toEqual([5, 7]);
    expect(banned([1, 4])).toEqual([5, 6]);
    expect(banned([1, 4, 5])).toEqual([5, 8]);
    expect(banned([1, 6])).toEqual([5]);
  });

  it('forceToken: at that step only the id remains, with log-probability 0', () => {
    for (const generated of [0, 1, 2]) {
      const scores = row(0.5, -1, 3, 2);
      forceToken(1, 1)(scores, [1], generated);
      expect(Array.from(scores)).toEqual(generated === 1 ? [NEG, 0, NEG, NEG] : Array.from(row(0.5, -1, 3, 2)));
    }
  });

  it('buildProcessors makes one per option set, none by default', () => {
    const config = resolveConfig(small);
    expect(buildProcessors(resolveGenerationOptions({}, config), config.eosId)).toHaveLength(0);
    const all = resolveGenerationOptions({
      repetitionPenalty: 1.2, noRepeatNgramSize: 2, minNewTokens: 1, badWordsIds: [[4]], forcedBosTokenId: 5, forcedEosTokenId: 6, maxNewTokens: 4,
    }, config);
    expect(buildProcessors(all, config.eosId)).toHaveLength(6);
    // forcedEosTokenId acts at the last allowed step: maxNewTokens - 1 tokens before it.
    const scores = new Float32Array(config.tgtVocab).fill(1);
    for (const p of buildProcessors(resolveGenerationOptions({ forcedEosTokenId: 6, maxNewTokens: 4 }, config), config.eosId)) p(scores, [1, 4, 4, 4], 3);
    expect([...scores.keys()].filter((i) => scores[i] !== NEG)).toEqual([6]);
  });
});

// ---- end to end ----

/** n-grams of [bos, ...generated] that occur twice. */
function repeatedNgrams(tokens: number[], n: number): string[] {
  const seen = new Set<string>();
  const repeats: string[] = [];
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(' ');
    if (seen.has(key)) repeats.push(key);
    seen.add(key);
  }
  return repeats;
}

const allSequences = (out: Generation[]) => out.flatMap((g) => g.sequences);

/** Greedy, beam (3 returned) and sampling (3 returned) with `options`. */
function threeWays(model: Transformer, options: GenerationOptions): Array<[string, GeneratedSequence[]]> {
  return [
    ['greedy', allSequences(generate(model, sources, options))],
    ['beam', allSequences(generate(model, sources, { ...options, numBeams: 3, numReturnSequences: 3 }))],
    ['sampling', allSequences(generate(model, sources, { ...options, doSample: true, seed: 17, numReturnSequences: 3 }))],
  ];
}

/** Greedy with `options` equals the plain greedy with `process` (ids, finish reasons, logprobs, scores). */
function expectGreedyAsPlain(
  model: Transformer,
  options: GenerationOptions,
  process: (row: Float32Array, prefix: number[], generated: number) => void,
): void {
  const maxNewTokens = options.maxNewTokens!;
  const out = generate(model, sources, { ...options, logprobs: true });
  sources.forEach((src, b) => {
    const [seq] = out[b].sequences;
    const plain = plainGreedy(model, src, maxNewTokens, { stopAtEos: options.stopAtEos ?? true, process });
    const what = `${JSON.stringify(options)} src ${b}`;
    expect(seq.ids, what).toEqual(plain.ids);
    expect(seq.finishReason, what).toBe(plain.finishReason);
    expectClose(seq.logprobs!, plain.logprobs, 2e-5, 1e-4, what);
    expectScore(seq.score, sum(plain.logprobs), plain.logprobs.length, what);
  });
}

describe(`logits processors end to end on ${isa}`, () => {
  const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 3, backend: 'native' });
  const loopy = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 0, backend: 'native' }); // rarely ends, repeats itself
  const { bosId, eosId } = model.config;
  afterAll(() => {
    model.dispose();
    loopy.dispose();
  });

  it('repetitionPenalty: greedy as the plain recompute with CTRL; changes some outputs', () => {
    for (const penalty of [1.3, 2, 0.8]) {
      const ctrl = (r: Float32Array, prefix: number[]) => {
        for (const id of new Set(prefix)) r[id] = r[id] < 0 ? r[id] * penalty : r[id] / penalty;
      };
      expectGreedyAsPlain(loopy, { repetitionPenalty: penalty, maxNewTokens: 16 }, ctrl);
      expectGreedyAsPlain(model, { repetitionPenalty: penalty, maxNewTokens: 10 }, ctrl);
    }
    const plain = allSequences(generate(loopy, sources, { maxNewTokens: 16 })).map((s) => s.ids);
    const penalised = allSequences(generate(loopy, sources, { maxNewTokens: 16, repetitionPenalty: 2 })).map((s) => s.ids);
    expect(penalised).not.toEqual(plain);
  });

  it('repetitionPenalty in beam search acts on log-probabilities, as Hugging Face: the logprobs are the penalised ones, unrenormalised', () => {
    const penalty = 1.5;
    const out = generate(loopy, sources, { numBeams: 3, numReturnSequences: 3, repetitionPenalty: penalty, maxNewTokens: 8, lengthPenalty: 1, logprobs: true });
    sources.forEach((src, b) => {
      for (const s of out[b].sequences) {
        const tokens = generatedTokens(loopy, s);
        const input = [bosId, ...tokens].slice(0, tokens.length);
        const [rows] = forcedLogits(loopy, src, [input]);
        const expected = tokens.map((id, t) => {
          const lsm = logSoftmax64(rows[t]);
          return input.slice(0, t + 1).includes(id) ? lsm[id] * penalty : lsm[id];
        });
        expectClose(s.logprobs!, expected, 2e-5, 1e-4, `src ${b}`);
        expectScore(s.score, sum(expected) / tokens.length, tokens.length, `src ${b}`);
      }
    });
  });

  it('noRepeatNgramSize: no n-gram occurs twice in any output over long generations', () => {
    for (const n of [2, 3]) {
      const options: GenerationOptions = { maxNewTokens: 30, stopAtEos: false };
      // Without the option the outputs do repeat n-grams.
      expect(allSequences(generate(loopy, sources, options)).some((s) => repeatedNgrams([bosId, ...s.ids], n).length > 0)).toBe(true);
      for (const [how, seqs] of threeWays(loopy, { ...options, noRepeatNgramSize: n })) {
        for (const s of seqs) expect(repeatedNgrams([bosId, ...s.ids], n), `${how} n ${n}: ${s.ids.join(' ')}`).toEqual([]);
      }
      expectGreedyAsPlain(loopy, { ...options, noRepeatNgramSize: n }, (r, prefix) => {
        const tail = prefix.slice(prefix.length - (n - 1)).join(' ');
        for (let i = 0; i + n <= prefix.length; i++) if (prefix.slice(i, i + n - 1).join(' ') === tail) r[prefix[i + n - 1]] = NEG;
      });
    }
  });

  it('minNewTokens: no EOS before that many tokens', () => {
    const options: GenerationOptions = { maxNewTokens: 10 };
    const min = 4;
    expect(allSequences(generate(model, sources, options)).some((s) => s.finishReason === 'stop' && s.ids.length < min)).toBe(true);
    let stops = 0;
    for (const [how, seqs] of threeWays(model, { ...options, minNewTokens: min })) {
      for (const s of seqs) {
        expect(s.ids.length, `${how}: ${s.ids.join(' ')} ${s.finishReason}`).toBeGreaterThanOrEqual(min);
        if (s.finishReason === 'stop') stops++;
      }
    }
    expect(stops, 'EOS still ends sequences afterwards').toBeGreaterThan(0);
    expectGreedyAsPlain(model, { ...options, minNewTokens: min }, (r, _prefix, generated) => {
      if (generated < min) r[eosId] = NEG;
    });
  });

  it('badWordsIds: a single id never appears; a two-token sequence never appears, its first id still may', () => {
    const options: GenerationOptions = { maxNewTokens: 20, stopAtEos: false };
    const plain = allSequences(generate(loopy, sources, options)).map((s) => [bosId, ...s.ids]);
    // The commonest generated id, and the commonest generated bigram of two other ids.
    const count = new Map<string, number>();
    const bump = (k: string) => count.set(k, (count.get(k) ?? 0) + 1);
    for (const t of plain) t.slice(1).forEach((id) => bump(`${id}`));
    const single = Number([...count].filter(([k]) => !k.includes(' ')).sort((a, b) => b[1] - a[1])[0][0]);
    for (const t of plain) for (let i = 1; i + 1 < t.length; i++) if (t[i] !== single && t[i + 1] !== single) bump(`${t[i]} ${t[i + 1]}`);
    const pair = [...count].filter(([k]) => k.includes(' ')).sort((a, b) => b[1] - a[1])[0][0].split(' ').map(Number);
    const hasPair = (t: number[]) => t.some((id, i) => id === pair[0] && t[i + 1] === pair[1]);
    expect(plain.some(hasPair)).toBe(true);
    let firstStillAppears = false;
    for (const [how, seqs] of threeWays(loopy, { ...options, badWordsIds: [[single], pair] })) {
      for (const s of seqs) {
        const t = [bosId, ...s.ids];
        expect(s.ids, `${how}: ${single} banned`).not.toContain(single);
        expect(hasPair(t), `${how}: ${pair} banned in ${s.ids.join(' ')}`).toBe(false);
        firstStillAppears ||= s.ids.includes(pair[0]);
      }
    }
    expect(firstStillAppears).toBe(true);
    expectGreedyAsPlain(loopy, { ...options, badWordsIds: [[single], pair] }, (r, prefix) => {
      r[single] = NEG;
      if (prefix.at(-1) === pair[0]) r[pair[1]] = NEG;
    });
    // A sequence starting with the start token bans its second id at the first step only.
    for (const [how, seqs] of threeWays(loopy, { ...options, badWordsIds: [[bosId, single]] })) {
      for (const s of seqs) expect(s.ids[0], how).not.toBe(single);
    }
  });

  it('forcedBosTokenId: the first generated token', () => {
    for (const [how, seqs] of threeWays(model, { maxNewTokens: 6, forcedBosTokenId: 7 })) {
      for (const s of seqs) {
        expect(s.ids[0], how).toBe(7);
        expect(s.score, how).toBeGreaterThan(-Infinity);
      }
    }
    // Forcing EOS first ends every sequence at once. (Beam search then has one real hypothesis;
    // the other returned ones continue beams of probability 0, scored -Infinity: see the report.)
    for (const [how, seqs] of threeWays(model, { maxNewTokens: 6, forcedBosTokenId: eosId })) {
      const real = how === 'beam' ? seqs.filter((_, i) => i % 3 === 0) : seqs;
      for (const s of real) expect([s.ids, s.finishReason, s.score], how).toEqual([[], 'stop', 0]);
    }
    expectGreedyAsPlain(model, { maxNewTokens: 6, forcedBosTokenId: 9 }, (r, _p, generated) => {
      if (generated === 0) {
        r.fill(NEG);
        r[9] = 0;
      }
    });
  });

  it('forcedEosTokenId: the token at the last allowed step', () => {
    const maxNewTokens = 6;
    // Forced EOS: no sequence ends by length.
    for (const [how, seqs] of threeWays(loopy, { maxNewTokens, forcedEosTokenId: eosId })) {
      for (const s of seqs) {
        expect(s.finishReason, how).toBe('stop');
        expect(s.ids.length, how).toBeLessThan(maxNewTokens);
      }
      expect(seqs.some((s) => s.ids.length === maxNewTokens - 1), `${how}: some reach the last step`).toBe(true);
    }
    // Another id: sequences that reach maxNewTokens end with it.
    for (const [how, seqs] of threeWays(loopy, { maxNewTokens, forcedEosTokenId: 11 })) {
      for (const s of seqs) if (s.finishReason === 'length') expect(s.ids.at(-1), how).toBe(11);
      expect(seqs.some((s) => s.finishReason === 'length'), how).toBe(true);
    }
    expectGreedyAsPlain(loopy, { maxNewTokens, forcedEosTokenId: 11 }, (r, _p, generated) => {
      if (generated === maxNewTokens - 1) {
        r.fill(NEG);
        r[11] = 0;
      }
    });
  });

  it('a row whose every token is banned scores -Infinity, never NaN (greedy, sampling, beam)', () => {
    // tgtVocab 6 and noRepeatNgramSize 1: after 5 distinct tokens (and the start token) every id is banned.
    const tiny = Transformer.random({ ...small, tgtVocab: 6 }, { seed: 0, backend: 'native' });
    const options: GenerationOptions = { noRepeatNgramSize: 1, maxNewTokens: 8, stopAtEos: false, logprobs: true };
    for (const extra of [{}, { doSample: true, seed: 1 }, { numBeams: 2 }] as GenerationOptions[]) {
      const [g] = generate(tiny, [[4, 5]], { ...options, ...extra });
      const [s] = g.sequences;
      const what = `${JSON.stringify(extra)}: ids ${s.ids}, score ${s.score}, logprobs ${s.logprobs}`;
      expect(s.logprobs!.some(Number.isNaN), what).toBe(false);
      expect(s.score, what).toBe(-Infinity);
    }
    tiny.dispose();
  });

  it('logprobs: present only when asked, one per generated token (the ending EOS included), summing to the score', () => {
    for (const options of [{}, { numBeams: 3, numReturnSequences: 3, lengthPenalty: 0 }, { doSample: true, seed: 4, numReturnSequences: 2 }] as GenerationOptions[]) {
      const withLogprobs = allSequences(generate(model, sources, { ...options, maxNewTokens: 8, logprobs: true, repetitionPenalty: 1.2 }));
      const without = allSequences(generate(model, sources, { ...options, maxNewTokens: 8, repetitionPenalty: 1.2 }));
      withLogprobs.forEach((s, i) => {
        expect(s.logprobs).toHaveLength(generatedTokens(model, s).length);
        expectScore(s.score, sum(s.logprobs!), s.logprobs!.length, JSON.stringify(options));
        expect(without[i].logprobs).toBeUndefined();
        expect([without[i].ids, without[i].score]).toEqual([s.ids, s.score]);
      });
    }
  });
});
