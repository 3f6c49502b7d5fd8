// Shared by the generation tests: small model configs and the oracles every
// strategy is held against, all written plainly over the teacher-forced
// `model.decode` (no KV cache, no DecodeState, no lib/generate code).
import { expect } from 'vitest';
import type { GeneratedSequence, Transformer, TransformerConfig } from '../lib/index.js';

/** A small random model; EOS is likely with `seed: 3` (checked by the tests that need it). */
export const small: Partial<TransformerConfig> = {
  dModel: 32, heads: 4, dFF: 64, encoderLayers: 2, decoderLayers: 2, srcVocab: 20, tgtVocab: 12,
  maxPositions: 32, padId: 0, bosId: 1, eosId: 2, unkId: 3,
};

/** Sources of different lengths over a 20-id vocabulary (ids >= 4). */
export const sources: number[][] = [[4, 5, 6], [7, 8, 9, 10, 11, 12], [13, 4], [5, 5, 5, 5, 5, 5, 5, 5, 9], [19]];

/** log_softmax of one row, in float64. */
export function logSoftmax64(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (x) => x - lse);
}

/** softmax of one row, in float64. */
export function softmax64(row: ArrayLike<number>): Float64Array {
  return logSoftmax64(row).map(Math.exp);
}

/**
 * Teacher-forced decoder logits of each target sequence over `src`: one array
 * of rows (a row per target position, raw logits as float32 copies).
 */
export function forcedLogits(model: Transformer, src: ArrayLike<number>, targets: number[][]): Float32Array[][] {
  const memory = model.encode(targets.map(() => Array.from(src)));
  const logits = model.decode(targets, memory); // [B, T, V], rows past a target's length are padding
  const [, T, V] = logits.shape;
  return targets.map((tgt, b) =>
    tgt.map((_, t) => logits.data.slice((b * T + t) * V, (b * T + t + 1) * V)),
  );
}

/** The tokens a returned sequence generated: its ids, then the EOS that ended it. */
export function generatedTokens(model: Transformer, seq: GeneratedSequence): number[] {
  return seq.finishReason === 'stop' ? [...seq.ids, model.config.eosId] : seq.ids.slice();
}

/**
 * Per generated token (ending EOS included), its log-probability under the
 * model given the previous ones, recomputed by teacher forcing; `process`
 * (optional) rewrites each row's logits first, as a logits processor would.
 */
export function recomputeLogprobs(
  model: Transformer,
  src: ArrayLike<number>,
  seq: GeneratedSequence,
  process?: (row: Float32Array, prefix: number[]) => void,
): number[] {
  const tokens = generatedTokens(model, seq);
  const input = [model.config.bosId, ...tokens].slice(0, tokens.length); // the last token is never fed
  const [rows] = forcedLogits(model, src, [input]);
  return tokens.map((id, t) => {
    const row = rows[t];
    process?.(row, input.slice(0, t + 1));
    return logSoftmax64(row)[id];
  });
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** |actual - expected| <= 2e-5 * n + 1e-4 * |expected|: n log-probs of float32 logits summed. */
export function expectScore(actual: number, expected: number, n: number, what: string): void {
  const tol = 2e-5 * Math.max(1, n) + 1e-4 * Math.abs(expected);
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`${what}: score ${actual}, expected ${expected} (tolerance ${tol.toExponential(2)})`);
  }
}

export interface PlainSequence {
  ids: number[];
  logprobs: number[];
  finishReason: 'stop' | 'length';
}

/**
 * Greedy decoding written plainly: the whole prefix through decode() each
 * step, the argmax of the last position (first on ties), stopping at EOS or
 * after maxNewTokens. `process` rewrites the logits row first (a processor).
 */
export function plainGreedy(
  model: Transformer,
  src: ArrayLike<number>,
  maxNewTokens: number,
  { stopAtEos = true, process }: { stopAtEos?: boolean; process?: (row: Float32Array, prefix: number[], generated: number) => void } = {},
): PlainSequence {
  const { bosId, eosId } = model.config;
  const prefix = [bosId];
  const ids: number[] = [];
  const logprobs: number[] = [];
  for (let step = 0; step < maxNewTokens; step++) {
    const [rows] = forcedLogits(model, src, [prefix]);
    const row = rows[prefix.length - 1];
    process?.(row, prefix.slice(), step);
    let best = 0;
    for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
    logprobs.push(logSoftmax64(row)[best]);
    if (stopAtEos && best === eosId) return { ids, logprobs, finishReason: 'stop' };
    ids.push(best);
    prefix.push(best);
  }
  return { ids, logprobs, finishReason: 'length' };
}
