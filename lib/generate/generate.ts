// Synchronous generation over a batch of sources: greedy, beam search or
// sampling, chosen by the options, all rows run in one batch until each ends.
import { describe } from '../tensor.js';
import { checkIds, type Transformer, type TokenBatch } from '../model/transformer.js';
import type { TransformerConfig } from '../model/config.js';
import { BatchRunner } from './batch.js';
import { BeamSearch } from './beam.js';
import { resolveGenerationOptions, type Generation, type GenerationOptions, type ResolvedOptions } from './options.js';
import type { Search } from './search.js';
import { SequenceSearch } from './sequences.js';

/** The search `options` describes for one source: beam search when numBeams > 1, else greedy or sampling. */
export function createSearch(src: Int32Array, options: ResolvedOptions, config: Readonly<TransformerConfig>): Search {
  return options.numBeams > 1 ? new BeamSearch(src, options, config) : new SequenceSearch(src, options, config);
}

/** Source id sequences checked against the model's vocabulary and positions, as Int32Arrays. */
export function checkSources(src: unknown, config: Readonly<TransformerConfig>): Int32Array[] {
  if (!Array.isArray(src)) throw new TypeError(`src must be an array of id sequences, got ${describe(src)}`);
  if (src.length === 0) throw new RangeError('src must hold at least one sequence, got an empty batch');
  return src.map((s: unknown, b) => checkIds(`src[${b}]`, s, config.srcVocab, config.maxPositions));
}

/**
 * Generates for every source in one batch (KV-cached; beams and samples are
 * rows of it) and returns one Generation per source, in order. When sampling,
 * source i draws from seed + i, so a source alone with seed s reproduces its
 * row of a batch with seed s - i.
 */
export function generate(model: Transformer, src: TokenBatch, options: GenerationOptions = {}): Generation[] {
  const o = resolveGenerationOptions(options, model.config);
  const searches = checkSources(src, model.config).map((s, i) => createSearch(s, { ...o, seed: o.seed + i }, model.config));
  const runner = new BatchRunner(model);
  runner.add(searches);
  while (runner.size > 0) runner.step();
  return searches.map((s) => s.result());
}
