// Generation (issue #9 §1): greedy against a plain teacher-forced recompute on
// both backends and the demo model; numBeams 1 is greedy; options validation;
// stopAtEos false; continuous batching (requests joining, leaving, mixed
// strategies) equal to each request alone; DecodeState.gather.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { Transformer, generate, type Generation, type GenerationOptions, type Tensor } from '../lib/index.js';
import { BatchRunner } from '../lib/generate/batch.js';
import { BeamSearch } from '../lib/generate/beam.js';
import { createSearch } from '../lib/generate/generate.js';
import { resolveGenerationOptions } from '../lib/generate/options.js';
import type { Search, TokenEvent } from '../lib/generate/search.js';
import { expectClose, isa } from './helpers.js';
import { expectScore, plainGreedy, recomputeLogprobs, small, sources, sum } from './generate-helpers.js';

const backendNames = ['native', 'reference'] as const;

describe(`greedy decoding on ${isa}`, () => {
  for (const backend of backendNames) {
    it(`equals a plain teacher-forced greedy recompute, with its scores and logprobs (${backend})`, () => {
      const reasons = new Set<string>();
      for (const seed of [0, 3]) {
        const model = Transformer.random(small, { seed, backend });
        const out = generate(model, sources, { maxNewTokens: 12, logprobs: true });
        expect(out).toHaveLength(sources.length);
        sources.forEach((src, b) => {
          const [seq] = out[b].sequences;
          expect(out[b].sequences).toHaveLength(1);
          const plain = plainGreedy(model, src, 12);
          const what = `${backend} seed ${seed} src ${b}`;
          expect(seq.ids, what).toEqual(plain.ids);
          expect(seq.finishReason, what).toBe(plain.finishReason);
          expectClose(seq.logprobs!, plain.logprobs, 2e-5, 1e-4, what);
          expectScore(seq.score, sum(plain.logprobs), plain.logprobs.length, what);
          reasons.add(seq.finishReason);
        });
        // Without logprobs: the same ids and score, and no logprobs field.
        const bare = generate(model, sources, { maxNewTokens: 12 });
        bare.forEach((g, b) => {
          expect(g.sequences[0].logprobs).toBeUndefined();
          expect(g.sequences[0].ids).toEqual(out[b].sequences[0].ids);
          expect(g.sequences[0].score).toBe(out[b].sequences[0].score);
        });
        model.dispose();
      }
      expect([...reasons].sort(), 'some sequences end by EOS, some by length').toEqual(['length', 'stop']);
    });
  }

  it('on the demo model: equals the plain recompute and the held-out digits, both backends', () => {
    const heldout = JSON.parse(readFileSync('models/pt-numbers/heldout.json', 'utf8')) as Array<{ text: string; digits: string }>;
    const examples = heldout.slice(0, 4);
    for (const backend of backendNames) {
      const model = Transformer.load('models/pt-numbers', { backend });
      const tok = model.tokenizer!;
      const src = examples.map((e) => tok.encode(e.text, { eos: true }));
      const out = generate(model, src, { maxNewTokens: 10, logprobs: true });
      examples.forEach((e, b) => {
        const [seq] = out[b].sequences;
        const plain = plainGreedy(model, src[b], 10);
        expect(seq.ids, `${backend} ${e.text}`).toEqual(plain.ids);
        expect(tok.decode(seq.ids), backend).toBe(e.digits);
        expect(seq.finishReason).toBe('stop');
        expectScore(seq.score, sum(plain.logprobs), plain.logprobs.length, `${backend} ${e.text}`);
        // A trained model is confident: every token has a high probability.
        expect(Math.exp(seq.score)).toBeGreaterThan(0.5);
      });
      model.dispose();
    }
  });

  it('numBeams: 1 is greedy, through generate and as a BeamSearch driven by a BatchRunner', () => {
    for (const backend of backendNames) {
      const model = Transformer.random(small, { seed: 3, backend });
      const greedy = generate(model, sources, { maxNewTokens: 12 });
      expect(generate(model, sources, { maxNewTokens: 12, numBeams: 1 })).toEqual(greedy);
      for (const lengthPenalty of [1, 0, 2.5]) {
        const o = resolveGenerationOptions({ numBeams: 1, maxNewTokens: 12, lengthPenalty }, model.config);
        const searches = sources.map((s) => new BeamSearch(Int32Array.from(s), o, model.config));
        const runner = new BatchRunner(model);
        runner.add(searches);
        while (runner.size) runner.step();
        searches.forEach((search, b) => {
          const [best] = search.result().sequences;
          const [g] = greedy[b].sequences;
          const what = `${backend} lengthPenalty ${lengthPenalty} src ${b}`;
          expect(best.ids, what).toEqual(g.ids);
          expect(best.finishReason, what).toBe(g.finishReason);
          const length = g.ids.length + (g.finishReason === 'stop' ? 1 : 0);
          expectScore(best.score, g.score / length ** lengthPenalty, length, what);
        });
      }
      model.dispose();
    }
  });
});

