// The engine on a Hugging Face snapshot: it reads texts with the snapshot's
// tokenizer, honours its generation defaults and language options, and
// answers as the synchronous generate() does.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, Transformer, createServer, generate, type GenerationOptions } from '../lib/index.js';
import { postJson } from './serve-helpers.js';

const NLLB = fileURLToPath(new URL('fixtures/hf/nllb/', import.meta.url));
const MARIAN = fileURLToPath(new URL('fixtures/hf/marian/', import.meta.url));
const texts = ['The cat reads a red book today.', 'Café et crème brûlée', 'Meine Großmutter kauft drei Äpfel.'];

describe('Engine on Hugging Face snapshots', () => {
  const engines: Engine[] = [];
  const models: Transformer[] = [];
  beforeAll(async () => {
    for (const dir of [NLLB, MARIAN]) {
      engines.push(await Engine.load(dir, { maxBatch: 16 }));
      models.push(Transformer.load(dir));
    }
  });
  afterAll(async () => {
    for (const e of engines) await e.close();
    for (const m of models) m.dispose();
  });

  it('NLLB: targetLanguage and sourceLanguage give what generate() gives', async () => {
    const [engine, model] = [engines[0], models[0]];
    const options = { targetLanguage: 'fra_Latn', sourceLanguage: 'por_Latn', numBeams: 2, maxNewTokens: 10 };
    const got = await Promise.all(texts.map((t) => engine.generate(t, options)));
    const want = generate(model, texts, options);
    expect(got.map((g) => g.sequences[0].ids)).toEqual(want.map((g) => g.sequences[0].ids));
    expect(got.map((g) => g.sequences[0].text)).toEqual(want.map((g) => g.sequences[0].text));
    expect(got[0].sequences[0].ids[0]).toBe(model.tokenizer!.languages.get('fra_Latn'));
    await expect(engine.generate(texts[0], { targetLanguage: 'xx_Nope' })).rejects.toThrow(/options\.targetLanguage "xx_Nope" is not a language/);
  });

  it("Marian: the snapshot's generation defaults (3 beams, max_length 20) apply to requests too", async () => {
    const [engine, model] = [engines[1], models[1]];
    expect(engine.generation).toEqual(model.generation);
    const got = await Promise.all(texts.map((t) => engine.generate(t)));
    const want = generate(model, texts);
    expect(got.map((g) => g.sequences[0].ids)).toEqual(want.map((g) => g.sequences[0].ids));
  });

  it("the HTTP APIs on Marian (3 beams by default): num_beams 1 is greedy, sampling runs one beam, else the default (found by tools/soak)", async () => {
    const [engine, model] = [engines[1], models[1]];
    const http = createServer(engine, { modelName: 'marian' });
    await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
    const want = (options: GenerationOptions) => generate(model, [texts[0]], { maxNewTokens: 6, ...options })[0].sequences[0].text;
    const openai = async (body: object) => {
      const r = await postJson(base, '/v1/completions', { prompt: texts[0], max_tokens: 6, ...body });
      expect(r.status, r.text).toBe(200);
      return (r.body as { choices: Array<{ text: string }> }).choices[0].text;
    };
    const tgi = async (parameters: object) => {
      const r = await postJson(base, '/generate', { inputs: texts[0], parameters: { max_new_tokens: 6, ...parameters } });
      expect(r.status, r.text).toBe(200);
      return (r.body as { generated_text: string }).generated_text;
    };
    try {
      expect(want({ numBeams: 1 })).not.toBe(want({})); // the default's 3 beams answer otherwise here
      expect(await openai({ temperature: 0, num_beams: 1 })).toBe(want({ numBeams: 1 }));
      expect(await openai({ seed: 3 })).toBe(want({ doSample: true, temperature: 1, seed: 3, numBeams: 1 })); // OpenAI's default temperature 1
      expect(await openai({ temperature: 0 })).toBe(want({}));
      expect(await tgi({ num_beams: 1 })).toBe(want({ numBeams: 1 }));
      expect(await tgi({ do_sample: true, seed: 3 })).toBe(want({ doSample: true, seed: 3, numBeams: 1 }));
      expect(await tgi({})).toBe(want({}));
    } finally {
      await http.close({ timeoutMs: 5000 });
    }
  });

  it('the HTTP APIs take target_language and source_language', async () => {
    const [engine, model] = [engines[0], models[0]];
    const http = createServer(engine, { modelName: 'nllb' });
    await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
    try {
      const want = generate(model, [texts[0]], { targetLanguage: 'fra_Latn', maxNewTokens: 6, numBeams: 1 })[0].sequences[0].text;
      const openai = await postJson(base, '/v1/completions', { prompt: texts[0], max_tokens: 6, temperature: 0, target_language: 'fra_Latn' });
      expect(openai.status).toBe(200);
      expect((openai.body as { choices: Array<{ text: string }> }).choices[0].text).toBe(want);
      const tgi = await postJson(base, '/generate', { inputs: texts[0], parameters: { max_new_tokens: 6, num_beams: 1, target_language: 'fra_Latn' } });
      expect(tgi.status).toBe(200);
      expect((tgi.body as { generated_text: string }).generated_text).toBe(want);
      const bad = await postJson(base, '/v1/completions', { prompt: texts[0], max_tokens: 6, target_language: 'xx_Nope' });
      expect(bad.status).toBe(400);
      expect((bad.body as { error: { message: string; param: string } }).error).toMatchObject({
        param: 'target_language', message: expect.stringMatching(/^target_language "xx_Nope" is not a language of the model's tokenizer/),
      });
    } finally {
      await http.close({ timeoutMs: 5000 });
    }
  });
});
