// Text in, text out: how the CLI and the demo turn strings into source ids and
// generated ids back into strings with a model's tokenizer.
import type { Transformer } from '../model/transformer.js';
import type { CharTokenizer } from '../tokenizer/char.js';
import { encodeSource } from '../tokenizer/source.js';
import { generate } from '../generate/generate.js';
import type { GenerationOptions } from '../generate/options.js';

export function requireTokenizer(model: Transformer, dir: string): CharTokenizer {
  if (model.tokenizer === undefined) throw new Error(`${dir}: the model has no tokenizer.json, so it cannot read text`);
  return model.tokenizer;
}

/** Generation for a batch of texts; the best sequence of each as a string. */
export function generateText(model: Transformer, tokenizer: CharTokenizer, texts: readonly string[], options: GenerationOptions): string[] {
  const results = generate(model, texts.map((t) => encodeSource(tokenizer, t)), options);
  return results.map((g) => tokenizer.decode(g.sequences[0].ids));
}