describe('generation options', () => {
  const model = Transformer.random(small, { seed: 1, backend: 'reference' });
  const V = small.tgtVocab!;
  const P = small.maxPositions!;

  it('every bad value is a TypeError or RangeError naming options.<field>', () => {
    const bad: Array<[GenerationOptions | Record<string, unknown>, ErrorConstructor | null, RegExp]> = [
      [{ maxNewTokens: 0 }, RangeError, /options\.maxNewTokens must be an integer in \[1, 32\], got 0/],
      [{ maxNewTokens: P + 1 }, RangeError, /options\.maxNewTokens .*got 33/],
      [{ maxNewTokens: 2.5 }, RangeError, /options\.maxNewTokens/],
      [{ maxNewTokens: '4' }, TypeError, /options\.maxNewTokens must be a number, got "4"/],
      [{ stopAtEos: 'no' }, TypeError, /options\.stopAtEos must be a boolean, got "no"/],
      [{ numBeams: 0 }, RangeError, /options\.numBeams .*got 0/],
      [{ numBeams: 257 }, RangeError, /options\.numBeams/],
      [{ numBeams: 2.5 }, RangeError, /options\.numBeams/],
      [{ numBeams: '2' }, TypeError, /options\.numBeams must be a number, got "2"/],
      [{ lengthPenalty: NaN }, RangeError, /options\.lengthPenalty must be a finite number, got NaN/],
      [{ lengthPenalty: Infinity }, RangeError, /options\.lengthPenalty/],
      [{ lengthPenalty: '1' }, TypeError, /options\.lengthPenalty must be a number/],
      [{ earlyStopping: 'always' }, RangeError, /options\.earlyStopping must be true, false or 'never', got "always"/],
      [{ earlyStopping: 1 }, null, /options\.earlyStopping/],
      [{ numReturnSequences: 2 }, RangeError, /options\.numReturnSequences must be an integer in \[1, 1\], got 2/],
      [{ numBeams: 3, numReturnSequences: 4 }, RangeError, /options\.numReturnSequences must be an integer in \[1, 3\], got 4/],
      [{ numReturnSequences: 0 }, RangeError, /options\.numReturnSequences/],
      [{ doSample: true, numReturnSequences: 257 }, RangeError, /options\.numReturnSequences/],
      [{ doSample: 1 }, TypeError, /options\.doSample must be a boolean, got 1/],
      [{ doSample: true, numBeams: 2 }, RangeError, /options\.doSample.*options\.numBeams/],
      [{ doSample: true, temperature: 0 }, RangeError, /options\.temperature must be a finite number > 0, got 0/],
      [{ doSample: true, temperature: -1 }, RangeError, /options\.temperature/],
      [{ doSample: true, temperature: NaN }, RangeError, /options\.temperature/],
      [{ doSample: true, temperature: '1' }, TypeError, /options\.temperature must be a number/],
      [{ doSample: true, topK: -1 }, RangeError, /options\.topK must be an integer in \[0, 12\], got -1/],
      [{ doSample: true, topK: V + 1 }, RangeError, /options\.topK/],
      [{ doSample: true, topK: 1.5 }, RangeError, /options\.topK/],
      [{ doSample: true, topP: 0 }, RangeError, /options\.topP must be in \(0, 1\], got 0/],
      [{ doSample: true, topP: 1.01 }, RangeError, /options\.topP/],
      [{ doSample: true, seed: -1 }, RangeError, /options\.seed/],
      [{ doSample: true, seed: 0.5 }, RangeError, /options\.seed/],
      [{ doSample: true, seed: '7' }, TypeError, /options\.seed must be a number/],
      // Sampling options without doSample are refused, not ignored.
      [{ temperature: 0.7 }, RangeError, /options\.temperature needs options\.doSample: true/],
      [{ topK: 5 }, RangeError, /options\.topK needs options\.doSample: true/],
      [{ topP: 0.9 }, RangeError, /options\.topP needs options\.doSample: true/],
      [{ seed: 1 }, RangeError, /options\.seed needs options\.doSample: true/],
      [{ doSample: false, temperature: 1 }, RangeError, /options\.temperature needs options\.doSample/],
      [{ numBeams: 3, topK: 2 }, RangeError, /options\.topK needs options\.doSample/],
      [{ repetitionPenalty: 0 }, RangeError, /options\.repetitionPenalty must be in \[1e-6, 1e6\], got 0/],
      [{ repetitionPenalty: 1e-300 }, RangeError, /options\.repetitionPenalty must be in \[1e-6, 1e6\], got 1e-300/],
      [{ repetitionPenalty: -1.2 }, RangeError, /options\.repetitionPenalty/],
      [{ repetitionPenalty: true }, TypeError, /options\.repetitionPenalty must be a number, got boolean/],
      [{ noRepeatNgramSize: -1 }, RangeError, /options\.noRepeatNgramSize/],
      [{ noRepeatNgramSize: 1.5 }, RangeError, /options\.noRepeatNgramSize/],
      [{ minNewTokens: 5, maxNewTokens: 4 }, RangeError, /options\.minNewTokens must be an integer in \[0, 4\], got 5/],
      [{ minNewTokens: -1 }, RangeError, /options\.minNewTokens/],
      [{ badWordsIds: 5 }, TypeError, /options\.badWordsIds must be an array of id arrays, got 5/],
      [{ badWordsIds: [5] }, TypeError, /options\.badWordsIds\[0\] must be a non-empty array of ids, got 5/],
      [{ badWordsIds: [[4], []] }, null, /options\.badWordsIds\[1\] must be a non-empty array/],
      [{ badWordsIds: [[4, V]] }, RangeError, /options\.badWordsIds\[0\]\[1\] must be an integer in \[0, 11\], got 12/],
      [{ badWordsIds: [[4, 'x']] }, TypeError, /options\.badWordsIds\[0\]\[1\] must be a number/],
      [{ forcedBosTokenId: V }, RangeError, /options\.forcedBosTokenId must be an integer in \[0, 11\], got 12/],
      [{ forcedBosTokenId: -1 }, RangeError, /options\.forcedBosTokenId/],
      [{ forcedBosTokenId: '4' }, TypeError, /options\.forcedBosTokenId/],
      [{ forcedEosTokenId: 1.5 }, RangeError, /options\.forcedEosTokenId/],
      [{ forcedEosTokenId: V }, RangeError, /options\.forcedEosTokenId/],
      [{ logprobs: 'yes' }, TypeError, /options\.logprobs must be a boolean, got "yes"/],
      // Unknown fields are errors, with the field's name.
      [{ maxTokens: 5 }, RangeError, /options has an unknown field "maxTokens"/],
      [{ num_beams: 2 }, RangeError, /options has an unknown field "num_beams"/],
    ];
    for (const [options, type, message] of bad) {
      const what = JSON.stringify(options);
      let error: unknown;
      try {
        generate(model, [[4, 5]], options as GenerationOptions);
      } catch (e) {
        error = e;
      }
      expect(error, what).toBeInstanceOf(type ?? Error);
      expect(error instanceof TypeError || error instanceof RangeError, `${what}: TypeError or RangeError`).toBe(true);
      expect((error as Error).message, what).toMatch(message);
    }
    // The options object itself, and the sources.
    expect(() => generate(model, [[4]], null as never)).toThrow(TypeError);
    expect(() => generate(model, [[4]], 5 as never)).toThrow(/options must be an object, got 5/);
    expect(() => generate(model, [[4]], [] as never)).toThrow(TypeError);
    expect(() => generate(model, [], {})).toThrow(/src must hold at least one sequence/);
    expect(() => generate(model, 'ab' as never)).toThrow(TypeError);
    expect(() => generate(model, [[4, 20]])).toThrow(/src\[0\]\[1\] must be an integer id in \[0, 19\], got 20/);
    expect(() => generate(model, [[]])).toThrow(/src\[0\] must not be empty/);
  });

  it('accepts every valid boundary value', () => {
    const ok: GenerationOptions[] = [
      { maxNewTokens: 1 }, { maxNewTokens: P }, { numBeams: 4, numReturnSequences: 4, earlyStopping: 'never', lengthPenalty: -2 },
      { doSample: true, topK: V, topP: 1, temperature: 1e-3, seed: 2 ** 53 - 1 }, { doSample: true, numReturnSequences: 3, seed: 0 },
      { minNewTokens: 4, maxNewTokens: 4 }, { noRepeatNgramSize: 1 }, { badWordsIds: [[0], [1, 2, 3]] },
      { forcedBosTokenId: 0, forcedEosTokenId: V - 1 }, { repetitionPenalty: 0.5 },
    ];
    for (const options of ok) expect(() => generate(model, [[4, 5]], { maxNewTokens: 3, ...options }), JSON.stringify(options)).not.toThrow();
  });

  it('stopAtEos: false runs every sequence exactly maxNewTokens steps (greedy, beam, sampling)', () => {
    const eosModel = Transformer.random(small, { seed: 3, backend: 'native' });
    const eos = eosModel.config.eosId;
    const steps = vi.spyOn(eosModel, 'step');
    const cases: GenerationOptions[] = [{}, { numBeams: 3, numReturnSequences: 3 }, { doSample: true, seed: 5, numReturnSequences: 2 }];
    for (const options of cases) {
      const what = JSON.stringify(options);
      steps.mockClear();
      const full = generate(eosModel, sources, { ...options, maxNewTokens: 9, stopAtEos: false });
      expect(steps.mock.calls.length, what).toBe(9);
      for (const g of full) {
        for (const s of g.sequences) {
          expect(s.ids, what).toHaveLength(9);
          expect(s.finishReason, what).toBe('length');
        }
      }
      expect(full.some((g) => g.sequences.some((s) => s.ids.includes(eos))), `${what}: EOS is an ordinary id`).toBe(true);
    }
    // Greedy and sampling do not look ahead: the EOS-stopped run is the prefix up to the first EOS.
    for (const options of [{}, { doSample: true, seed: 5 }] as GenerationOptions[]) {
      const full = generate(eosModel, sources, { ...options, maxNewTokens: 9, stopAtEos: false });
      const stopped = generate(eosModel, sources, { ...options, maxNewTokens: 9 });
      full.forEach((g, b) => {
        const row = g.sequences[0].ids;
        const at = row.indexOf(eos);
        expect(stopped[b].sequences[0].ids).toEqual(at >= 0 ? row.slice(0, at) : row);
        expect(stopped[b].sequences[0].finishReason).toBe(at >= 0 ? 'stop' : 'length');
      });
    }
    steps.mockRestore();
    eosModel.dispose();
  });
});

