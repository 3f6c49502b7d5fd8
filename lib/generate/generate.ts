// Synchronous generation over a batch of sources: greedy, beam search or
// sampling, chosen by the options, all rows run in one batch until each ends.
import { checkIdBatch, type Transformer, type TokenBatch } from '../model/transformer.js';
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

/**
 * Generates for every source in one batch (KV-cached; beams and samples are
 * rows of it) and returns one Generation per source, in order. When sampling,
 * source i draws from seed + i, so a source alone with seed s reproduces its
 * row of a batch with seed s - i.
 */
export function generate(model: Transformer, src: TokenBatch, options: GenerationOptions = {}): Generation[] {
  const o = resolveGenerationOptions(options, model.config);
  const searches = checkIdBatch('src', src, model.config.srcVocab, model.config.maxPositions).map((s, i) => createSearch(s, { ...o, seed: o.seed + i }, model.config));
  const runner = new BatchRunner(model);
  runner.add(searches);
  while (runner.size > 0) runner.step();
  return searches.map((s) => s.result());
}
