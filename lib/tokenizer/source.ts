// How aiayn's text models read text (tools/train_pt_numbers.py trains them so):
// the source is the characters, then <eos>. One place, for the CLI, the demo
// and the serving engine.
import type { CharTokenizer } from './char.js';

/** Source ids of `text`: its characters, then <eos>. */
export function encodeSource(tokenizer: CharTokenizer, text: string): Int32Array {
  return tokenizer.encode(text, { eos: true });
}