describe(`continuous batching on ${isa}`, () => {
  /** A request: its source and options. */
  const requests: Array<[number[], GenerationOptions]> = [
    [[4, 5, 6], { maxNewTokens: 10 }],
    [[7, 8, 9, 10, 11, 12, 13, 14, 15], { numBeams: 3, numReturnSequences: 2, maxNewTokens: 10, logprobs: true }],
    [[16], { doSample: true, seed: 11, numReturnSequences: 2, topK: 6, maxNewTokens: 12 }],
    [[5, 9, 13, 17, 4, 8, 12, 16, 19, 7, 6, 5], { numBeams: 3, maxNewTokens: 9, earlyStopping: true }],
    [[9, 9], { maxNewTokens: 12, stopAtEos: false }], // removed mid-way (still running then)
    [[18, 17, 16, 15], { doSample: true, seed: 3, topP: 0.8, temperature: 0.7, maxNewTokens: 11, logprobs: true }],
    [[11, 6, 4, 19, 13], { numBeams: 2, maxNewTokens: 8, lengthPenalty: 0 }],
  ];

  function expectSameGeneration(actual: Generation, expected: Generation, exactScores: boolean, what: string): void {
    expect(actual.sequences.map((s) => [s.ids, s.finishReason]), what).toEqual(expected.sequences.map((s) => [s.ids, s.finishReason]));
    actual.sequences.forEach((s, i) => {
      const e = expected.sequences[i];
      if (exactScores) expect(s.score, what).toBe(e.score);
      else expectScore(s.score, e.score, s.ids.length + 1, what);
      if (e.logprobs) expectClose(s.logprobs!, e.logprobs, exactScores ? 0 : 2e-5, exactScores ? 0 : 1e-4, what);
      else expect(s.logprobs).toBeUndefined();
    });
  }

  for (const backend of backendNames) {
    it(`requests joining at different steps and leaving, mixed strategies: each equals the request alone (${backend})`, () => {
      // Seed 4: some sequences end by EOS (one beam request after 4 steps), others by length; seed 0: all by length.
      for (const seed of [4, 0]) {
        const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed, backend });
        const searches: Search[] = requests.map(([src, options]) =>
          createSearch(Int32Array.from(src), resolveGenerationOptions(options, model.config), model.config),
        );
        const events = searches.map(() => [] as TokenEvent[]);
        searches.forEach((s, i) => (s.onToken = (e) => events[i].push(e)));
        const runner = new BatchRunner(model);
        const done: Search[] = [];
        const step = (n: number) => {
          for (let i = 0; i < n && runner.size > 0; i++) done.push(...runner.step());
        };
        runner.add([searches[0], searches[1]]);
        expect(runner.rows).toBe(1 + 3);
        step(2);
        expect(searches[0].done || searches[1].done, 'the first requests are still running when the next join').toBe(false);
        runner.add([searches[2], searches[4], searches[3]]); // the one removed later sits between others
        step(3);
        expect(searches[1].done || searches[2].done || searches[3].done).toBe(false);
        step(3);
        // With seed 4 one of request 2's samples has ended: rows before the removed one are not initialRows.
        if (seed === 4) expect(searches[2].rows).toBe(1);
        expect(searches[4].done).toBe(false);
        const rowsBefore = runner.rows;
        const removedRows = searches[4].rows;
        expect(removedRows).toBe(1);
        runner.remove(searches[4]);
        expect(runner.rows).toBe(rowsBefore - removedRows);
        step(1);
        runner.add([searches[5]]);
        step(2);
        expect(searches[5].done || searches.filter((s) => !s.done).length < 3).toBe(false);
        runner.add([searches[6]]);
        while (runner.size > 0) step(1);
        expect(runner.rows).toBe(0);
        expect(done).not.toContain(searches[4]);
        expect(new Set(done)).toEqual(new Set(searches.filter((s) => s !== searches[4])));

        requests.forEach(([src, options], i) => {
          if (i === 4) return;
          const what = `${backend} seed ${seed} request ${i} ${JSON.stringify(options)}`;
          const alone = generate(model, [src], options)[0];
          const result = searches[i].result();
          // The reference backend computes each row on its own: bitwise equal. Native GEMMs may round differently by batch size.
          expectSameGeneration(result, alone, backend === 'reference', what);
          // Streamed tokens: per sequence, its ids, then the ending EOS (special), the finish reason on the last event.
          result.sequences.forEach((s, index) => {
            const mine = events[i].filter((e) => e.index === index);
            expect(mine.filter((e) => !e.special).map((e) => e.id), what).toEqual(s.ids);
            expect(mine.at(-1)!.finishReason, what).toBe(s.finishReason);
            expect(mine.filter((e) => e.finishReason !== undefined), what).toHaveLength(1);
            if (s.finishReason === 'stop') expect(mine.at(-1)!.special).toBe(true);
            if (s.logprobs) expectClose(mine.map((e) => e.logprob!), s.logprobs, 0, 0, what);
          });
        });
        model.dispose();
      }
    });
  }

  it('an onToken callback that runs the same model does not change the other requests of the step', () => {
    // Streaming callbacks are user code: one may run the model again (a follow-up request, a
    // pipeline stage). The runner must not be reading the step's logits from the model's
    // workspace while such a callback overwrites them.
    for (const backend of backendNames) {
      const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 4, backend });
      const o = resolveGenerationOptions({ maxNewTokens: 8 }, model.config);
      const [first, second] = [[4, 5, 6], [7, 8, 9, 10]].map((src) => createSearch(Int32Array.from(src), o, model.config));
      first.onToken = () => void generate(model, [[11, 12, 13, 14, 15], [16, 17], [5]], { maxNewTokens: 3 });
      const runner = new BatchRunner(model);
      runner.add([first, second]);
      while (runner.size > 0) runner.step();
      const alone = generate(model, [[7, 8, 9, 10]], { maxNewTokens: 8 })[0];
      expect(second.result().sequences[0].ids, backend).toEqual(alone.sequences[0].ids);
      model.dispose();
    }
  });

  it('a batch of sources through generate equals each source alone (beam and greedy, padding of different lengths)', () => {
    for (const backend of backendNames) {
      const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 3, backend });
      for (const options of [{ maxNewTokens: 10 }, { numBeams: 4, numReturnSequences: 3, maxNewTokens: 10 }] as GenerationOptions[]) {
        const batched = generate(model, sources, options);
        sources.forEach((src, b) => expectSameGeneration(batched[b], generate(model, [src], options)[0], backend === 'reference', `${backend} ${b}`));
      }
      model.dispose();
    }
  });

  it('generate reuses its decode state across calls; a call that throws midway leaves the next one unaffected', () => {
    const model = Transformer.random({ ...small, tgtVocab: 16 }, { seed: 3 });
    const options: GenerationOptions = { numBeams: 3, maxNewTokens: 10 };
    const first = generate(model, sources, options);
    expect(generate(model, sources, options)).toEqual(first);
    // Step 3 throws, with rows of this call still in the state.
    const step = vi.spyOn(model, 'step');
    let calls = 0;
    step.mockImplementation(function (this: Transformer, ...args) {
      if (++calls === 3) throw new Error('injected');
      return Transformer.prototype.step.apply(model, args);
    });
    expect(() => generate(model, sources, options)).toThrow('injected');
    step.mockRestore();
    expect(generate(model, sources, options)).toEqual(first);
    model.dispose();
  });
});

