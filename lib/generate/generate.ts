// Synchronous generation over a batch of sources: greedy, beam search or
// sampling, chosen by the options, all rows run in one batch until each ends.
import { checkIdBatch, type Transformer, type TokenBatch } from '../model/transformer.js';
import type { TransformerConfig } from '../model/config.js';
import { BatchRunner } from './batch.js';
import { BeamSearch } from './beam.js';
import { resolveGenerationOptions, type Generation, type GenerationOptions, type ResolvedOptions } from './options.js';
import type { Search } from './search.js';
import { SequenceSearch } from './sequences.js';
import { encodeText, resolveLanguages, type LanguageOptions } from './text.js';

/** The search `options` describes for one source: beam search when numBeams > 1, else greedy or sampling. */
export function createSearch(src: Int32Array, options: ResolvedOptions, config: Readonly<TransformerConfig>): Search {
  return options.numBeams > 1 ? new BeamSearch(src, options, config) : new SequenceSearch(src, options, config);
}

const runners = new WeakMap<Transformer, BatchRunner>();

/**
 * Generates for every source in one batch (KV-cached; beams and samples are
 * rows of it) and returns one Generation per source, in order. Sources are id
 * sequences, or texts the model's tokenizer reads (each sequence then has its
 * `text`). The model's generation defaults (its generation_config.json) apply
 * under `options`. When sampling, source i draws from seed + i, so a source
 * alone with seed s reproduces its row of a batch with seed s - i.
 */
export function generate(
  model: Transformer,
  src: TokenBatch | readonly string[],
  options: GenerationOptions & LanguageOptions = {},
): Generation[] {
  const c = model.config;
  const tokenizer = model.tokenizer;
  const languages = resolveLanguages(tokenizer?.languages, options);
  const texts = Array.isArray(src) && src.length > 0 && src.every((s) => typeof s === 'string');
  if (texts && tokenizer === undefined) throw new TypeError('src holds texts but the model has no tokenizer: pass token ids');
  if (!texts && languages.sourcePrefix !== undefined) throw new TypeError(`options.targetLanguage ${JSON.stringify(options.targetLanguage)} is a source-side code: pass texts, or put its id first in each source`);
  const ids = texts ? (src as readonly string[]).map((t, i) => encodeText(tokenizer!, t, `src[${i}]`, languages)) : src;
  const o = resolveGenerationOptions(languages.options, c, [], model.generation);
  const searches = checkIdBatch('src', ids, c.srcVocab, c.maxPositions).map((s, i) => createSearch(s, { ...o, seed: o.seed + i }, c));
  // One runner per model, reused, over the model's kept decode state (its
  // buffers are then written warm; dispose() frees them). A call that throws
  // leaves rows behind, so its runner is dropped (keptState() empties the state).
  const runner = runners.get(model) ?? new BatchRunner(model, model.keptState());
  runners.delete(model);
  runner.add(searches);
  while (runner.size > 0) runner.step();
  runners.set(model, runner);
  const results = searches.map((s) => s.result());
  if (texts) for (const g of results) for (const seq of g.sequences) seq.text = tokenizer!.decode(seq.ids);
  return results;
}
