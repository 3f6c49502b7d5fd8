// An HTTP handler's request context without sockets or a model: the body is
// parsed as http.ts parses it, and the engine is a stand-in that checks a
// request exactly as Engine does before queueing it (the same functions) and
// answers with a fixed short result. What is fuzzed is the body's validation.
import { join } from 'node:path';
import { DIST, read } from './common.mjs';

const { resolveGenerationOptions } = await import(join(DIST, 'generate/options.js'));
const { resolveLanguages } = await import(join(DIST, 'generate/text.js'));
const { checkIds } = await import(join(DIST, 'model/transformer.js'));
const { resolveConfig } = await import(join(DIST, 'model/config.js'));
const { ServerMetrics } = await import(join(DIST, 'serve/metrics.js'));
const { ValidationError, toApiError } = await import(join(DIST, 'serve/api.js'));

const config = resolveConfig(JSON.parse(new TextDecoder().decode(read('models/pt-numbers/config.json'))));
const languages = new Map([['fra_Latn', 5], ['deu_Latn', 6]]);

function admit(input, options) {
  const { signal, ...generation } = options;
  const resolved = resolveGenerationOptions(resolveLanguages(languages, generation).options, config, []);
  if (typeof input === 'string') {
    if (input.length === 0) throw new RangeError('input must not be empty');
  } else checkIds('input', input, config.srcVocab, config.maxPositions);
  if (signal?.aborted) throw signal.reason;
  return resolved;
}

function result(resolved) {
  const n = resolved.numReturnSequences;
  return {
    promptTokens: 3,
    sequences: Array.from({ length: n }, (_, i) => ({ ids: [7, 8], text: `r${i}`, finishReason: 'stop', score: -i, logprobs: [-0.5, -0.25] })),
  };
}

const engine = {
  config,
  maxBatch: 8,
  maxQueue: 16,
  hasTokenizer: true,
  generation: {},
  async generate(input, options) {
    return result(admit(input, options));
  },
  stream(input, options) {
    let answer;
    let failure;
    try {
      answer = result(admit(input, options));
    } catch (error) {
      failure = error;
    }
    const pieces = answer?.sequences.flatMap((s, index) => [
      { index, id: 7, text: 'a', special: false, logprob: -0.5 },
      { index, id: 2, text: '', special: true, logprob: -0.25, finishReason: 'stop' },
    ]);
    const done = failure ? Promise.reject(failure) : Promise.resolve(answer);
    done.catch(() => undefined);
    return {
      async *[Symbol.asyncIterator]() {
        if (failure) throw failure;
        yield* pieces;
      },
      result: done,
    };
  },
};

/** A ServerResponse that takes everything written to it. */
function response() {
  return {
    headersSent: false,
    destroyed: false,
    writableEnded: false,
    writableFinished: false,
    statusCode: 200,
    body: '',
    writeHead(status) {
      this.statusCode = status;
      this.headersSent = true;
      return this;
    },
    setHeader() {},
    write(chunk) {
      this.headersSent = true;
      this.body += chunk;
      return true;
    },
    end(chunk = '') {
      this.body += chunk;
      this.writableEnded = this.writableFinished = true;
    },
    on() {},
    off() {},
    once() {},
  };
}

function parseBody(input) {
  if (input.length === 0) throw new ValidationError('the request body is empty: send a JSON object');
  try {
    return JSON.parse(Buffer.from(input).toString('utf8'));
  } catch (error) {
    throw new ValidationError(`the request body is not valid JSON: ${error.message}`);
  }
}

/**
 * A target for `handler(ctx, body)`: resolves, or throws an error the server
 * answers with 4xx (ValidationError, ApiError); anything that would be a 500 is a finding.
 */
export function serveTarget({ name, handlers, seeds, dictionary }) {
  const metrics = new ServerMetrics(() => ({ queued: 0, active: 0, rows: 0, kvBytes: 0 }));
  return {
    name,
    kind: 'json',
    maxLength: 1 << 16,
    dictionary,
    seeds,
    setup: () => ({}),
    async run(_s, input) {
      const body = parseBody(input);
      const controller = new AbortController();
      for (const handler of handlers) {
        const ctx = {
          engine,
          limits: { maxBodyBytes: 1 << 20, maxPromptTokens: config.maxPositions, maxTokensCap: config.maxPositions },
          modelName: 'pt-numbers',
          metrics,
          signal: controller.signal,
          abort: (reason) => controller.abort(reason),
          countTokens: (text) => Array.from(text).length + 1,
          res: response(),
        };
        await handler(ctx, body);
      }
    },
    expect: () => ({ names: [], classes: ['ValidationError', 'ApiError'] }),
    /** Errors are checked by what the server would answer, too: 4xx, never 500. */
    classify(error) {
      const api = toApiError(error, 400);
      return api === undefined || api.status >= 500 ? `would answer 500 for ${error?.constructor?.name}: ${error?.message}` : undefined;
    },
  };
}