describe(`DecodeState.gather on ${isa}`, () => {
  /** Row r's logits of a [rows, V] step output, copied. */
  const rowOf = (logits: Tensor, r: number) => logits.data.slice(r * logits.shape[1], (r + 1) * logits.shape[1]);

  for (const backend of backendNames) {
    it(`after gathers with repeated, dropped and permuted rows each row continues as its source row alone (${backend})`, () => {
      const model = Transformer.random(small, { seed: 7, backend });
      const V = model.config.tgtVocab;
      const srcs = [[4, 5, 6, 7, 8], [9], [10, 11, 12, 13, 14, 15, 16, 17, 18]];
      const state = model.createState();
      // Rows 0-2: source 0 (three beams), row 3: source 1, rows 4-5: source 2.
      expect(model.addRows(state, srcs, [3, 1, 2])).toBe(0);
      /** Per row: its source and the tokens fed so far. */
      let rows: Array<{ src: number; fed: number[] }> = [0, 0, 0, 1, 2, 2].map((src) => ({ src, fed: [] }));
      const feed = (tokens: number[]) => {
        const logits = model.step(state, Int32Array.from(tokens));
        rows.forEach((r, i) => r.fed.push(tokens[i]));
        return logits;
      };
      feed([1, 1, 1, 1, 1, 1]);
      feed([4, 5, 6, 7, 8, 9]); // beams of one source diverge
      const gathers = [
        [2, 0, 0, 5, 4, 3, 3], // permuted within and across sources, repeated, nothing dropped
        [6, 1, 4], // dropped, reversed
        [0, 0, 1, 2, 2, 2, 1, 0, 1, 2, 0], // grows past the capacity
        [10, 3, 7, 5], // scattered
      ];
      const alone = (row: { src: number; fed: number[] }) => {
        const s = model.createState();
        model.addRows(s, [srcs[row.src]]);
        let logits: Tensor | undefined;
        for (const t of row.fed) logits = model.step(s, Int32Array.of(t));
        return rowOf(logits!, 0);
      };
      gathers.forEach((indices, g) => {
        state.gather(indices);
        rows = indices.map((i) => ({ src: rows[i].src, fed: rows[i].fed.slice() }));
        expect(state.rows).toBe(indices.length);
        rows.forEach((r, i) => {
          expect(state.position(i)).toBe(r.fed.length);
          expect(state.srcLength(i)).toBe(srcs[r.src].length);
        });
        const tokens = rows.map((_, i) => 4 + ((i * 5 + g * 3) % (V - 4)));
        const logits = feed(tokens);
        const got = rows.map((_, i) => rowOf(logits, i)); // copied: the next step overwrites the logits
        rows.forEach((r, i) => {
          const expected = alone(r);
          const what = `${backend} gather ${g} row ${i} (source ${r.src}, fed ${r.fed.join(' ')})`;
          if (backend === 'reference') expect(Array.from(got[i]), what).toEqual(Array.from(expected));
          else expectClose(got[i], expected, 1e-5 * Math.max(...expected.map(Math.abs)), 0, what);
        });
      });
      // New rows after gathers reuse old slots: a fresh source continues as alone too.
      state.gather([1, 2]);
      rows = [rows[1], rows[2]].map((r) => ({ src: r.src, fed: r.fed.slice() }));
      model.addRows(state, [srcs[1]], [2]);
      rows.push({ src: 1, fed: [] }, { src: 1, fed: [] });
      feed([5, 6, 1, 1]);
      const logits = feed([7, 8, 9, 10]);
      const got = rows.map((_, i) => rowOf(logits, i));
      rows.forEach((r, i) => {
        const expected = alone(r);
        if (backend === 'reference') expect(Array.from(got[i]), `row ${i}`).toEqual(Array.from(expected));
        else expectClose(got[i], expected, 1e-5 * Math.max(...expected.map(Math.abs)), 0, `row ${i}`);
      });
      state.gather([]);
      expect(state.rows).toBe(0);
      expect(() => state.gather([0])).toThrow(RangeError);
      model.dispose();
    });
  }
});
