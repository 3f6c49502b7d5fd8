// Picks a directory's tokenizer by the files present.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CharTokenizer } from './char.js';
import { readJsonFile, readTokenizerConfig } from './config.js';
import { HFTokenizer } from './hf-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The tokenizer of a model directory: aiayn's character tokenizer.json ("type": "char"), a Hugging
 * Face tokenizer.json, Marian's source.spm + target.spm + vocab.json, M2M100's
 * sentencepiece.bpe.model + vocab.json, or a bare SentencePiece *.model. Undefined when none is there.
 */
export function loadTokenizer(dir: string): Tokenizer | undefined {
  const has = (name: string) => existsSync(join(dir, name));
  if (has('tokenizer.json')) {
    const path = join(dir, 'tokenizer.json');
    const json = readJsonFile(path);
    if (json !== null && typeof json === 'object' && (json as { type?: unknown }).type === 'char') return CharTokenizer.fromJSON(json, path);
    return new HFTokenizer(json, path, readTokenizerConfig(dir));
  }
  return undefined;
}
