// Text in, text out: how the CLI and the demo turn strings into source ids and
// generated ids back into strings with a model's tokenizer.
import type { Transformer } from '../model/transformer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { generate } from '../generate/generate.js';
import type { GenerationOptions } from '../generate/options.js';
import type { LanguageOptions } from '../generate/text.js';

export function requireTokenizer(model: Transformer, dir: string): Tokenizer {
  if (model.tokenizer === undefined) throw new Error(`${dir}: the model has no tokenizer files, so it cannot read text`);
  return model.tokenizer;
}

/** Generation for a batch of texts; the best sequence of each, decoded without special tokens. */
export function generateText(model: Transformer, texts: readonly string[], options: GenerationOptions & LanguageOptions): string[] {
  return generate(model, texts, options).map((g) => g.sequences[0].text!);
}
