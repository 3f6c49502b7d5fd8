// The HTTP server (lib/serve/http.ts) against the demo model: every route's
// answers equal the synchronous API's, SSE framing, every bad input's status
// and error body, limits (413, 429), client disconnects freeing rows,
// /metrics, and SIGTERM on the `aiayn serve` command draining in-flight work.
// Every server listens on 127.0.0.1 port 0; every wait is bounded.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIR,
  MODEL_NAME,
  Oracle,
  fetchWithin,
  getJson,
  heldout,
  parseMetrics,
  parseSse,
  postJson,
  postSse,
  rawRequest,
  startServer,
  until,
  type TestServer,
} from './serve-helpers.js';

const texts = heldout.slice(0, 6).map((e) => e.text);
let oracle: Oracle;
let s: TestServer;

beforeAll(async () => {
  oracle = new Oracle();
  s = await startServer({ maxBatch: 8, maxQueue: 64 }, { maxBodyBytes: 64 * 1024, maxPromptTokens: 76, maxTokensCap: 80 });
});

afterAll(async () => {
  await s?.close();
  oracle?.dispose();
});

describe('routes: answers equal the synchronous API', () => {
  it('GET /health, /v1/models, /v1/models/{id}, /info', async () => {
    expect(await getJson(s.url, '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const models = await getJson(s.url, '/v1/models');
    expect(models.status).toBe(200);
    expect(models.body).toEqual({ object: 'list', data: [{ id: MODEL_NAME, object: 'model', created: expect.any(Number), owned_by: 'aiayn' }] });
    expect((await getJson(s.url, `/v1/models/${MODEL_NAME}`)).body.id).toBe(MODEL_NAME);
    expect((await getJson(s.url, '/v1/models/%E0%A4%A')).status).toBe(404);
    const missing = await getJson(s.url, '/v1/models/gpt-4');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    const info = await getJson(s.url, '/info');
    expect(info.body).toMatchObject({ model_id: MODEL_NAME, max_input_tokens: 76, max_batch_size: 8 });
  });

  it('POST /v1/completions, greedy (temperature 0): one prompt, an array of prompts, token-id prompts', async () => {
    const one = await postJson(s.url, '/v1/completions', { model: MODEL_NAME, prompt: texts[0], max_tokens: 16, temperature: 0 });
    expect(one.status).toBe(200);
    expect(one.headers.get('content-type')).toBe('application/json');
    expect(one.body).toMatchObject({ object: 'text_completion', model: MODEL_NAME, created: expect.any(Number) });
    expect(one.body.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    const expected = oracle.run(texts[0], { maxNewTokens: 16 })[0];
    expect(expected.text).toBe(heldout[0].digits);
    expect(one.body.choices).toEqual([{ text: expected.text, index: 0, logprobs: null, finish_reason: 'stop' }]);
    const promptTokens = Array.from(texts[0]).length + 1;
    expect(one.body.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: expected.ids.length + 1, total_tokens: promptTokens + expected.ids.length + 1 });

    const many = await postJson(s.url, '/v1/completions', { prompt: texts, max_tokens: 16, temperature: 0 });
    expect(many.body.choices.map((c: { text: string }) => c.text)).toEqual(texts.map((t) => oracle.text(t, { maxNewTokens: 16 })));
    expect(many.body.choices.map((c: { index: number }) => c.index)).toEqual(texts.map((_, i) => i));

    const ids = await postJson(s.url, '/v1/completions', { prompt: [Array.from(oracle.ids(texts[1])), Array.from(oracle.ids(texts[2]))], max_tokens: 16, temperature: 0 });
    expect(ids.body.choices.map((c: { text: string }) => c.text)).toEqual([heldout[1].digits, heldout[2].digits]);
    const single = await postJson(s.url, '/v1/completions', { prompt: Array.from(oracle.ids(texts[3])), max_tokens: 16, temperature: 0 });
    expect(single.body.choices[0].text).toBe(heldout[3].digits);
  });

  it('max_tokens ends a completion with finish_reason "length", the synchronous prefix', async () => {
    const r = await postJson(s.url, '/v1/completions', { prompt: texts[0], max_tokens: 3, temperature: 0 });
    expect(r.body.choices[0]).toMatchObject({ text: oracle.text(texts[0], { maxNewTokens: 3 }), finish_reason: 'length' });
    expect(r.body.usage.completion_tokens).toBe(3);
    const tgi = await postJson(s.url, '/generate', { inputs: texts[0], parameters: { max_new_tokens: 2, details: true } });
    expect(tgi.body.generated_text).toBe(oracle.text(texts[0], { maxNewTokens: 2 }));
    expect(tgi.body.details).toMatchObject({ finish_reason: 'length', generated_tokens: 2 });
  });

  it('logprobs: 0 returns the chosen tokens and their log-probabilities', async () => {
    const r = await postJson(s.url, '/v1/completions', { prompt: texts[1], max_tokens: 16, temperature: 0, logprobs: 0 });
    const expected = oracle.run(texts[1], { maxNewTokens: 16, logprobs: true })[0];
    const lp = r.body.choices[0].logprobs;
    expect(lp.tokens.join('')).toBe(expected.text);
    expect(lp.top_logprobs).toBeNull();
    expect(lp.text_offset).toEqual(lp.tokens.map((_: string, i: number) => i));
    lp.token_logprobs.forEach((x: number, i: number) => expect(x).toBeCloseTo(expected.logprobs![i], 4));
  });

  it('n > 1: samples (seeded, prompt-major), n best beams, or n copies of the greedy answer', async () => {
    const sampled = await postJson(s.url, '/v1/completions', { prompt: texts.slice(0, 2), n: 3, temperature: 1.3, top_p: 0.95, seed: 11, max_tokens: 10 });
    expect(sampled.status).toBe(200);
    expect(sampled.body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const expectedSamples = texts.slice(0, 2).flatMap((t) =>
      oracle.run(t, { doSample: true, temperature: 1.3, topP: 0.95, seed: 11, numReturnSequences: 3, maxNewTokens: 10 }).map((q) => q.text));
    expect(sampled.body.choices.map((c: { text: string }) => c.text)).toEqual(expectedSamples);
    const again = await postJson(s.url, '/v1/completions', { prompt: texts.slice(0, 2), n: 3, temperature: 1.3, top_p: 0.95, seed: 11, max_tokens: 10 });
    expect(again.body.choices).toEqual(sampled.body.choices);

    const beams = await postJson(s.url, '/v1/completions', { prompt: texts[2], n: 2, num_beams: 3, max_tokens: 12 });
    expect(beams.body.choices.map((c: { text: string }) => c.text)).toEqual(oracle.run(texts[2], { numBeams: 3, numReturnSequences: 2, maxNewTokens: 12 }).map((q) => q.text));

    const copies = await postJson(s.url, '/v1/completions', { prompt: texts[3], n: 3, temperature: 0 });
    expect(copies.body.choices.map((c: { text: string }) => c.text)).toEqual([heldout[3].digits, heldout[3].digits, heldout[3].digits]);
    expect(copies.body.usage.completion_tokens).toBe(3 * (heldout[3].digits.length + 1));
  });

  it('POST /generate: greedy with details, beams, sampling with a seed, best_of', async () => {
    const r = await postJson(s.url, '/generate', { inputs: texts[0], parameters: { max_new_tokens: 16, details: true } });
    expect(r.status).toBe(200);
    const expected = oracle.run(texts[0], { maxNewTokens: 16, logprobs: true })[0];
    expect(r.body.generated_text).toBe(expected.text);
    expect(r.body.details).toMatchObject({ finish_reason: 'eos_token', generated_tokens: expected.ids.length + 1, seed: null, prefill: [] });
    expect(r.body.details.tokens.map((t: { id: number }) => t.id)).toEqual([...expected.ids, oracle.model.config.eosId]);
    expect(r.body.details.tokens.map((t: { text: string }) => t.text).join('')).toBe(expected.text);
    expect(r.body.details.tokens.at(-1)).toMatchObject({ special: true, text: '' });
    r.body.details.tokens.forEach((t: { logprob: number }, i: number) => expect(t.logprob).toBeCloseTo(expected.logprobs![i], 4));

    const plain = await postJson(s.url, '/generate', { inputs: texts[1] });
    expect(plain.body).toEqual({ generated_text: heldout[1].digits });

    const beams = await postJson(s.url, '/generate', { inputs: texts[2], parameters: { num_beams: 4, max_new_tokens: 12 } });
    expect(beams.body.generated_text).toBe(oracle.text(texts[2], { numBeams: 4, maxNewTokens: 12 }));

    const sampled = await postJson(s.url, '/generate', { inputs: texts[3], parameters: { do_sample: true, temperature: 1.5, seed: 5, max_new_tokens: 10, details: true } });
    expect(sampled.body.generated_text).toBe(oracle.text(texts[3], { doSample: true, temperature: 1.5, seed: 5, maxNewTokens: 10 }));
    expect(sampled.body.details.seed).toBe(5);
    // A warper alone samples, as in TGI; the server draws and reports a seed.
    const warped = await postJson(s.url, '/generate', { inputs: texts[3], parameters: { top_k: 3, details: true } });
    expect(warped.body.details.seed).toEqual(expect.any(Number));
    const replay = await postJson(s.url, '/generate', { inputs: texts[3], parameters: { top_k: 3, seed: warped.body.details.seed } });
    expect(replay.body.generated_text).toBe(warped.body.generated_text);

    const bestOf = await postJson(s.url, '/generate', { inputs: texts[4], parameters: { do_sample: true, best_of: 3, seed: 2, max_new_tokens: 10, details: true } });
    const candidates = oracle.run(texts[4], { doSample: true, seed: 2, numReturnSequences: 3, maxNewTokens: 10 });
    const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
    expect(bestOf.body.generated_text).toBe(best.text);
    expect(bestOf.body.details.best_of_sequences).toHaveLength(2);
  });
});

describe('SSE', () => {
  it('/v1/completions stream: text_completion chunks, then [DONE]; usage with stream_options', async () => {
    const r = await postSse(s.url, '/v1/completions', { prompt: texts[0], max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect(r.events.at(-1)).toBe('[DONE]');
    const chunks = r.events.slice(0, -1).map((e) => JSON.parse(e));
    const usage = chunks.pop();
    expect(usage).toMatchObject({ choices: [], usage: { prompt_tokens: Array.from(texts[0]).length + 1 } });
    for (const c of chunks) {
      expect(c).toMatchObject({ object: 'text_completion', model: MODEL_NAME, id: chunks[0].id });
      expect(c.choices).toHaveLength(1);
    }
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(heldout[0].digits);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(usage.usage.completion_tokens).toBe(heldout[0].digits.length + 1);
  });

  it('/v1/completions stream with several prompts and n: every choice index adds up to its answer', async () => {
    const r = await postSse(s.url, '/v1/completions', { prompt: texts.slice(0, 3), n: 2, temperature: 0, stream: true, logprobs: 0 });
    const chunks = r.events.slice(0, -1).map((e) => JSON.parse(e));
    const byIndex = new Map<number, string>();
    const finished = new Map<number, string>();
    for (const c of chunks) {
      const choice = c.choices[0];
      byIndex.set(choice.index, (byIndex.get(choice.index) ?? '') + choice.text);
      if (choice.finish_reason) finished.set(choice.index, choice.finish_reason);
      if (choice.text !== '') expect(choice.logprobs.tokens).toEqual([choice.text]);
    }
    expect([...byIndex.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 6; i++) {
      expect(byIndex.get(i)).toBe(heldout[i >> 1].digits);
      expect(finished.get(i)).toBe('stop');
    }
  });

  it('/generate_stream: one token per event, generated_text and details on the last', async () => {
    const r = await postSse(s.url, '/generate_stream', { inputs: texts[1], parameters: { max_new_tokens: 16, details: true } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    const events = r.events.map((e) => JSON.parse(e));
    const expected = oracle.run(texts[1], { maxNewTokens: 16, logprobs: true })[0];
    expect(events.map((e) => e.token.id)).toEqual([...expected.ids, oracle.model.config.eosId]);
    expect(events.map((e) => e.index)).toEqual(events.map((_, i) => i + 1));
    events.forEach((e, i) => expect(e.token.logprob).toBeCloseTo(expected.logprobs![i], 4));
    expect(events.slice(0, -1).every((e) => e.generated_text === null && e.details === null)).toBe(true);
    expect(events.at(-1)).toMatchObject({
      token: { special: true, text: '' },
      generated_text: expected.text,
      details: { finish_reason: 'eos_token', generated_tokens: expected.ids.length + 1, seed: null },
    });
    const noDetails = await postSse(s.url, '/generate_stream', { inputs: texts[1], parameters: { num_beams: 2 } });
    expect(JSON.parse(noDetails.events.at(-1)!)).toMatchObject({ generated_text: oracle.text(texts[1], { numBeams: 2, maxNewTokens: 80 }), details: null });
  });
});

describe('bad input: status and error body naming the field', () => {
  const openaiCases: Array<[string, unknown, string | null]> = [
    ['malformed JSON', '{"prompt": ', null],
    ['empty body', '', null],
    ['not an object', '[1, 2]', null],
    ['no prompt', { max_tokens: 4 }, 'prompt'],
    ['prompt of the wrong type', { prompt: 42 }, 'prompt'],
    ['prompt array with a bad item', { prompt: ['ok', {}] }, 'prompt'],
    ['empty prompt', { prompt: '', temperature: 0 }, 'prompt'],
    ['prompt over the token cap', { prompt: 'um '.repeat(30), temperature: 0 }, 'prompt'],
    ['token id out of range', { prompt: [1, 2, 999], temperature: 0 }, 'prompt'],
    ['max_tokens as a string', { prompt: 'um', max_tokens: '4' }, 'max_tokens'],
    ['max_tokens over the cap', { prompt: 'um', max_tokens: 81 }, 'max_tokens'],
    ['max_tokens 0', { prompt: 'um', max_tokens: 0 }, 'max_tokens'],
    ['unknown parameter', { prompt: 'um', foo: 1 }, 'foo'],
    ['stop', { prompt: 'um', stop: ['\n'] }, 'stop'],
    ['echo', { prompt: 'um', echo: true }, 'echo'],
    ['logprobs > 0', { prompt: 'um', logprobs: 2 }, 'logprobs'],
    ['temperature out of range', { prompt: 'um', temperature: 3 }, 'temperature'],
    ['top_p 0', { prompt: 'um', top_p: 0 }, 'top_p'],
    ['n 0', { prompt: 'um', n: 0 }, 'n'],
    ['n over the batch', { prompt: 'um', n: 9 }, 'n'],
    ['beams with sampling', { prompt: 'um', num_beams: 2, temperature: 0.5 }, 'temperature'],
    ['n over num_beams', { prompt: 'um', num_beams: 2, n: 3 }, 'n'],
    ['frequency_penalty', { prompt: 'um', frequency_penalty: 0.5 }, 'frequency_penalty'],
    ['best_of', { prompt: 'um', best_of: 3 }, 'best_of'],
    ['stream_options without stream', { prompt: 'um', stream_options: { include_usage: true } }, 'stream_options'],
    ['min_tokens over max_tokens', { prompt: 'um', max_tokens: 4, min_tokens: 5 }, 'min_tokens'],
    ['repetition_penalty 0', { prompt: 'um', repetition_penalty: 0 }, 'repetition_penalty'],
    ['more prompts than the queue holds', { prompt: Array.from({ length: 65 }, () => 'um'), temperature: 0 }, 'prompt'],
  ];
  for (const [name, body, param] of openaiCases) {
    it(`/v1/completions: ${name} -> 400`, async () => {
      const r = await postJson(s.url, '/v1/completions', body);
      expect(r.status, r.text).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param, message: expect.any(String) });
      if (param) expect(r.body.error.message).toContain(param);
    });
  }

  const tgiCases: Array<[string, string, unknown, string | null]> = [
    ['malformed JSON', '/generate', '{"inputs"', null],
    ['no inputs', '/generate', { parameters: {} }, 'inputs'],
    ['inputs not a string', '/generate', { inputs: 3 }, 'inputs'],
    ['empty inputs', '/generate', { inputs: '' }, 'inputs'],
    ['inputs over the token cap', '/generate', { inputs: 'um '.repeat(30) }, 'inputs'],
    ['unknown top-level field', '/generate', { inputs: 'um', stream: true }, 'stream'],
    ['unknown parameter', '/generate', { inputs: 'um', parameters: { foo: 1 } }, 'parameters.foo'],
    ['parameters not an object', '/generate', { inputs: 'um', parameters: [] }, 'parameters'],
    ['max_new_tokens over the cap', '/generate', { inputs: 'um', parameters: { max_new_tokens: 100 } }, 'parameters.max_new_tokens'],
    ['max_new_tokens wrong type', '/generate', { inputs: 'um', parameters: { max_new_tokens: 'x' } }, 'parameters.max_new_tokens'],
    ['temperature 0', '/generate', { inputs: 'um', parameters: { temperature: 0 } }, 'parameters.temperature'],
    ['decoder_input_details', '/generate', { inputs: 'um', parameters: { decoder_input_details: true } }, 'parameters.decoder_input_details'],
    ['return_full_text', '/generate', { inputs: 'um', parameters: { return_full_text: true } }, 'parameters.return_full_text'],
    ['stop', '/generate', { inputs: 'um', parameters: { stop: ['x'] } }, 'parameters.stop'],
    ['truncate', '/generate', { inputs: 'um', parameters: { truncate: 5 } }, 'parameters.truncate'],
    ['typical_p', '/generate', { inputs: 'um', parameters: { typical_p: 0.5 } }, 'parameters.typical_p'],
    ['watermark', '/generate', { inputs: 'um', parameters: { watermark: true } }, 'parameters.watermark'],
    ['best_of without sampling', '/generate', { inputs: 'um', parameters: { best_of: 2 } }, 'parameters.best_of'],
    ['best_of on the stream', '/generate_stream', { inputs: 'um', parameters: { best_of: 2, do_sample: true } }, 'parameters.best_of'],
    ['beams with sampling', '/generate_stream', { inputs: 'um', parameters: { num_beams: 2, do_sample: true } }, 'parameters.num_beams'],
    ['beams over the batch', '/generate', { inputs: 'um', parameters: { num_beams: 9 } }, 'parameters.num_beams'],
  ];
  for (const [name, path, body, field] of tgiCases) {
    it(`${path}: ${name} -> 422`, async () => {
      const r = await postJson(s.url, path, body);
      expect(r.status, r.text).toBe(422);
      expect(r.body).toEqual({ error: expect.any(String), error_type: 'validation' });
      if (field) expect(r.body.error).toContain(field);
    });
  }

  it('404 unknown route, 405 wrong method (with Allow), 415 wrong content type, in each API\'s shape', async () => {
    const notFound = await postJson(s.url, '/v1/chat/completions', { messages: [] });
    expect(notFound.status).toBe(404);
    expect(notFound.body.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('/v1/chat/completions') });
    const tgiNotFound = await getJson(s.url, '/nope');
    expect(tgiNotFound).toMatchObject({ status: 404, body: { error_type: 'not_found' } });
    const wrongMethod = await getJson(s.url, '/v1/completions');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await getJson(s.url, '/generate', 'DELETE')).status).toBe(405);
    expect((await postJson(s.url, '/health', {})).status).toBe(405);
    const wrongType = await postJson(s.url, '/v1/completions', { prompt: 'um' }, { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error.type).toBe('invalid_request_error');
    expect((await postJson(s.url, '/generate', { inputs: 'um' }, { 'content-type': 'application/x-www-form-urlencoded' })).body.error_type).toBe('unsupported_media_type');
    // charset parameters are fine
    expect((await postJson(s.url, '/generate', { inputs: texts[0] }, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('413 for a body over the cap: declared, or streamed without a length; nothing else is disturbed', async () => {
    const big = JSON.stringify({ inputs: 'x'.repeat(100 * 1024) });
    const declared = await postJson(s.url, '/generate', big);
    expect(declared.status).toBe(413);
    expect(declared.body.error_type).toBe('payload_too_large');
    const openai = await postJson(s.url, '/v1/completions', JSON.stringify({ prompt: 'x'.repeat(100 * 1024) }));
    expect(openai.status).toBe(413);
    expect(openai.body.error.message).toContain('65536');
    // Chunked, never ending: the server answers once the cap is passed, without waiting for the rest.
    const chunked = await rawRequest(s.port, {
      path: '/v1/completions',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      writeChunks: [Buffer.from('{"prompt": "'), Buffer.alloc(70 * 1024, 'a')],
    });
    expect(chunked.status).toBe(413);
    // A declared length far over the cap is refused before any byte of the body is read.
    const declaredOnly = await rawRequest(s.port, {
      path: '/generate',
      headers: { 'content-type': 'application/json', 'content-length': 1 << 30 },
      writeChunks: [Buffer.from('{')],
    });
    expect(declaredOnly.status).toBe(413);
    expect((await postJson(s.url, '/generate', { inputs: texts[0] })).body.generated_text).toBe(heldout[0].digits);
  });

  it('malformed HTTP gets a 400 and the server keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(s.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (data += c));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await getJson(s.url, '/health')).status).toBe(200);
  });
});

describe('metrics', () => {
  it('GET /metrics: Prometheus text format 0.0.4 with the requests, tokens, queue and histograms', async () => {
    const read = async () => {
      const res = await fetchWithin(`${s.url}/metrics`);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      return parseMetrics(await res.text());
    };
    const before = await read();
    const ok = (m: Map<string, number>, route: string, status: number) => m.get(`aiayn_requests_total{route="${route}",status="${status}"}`) ?? 0;
    await postJson(s.url, '/generate', { inputs: texts[2] });
    await postJson(s.url, '/generate', { inputs: texts[2] });
    await postJson(s.url, '/generate', { inputs: 'um', parameters: { foo: 1 } });
    await getJson(s.url, '/nowhere');
    const after = await read();
    expect(ok(after, '/generate', 200) - ok(before, '/generate', 200)).toBe(2);
    expect(ok(after, '/generate', 422) - ok(before, '/generate', 422)).toBe(1);
    expect(ok(after, 'unmatched', 404) - ok(before, 'unmatched', 404)).toBe(1);
    expect(after.get('aiayn_generated_tokens_total')! - before.get('aiayn_generated_tokens_total')!).toBe(2 * (heldout[2].digits.length + 1));
    expect(after.get('aiayn_prompt_tokens_total')! - before.get('aiayn_prompt_tokens_total')!).toBe(2 * (Array.from(texts[2]).length + 1));
    expect(after.get('aiayn_queue_depth')).toBe(0);
    expect(after.get('aiayn_running_requests')).toBe(0);
    for (const h of ['aiayn_batch_rows', 'aiayn_step_seconds']) {
      const count = after.get(`${h}_count`)!;
      expect(count).toBeGreaterThan(0);
      expect(after.get(`${h}_bucket{le="+Inf"}`)).toBe(count);
    }
    const durations = [...after.entries()].filter(([k]) => k.startsWith('aiayn_request_duration_seconds_bucket{route="/generate"'));
    expect(durations.length).toBeGreaterThan(5);
    for (let i = 1; i < durations.length; i++) expect(durations[i][1]).toBeGreaterThanOrEqual(durations[i - 1][1]);
  });
});

describe('a slow server (reference backend, 8 rows, queue of 1)', () => {
  // 8 beams with EOS banned for 80 steps fill the batch for about a second: long enough to act in the middle.
  const SLOW = { prompt: texts[0], num_beams: 8, max_tokens: 80, min_tokens: 80 };
  let slowServer: TestServer;
  beforeAll(async () => {
    slowServer = await startServer({ backend: 'reference', maxBatch: 8, maxQueue: 1 }, { countTokens: (text) => {
      if (text === 'explode') throw new Error('secret internal detail');
      return Array.from(text).length + 1;
    } });
  });
  afterAll(async () => {
    await slowServer?.close();
  });

  it('a client that disconnects frees its rows: streaming, decoding, or waiting in the queue', async () => {
    const tokensBefore = slowServer.http.metrics.generatedTokens.get();
    const gone499 = () => slowServer.http.metrics.requests.get({ route: '/v1/completions', status: '499' });
    const before499 = gone499();
    let steps = 0;
    const count = () => steps++;
    slowServer.engine.on('step', count);
    try {
      // Streaming: read the first event, then leave.
      const controller = new AbortController();
      const res = await fetchWithin(`${slowServer.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // 8 samples stream token by token (beam search streams its sequences when it ends).
        body: JSON.stringify({ prompt: texts[0], n: 8, temperature: 1, seed: 3, max_tokens: 80, min_tokens: 80, stream: true }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toMatch(/^data: /);
      expect(slowServer.engine.stats).toMatchObject({ running: 1, rows: 8 });
      controller.abort();
      await until(() => slowServer.engine.stats.running === 0, 5000, 'the streamed request to be cancelled');
      expect(steps).toBeLessThan(40);

      // Not streaming: leave while it decodes, while another waits behind it; then the waiting one leaves too.
      steps = 0;
      const running = new AbortController();
      const first2 = fetchWithin(`${slowServer.url}/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: texts[0], parameters: { num_beams: 8, max_new_tokens: 80, min_new_tokens: 80 } }),
        signal: running.signal,
      }).catch((e: unknown) => e);
      await until(() => slowServer.engine.stats.running === 1, 5000, 'the request to run');
      const waiting = new AbortController();
      const second = fetchWithin(`${slowServer.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(SLOW),
        signal: waiting.signal,
      }).catch((e: unknown) => e);
      await until(() => slowServer.engine.stats.queued === 1, 5000, 'the second request to wait');
      waiting.abort();
      await until(() => slowServer.engine.stats.queued === 0, 5000, 'the waiting request to leave the queue');
      expect(slowServer.engine.stats.running).toBe(1);
      running.abort();
      await Promise.all([first2, second]);
      await until(() => slowServer.engine.stats.running === 0, 5000, 'the request to be cancelled');
      expect(steps).toBeLessThan(40);
      // None finished: no generated token was counted; the two /v1/completions requests count as 499.
      expect(slowServer.http.metrics.generatedTokens.get()).toBe(tokensBefore);
      await until(() => gone499() === before499 + 2, 2000, 'the 499 counts');
    } finally {
      slowServer.engine.off('step', count);
    }
    // and the server answers as before
    expect((await postJson(slowServer.url, '/v1/completions', { prompt: texts[1], temperature: 0 })).body.choices[0].text).toBe(heldout[1].digits);
  });


  it('429 with Retry-After: 1 when the queue is full, in each API\'s shape; the others are answered', async () => {
    const running = postJson(slowServer.url, '/v1/completions', SLOW);
    await until(() => slowServer.engine.stats.running === 1, 5000, 'the first request to run');
    const waiting = postJson(slowServer.url, '/generate', { inputs: texts[1] });
    await until(() => slowServer.engine.stats.queued === 1, 5000, 'the second request to wait');
    const openai = await postJson(slowServer.url, '/v1/completions', { prompt: texts[2], temperature: 0 });
    expect(openai.status).toBe(429);
    expect(openai.headers.get('retry-after')).toBe('1');
    expect(openai.body.error).toMatchObject({ type: 'server_error', code: 'queue_full', message: expect.stringContaining('queue') });
    const tgi = await postJson(slowServer.url, '/generate_stream', { inputs: texts[2] });
    expect(tgi.status).toBe(429);
    expect(tgi.headers.get('retry-after')).toBe('1');
    expect(tgi.body.error_type).toBe('overloaded');
    const slow = await running;
    expect(slow.status).toBe(200);
    expect(slow.body.choices[0].finish_reason).toBe('length');
    expect(slow.body.usage.completion_tokens).toBe(80);
    expect((await waiting).body.generated_text).toBe(heldout[1].digits);
  });

  it('an unexpected error is a 500 without details, and the server keeps serving', async () => {
    const r = await postJson(slowServer.url, '/v1/completions', { prompt: 'explode' });
    expect(r.status).toBe(500);
    expect(r.body.error).toMatchObject({ type: 'server_error', message: 'internal server error' });
    expect(r.text).not.toContain('secret');
    expect(r.text).not.toContain('at ');
    const tgi = await postJson(slowServer.url, '/generate', { inputs: 'explode' });
    expect(tgi).toMatchObject({ status: 500, body: { error: 'internal server error' } });
    expect((await postJson(slowServer.url, '/generate', { inputs: texts[0] })).body.generated_text).toBe(heldout[0].digits);
  });
});

describe('aiayn serve', () => {
  it('logs its address; on SIGTERM it stops taking work, finishes the in-flight request, exits 0', async () => {
    const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'serve', '--model', DIR, '--port', '0', '--max-batch', '4', '--backend', 'reference'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(log) || child.exitCode !== null, 30_000, 'the listening line');
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)![1]);
      const url = `http://127.0.0.1:${port}`;
      expect((await getJson(url, '/health')).body).toEqual({ status: 'ok' });
      const metric = async () => parseMetrics(await (await fetchWithin(`${url}/metrics`)).text()).get('aiayn_running_requests');
      // 4 beams, EOS banned for 80 steps, on the reference backend: in flight for a good fraction of a second.
      const slow = postJson(url, '/v1/completions', { prompt: texts[0], num_beams: 4, max_tokens: 80, min_tokens: 80 });
      const deadline = Date.now() + 10_000;
      while ((await metric()) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGTERM');
      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(answer.body.choices[0].finish_reason).toBe('length');
      expect(answer.body.usage.completion_tokens).toBe(80);
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])).toBe(0);
      expect(log).toMatch(/SIGTERM/);
      await expect(fetchWithin(`${url}/health`, {}, 2000)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('bad flags exit 2 with one line; a missing model directory exits 1', async () => {
    const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stderr });
        });
      });
    const badPort = await run(['--model', DIR, '--port', '70000']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr.trim().split('\n')).toHaveLength(1);
    expect(badPort.stderr).toContain('--port');
    const noModel = await run(['--model', 'no/such/dir', '--port', '0']);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr.trim()).toBe('aiayn: model directory no/such/dir does not exist');
  });
});

describe('draining (close())', () => {
  it('in-flight requests finish; a request arriving on an open connection gets 503 and Connection: close', async () => {
    const own = await startServer({ maxBatch: 8, maxQueue: 8 });
    try {
      /** Sends `requests` on one connection (pipelined), returns everything the server wrote until it closed it. */
      const connection = (requests: string[]) => {
        const socket = connect(own.port, '127.0.0.1');
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => (data += c));
        const closed = new Promise<string>((resolve, reject) => {
          socket.on('close', () => resolve(data));
          socket.on('error', reject);
          socket.setTimeout(15_000, () => socket.destroy(new Error('timeout')));
        });
        socket.write(requests[0]);
        return { closed, send: (i: number) => socket.write(requests[i]) };
      };
      const post = (path: string, body: unknown) => {
        const json = JSON.stringify(body);
        return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
      };
      const slow = post('/v1/completions', { prompt: texts[0], num_beams: 8, max_tokens: 80, min_tokens: 80 });
      const a = connection([slow, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n']);
      await until(() => own.engine.stats.running === 1, 5000, 'the request to run');
      const b = connection([post('/generate', { inputs: texts[1] }), post('/generate', { inputs: texts[2] })]);
      await until(() => own.engine.stats.queued === 1, 5000, 'the second request to wait');
      const closing = own.http.close({ timeoutMs: 10_000 });
      expect(own.http.draining).toBe(true);
      a.send(1);
      b.send(1);
      const [ra, rb] = await Promise.all([a.closed, b.closed]);
      await closing;
      const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      expect(statuses(ra)).toEqual([200, 503]);
      expect(ra).toContain('"finish_reason":"length"');
      expect(ra).toContain('{"status":"draining"}');
      expect(statuses(rb)).toEqual([200, 503]);
      expect(rb).toContain(`{"generated_text":"${heldout[1].digits}"}`);
      expect(rb).toContain('"error_type":"unavailable"');
      expect(rb.toLowerCase()).toContain('connection: close');
    } finally {
      await own.close();
    }
  });
});
