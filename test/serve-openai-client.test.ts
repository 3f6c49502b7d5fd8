// Official clients, unchanged, against the server on 127.0.0.1:
// - the `openai` npm client (v5) with baseURL http://127.0.0.1:PORT/v1:
//   completions (plain and streamed), models, and its error classes;
// - `@huggingface/inference` (v4): with an endpointUrl, its textGeneration and
//   textGenerationStream post OpenAI-style to {endpointUrl}/v1/completions (it
//   does not call TGI's /generate any more), so that is what it is tested
//   against; TGI's /generate and /generate_stream are tested with fetch in
//   serve-http.test.ts.
import OpenAI from 'openai';
import { InferenceClient, InferenceClientProviderApiError } from '@huggingface/inference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_NAME, Oracle, heldout, startServer, type TestServer } from './serve-helpers.js';

let oracle: Oracle;
let s: TestServer;
let client: OpenAI;

beforeAll(async () => {
  oracle = new Oracle();
  s = await startServer({ maxBatch: 8, maxQueue: 64 });
  client = new OpenAI({ apiKey: 'dummy', baseURL: `${s.url}/v1`, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await s?.close();
  oracle?.dispose();
});

describe('openai client', () => {
  it('completions.create, greedy: the synchronous answer', async () => {
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: heldout[0].text, max_tokens: 16, temperature: 0 });
    expect(completion.object).toBe('text_completion');
    expect(completion.model).toBe(MODEL_NAME);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0].text).toBe(oracle.text(heldout[0].text, { maxNewTokens: 16 }));
    expect(completion.choices[0].text).toBe(heldout[0].digits);
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage?.prompt_tokens).toBe(Array.from(heldout[0].text).length + 1);

    const batch = await client.completions.create({ model: MODEL_NAME, prompt: heldout.slice(1, 4).map((e) => e.text), max_tokens: 16, temperature: 0 });
    expect(batch.choices.map((c) => c.text)).toEqual(heldout.slice(1, 4).map((e) => e.digits));
  });

  it('completions.create with stream: true: chunks add up to the answer', async () => {
    const stream = await client.completions.create({ model: MODEL_NAME, prompt: heldout[4].text, max_tokens: 16, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('text_completion');
      text += chunk.choices[0].text;
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    expect(text).toBe(heldout[4].digits);
    expect(finish).toBe('stop');
    expect(chunks).toBe(heldout[4].digits.length + 1);
  });

  it('models.list and models.retrieve', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual([MODEL_NAME]);
    expect((await client.models.retrieve(MODEL_NAME)).owned_by).toBe('aiayn');
  });

  it("errors arrive as the client's error classes, with param and message", async () => {
    const error = await client.completions.create({ model: MODEL_NAME, prompt: 'um', stop: ['\n'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, param: 'stop', type: 'invalid_request_error' });
    const tooMany = await client.completions.create({ model: MODEL_NAME, prompt: 'um', max_tokens: 1000 }).catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooMany as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('max_tokens');
    const missing = await client.models.retrieve('nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('@huggingface/inference client (endpointUrl: OpenAI-style /v1/completions)', () => {
  const hf = new InferenceClient();

  it('textGeneration', async () => {
    const out = await hf.textGeneration({ endpointUrl: s.url, inputs: heldout[5].text, parameters: { max_new_tokens: 16, temperature: 0 } });
    expect(out.generated_text).toBe(heldout[5].digits);
  });

  it('textGenerationStream', async () => {
    let text = '';
    let events = 0;
    for await (const chunk of hf.textGenerationStream({ endpointUrl: s.url, inputs: heldout[6].text, parameters: { max_new_tokens: 16, temperature: 0 } })) {
      events++;
      // The client yields the server's events as they are: here OpenAI's text_completion chunks.
      text += (chunk as unknown as { choices: Array<{ text: string }> }).choices[0].text;
    }
    expect(text).toBe(heldout[6].digits);
    expect(events).toBe(heldout[6].digits.length + 1);
  });

  it("a bad parameter is the client's error, carrying the server's status and body", async () => {
    const error = await hf.textGeneration({ endpointUrl: s.url, inputs: 'um', parameters: { max_new_tokens: 16, temperature: 0, stop: ['x'] } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InferenceClientProviderApiError);
    // (its message reads only string errors; OpenAI's error is an object, kept in httpResponse.body)
    expect((error as InferenceClientProviderApiError).httpResponse).toMatchObject({ status: 400, body: { error: { param: 'stop', type: 'invalid_request_error' } } });
  });
});
