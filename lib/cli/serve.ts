// `aiayn serve`: the model behind the OpenAI- and TGI-compatible HTTP server
// until SIGTERM or SIGINT, then a graceful stop: no new connections, /health
// answers 503, in-flight requests finish, the engine closes, exit 0. A second
// signal cuts the open connections at once.
import { existsSync } from 'node:fs';
import type { WeightDType } from '../backend/backend.js';
import { serve } from '../serve/http.js';
import { formatBytes } from '../serve/kv-budget.js';

export interface ServeCommandOptions {
  model: string;
  host: string;
  port: number;
  backend: 'native' | 'reference';
  dtype: WeightDType;
  outputDtype?: WeightDType;
  maxBatch?: number;
  maxQueue?: number;
  threads?: number;
  /** Bytes the decode state may hold (EngineOptions.maxKvBytes). */
  maxKvBytes?: number;
  /** Worker restarts allowed per minute (EngineOptions.restart.maxRestarts). */
  maxRestarts?: number;
  maxBodyBytes?: number;
  maxPromptTokens?: number;
  maxTokensCap?: number;
  /** Milliseconds in-flight requests get to finish after a signal before their connections are cut. */
  drainTimeout?: number;
}

export async function runServe(opts: ServeCommandOptions, log: (line: string) => void = (line) => process.stderr.write(line + '\n')): Promise<void> {
  if (!existsSync(opts.model)) throw new Error(`model directory ${opts.model} does not exist`);
  const serving = await serve({
    model: opts.model,
    host: opts.host,
    port: opts.port,
    backend: opts.backend,
    dtype: opts.dtype,
    outputDtype: opts.outputDtype,
    maxBatch: opts.maxBatch,
    maxQueue: opts.maxQueue,
    threads: opts.threads,
    maxKvBytes: opts.maxKvBytes,
    restart: opts.maxRestarts === undefined ? undefined : { maxRestarts: opts.maxRestarts },
    maxBodyBytes: opts.maxBodyBytes,
    maxPromptTokens: opts.maxPromptTokens,
    maxTokensCap: opts.maxTokensCap,
    log,
  });
  const { engine } = serving;
  const force = () => {
    log('aiayn: second signal: closing open connections');
    serving.server.closeAllConnections();
  };
  // Handlers first, then the line that says it is up: a supervisor may signal as soon as it reads it.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      // At once: with no listener left, a second signal would take the default action (killing the process mid-drain).
      process.once('SIGTERM', force);
      process.once('SIGINT', force);
      resolve(s);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  engine.on('crash', ({ error }) => log(`aiayn: ${(engine.downError ?? error).message}`)); // the engine's state, not a request's
  engine.on('restart', () => log(`aiayn: the engine's worker restarted (restart ${engine.restarts}); serving again`));
  log(`aiayn: listening on ${serving.url} (model ${opts.model}, batch ${engine.maxBatch}, queue ${engine.maxQueue}, KV cache budget ${formatBytes(engine.maxKvBytes)})`);
  const signal = await signalled;
  log(`aiayn: ${signal}: draining (in-flight requests finish, new ones get 503)`);
  try {
    await serving.close({ timeoutMs: opts.drainTimeout ?? 60_000 });
  } finally {
    process.off('SIGTERM', force);
    process.off('SIGINT', force);
  }
  log('aiayn: stopped');
}
