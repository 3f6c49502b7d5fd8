// Text in, text out: how the CLI and the demo turn strings into source ids and
// generated ids back into strings with a model's tokenizer.
import type { Transformer } from '../model/transformer.js';
import type { CharTokenizer } from '../tokenizer/char.js';

/** Source ids as aiayn's text models are trained (tools/train_pt_numbers.py): the characters, then <eos>. */
export function encodeSource(tokenizer: CharTokenizer, text: string): Int32Array {
  return tokenizer.encode(text, { eos: true });
}

export function requireTokenizer(model: Transformer, dir: string): CharTokenizer {
  if (model.tokenizer === undefined) throw new Error(`${dir}: the model has no tokenizer.json, so it cannot read text`);
  return model.tokenizer;
}

/** Greedy generation for a batch of texts; one output string per input. */
export function generateText(model: Transformer, tokenizer: CharTokenizer, texts: readonly string[], maxNewTokens: number): string[] {
  const ids = model.generate(texts.map((t) => encodeSource(tokenizer, t)), { maxNewTokens });
  return ids.map((row) => tokenizer.decode(row));
}
