// Logits processors: rewrite one row's scores in place before a token is
// chosen, from the row's decoder input (start token + generated ids). Same
// meanings and order as Hugging Face's; a banned token gets -Infinity.
import type { ResolvedOptions } from './options.js';

/**
 * scores: one row [V]; tokens: the decoder input so far (start token first);
 * generated: how many tokens were generated before this step.
 */
export type LogitsProcessor = (scores: Float32Array, tokens: readonly number[], generated: number) => void;

/** Divides positive scores by `penalty` and multiplies negative ones (CTRL), once per distinct token seen. */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  return (scores, tokens) => {
    const seen = new Set(tokens);
    for (const id of seen) {
      const s = scores[id];
      scores[id] = s < 0 ? s * penalty : s / penalty;
    }
  };
}

/** Bans every token that would complete an n-gram already in `tokens`. */
export function noRepeatNgram(n: number): LogitsProcessor {
  return (scores, tokens) => {
    const len = tokens.length;
    if (len + 1 < n) return;
    const prefixStart = len - (n - 1);
    for (let i = 0; i + n <= len; i++) {
      let match = true;
      for (let j = 0; j < n - 1 && match; j++) match = tokens[i + j] === tokens[prefixStart + j];
      if (match) scores[tokens[i + n - 1]] = -Infinity;
    }
  };
}

/** Bans EOS until `min` tokens are generated. */
export function minNewTokens(min: number, eosId: number): LogitsProcessor {
  return (scores, _tokens, generated) => {
    if (generated < min) scores[eosId] = -Infinity;
  };
}

/** Bans single bad tokens always and a multi-token one's last id when the rest was just generated. */
export function badWords(sequences: readonly (readonly number[])[]): LogitsProcessor {
  return (scores, tokens) => {
    for (const seq of sequences) {
      const last = seq.length - 1;
      if (last > tokens.length) continue;
      let match = true;
      for (let j = 0; j < last && match; j++) match = tokens[tokens.length - last + j] === seq[j];
      if (match) scores[seq[last]] = -Infinity;
    }
  };
}

/** At step `at` (tokens generated before it), only `id` may come. */
export function forceToken(id: number, at: number): LogitsProcessor {
  return (scores, _tokens, generated) => {
    if (generated !== at) return;
    scores.fill(-Infinity);
    scores[id] = 0;
  };
}

/** log_softmax of the row again (Hugging Face's LogitNormalization, after every other processor). */
export function renormalize(): LogitsProcessor {
  return (scores) => {
    let max = -Infinity;
    for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
    if (max === -Infinity) return;
    let sum = 0;
    for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i] - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < scores.length; i++) scores[i] -= lse;
  };
}

/** The processors `options` asks for, in Hugging Face's order. */
export function buildProcessors(options: ResolvedOptions, eosId: number): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (options.repetitionPenalty !== 1) list.push(repetitionPenalty(options.repetitionPenalty));
  if (options.noRepeatNgramSize > 0) list.push(noRepeatNgram(options.noRepeatNgramSize));
  if (options.minNewTokens > 0) list.push(minNewTokens(options.minNewTokens, eosId));
  if (options.badWordsIds.length > 0) list.push(badWords(options.badWordsIds));
  if (options.forcedBosTokenId !== undefined) list.push(forceToken(options.forcedBosTokenId, 0));
  if (options.forcedEosTokenId !== undefined) list.push(forceToken(options.forcedEosTokenId, options.maxNewTokens - 1));
  if (options.renormalizeLogits) list.push(renormalize());
  return list;
}
