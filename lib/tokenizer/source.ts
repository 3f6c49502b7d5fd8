// How aiayn's models read a source text: the tokenizer's own encoding with its
// special tokens (for the character tokenizer of tools/train_pt_numbers.py, the
// characters, then <eos>). One place, for the CLI, the demo and the serving engine.
import type { Tokenizer } from './tokenizer.js';

/** Source ids of `text`, as the model reads them. */
export function encodeSource(tokenizer: Tokenizer, text: string): Int32Array {
  return tokenizer.encode(text);
}
