// Picks a directory's tokenizer by the files present.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CharTokenizer } from './char.js';
import { readJsonFile, readTokenizerConfig } from './config.js';
import { HFTokenizer } from './hf-tokenizer.js';
import { M2M100Tokenizer } from './m2m100.js';
import { MarianTokenizer, readModel, readVocab } from './marian.js';
import { SentencePieceTokenizer } from './sentencepiece-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The tokenizer of a model directory, by the files present: aiayn's character tokenizer.json
 * ("type": "char"), a Hugging Face tokenizer.json, Marian's source.spm + target.spm + vocab.json
 * (+ target_vocab.json), M2M100's sentencepiece.bpe.model + vocab.json, or a bare SentencePiece
 * *.model. Undefined when none is there; malformed files throw an Error naming the file and field.
 */
export function loadTokenizer(dir: string): Tokenizer | undefined {
  const path = (name: string) => join(dir, name);
  const has = (name: string) => existsSync(path(name));
  if (has('tokenizer.json')) {
    const json = readJsonFile(path('tokenizer.json'));
    if (json !== null && typeof json === 'object' && (json as { type?: unknown }).type === 'char') return CharTokenizer.fromJSON(json, path('tokenizer.json'));
    return new HFTokenizer(json, path('tokenizer.json'), readTokenizerConfig(dir));
  }
  if (has('source.spm') && has('target.spm') && has('vocab.json')) {
    const config = readTokenizerConfig(dir);
    const separate = config.raw.separate_vocabs === true;
    if (separate && !has('target_vocab.json')) throw new Error(`${path('tokenizer_config.json')}: separate_vocabs is true but ${path('target_vocab.json')} is missing`);
    return new MarianTokenizer({
      source: readModel(path('source.spm')),
      target: readModel(path('target.spm')),
      vocab: readVocab(path('vocab.json'), readJsonFile(path('vocab.json'))),
      targetVocab: separate ? readVocab(path('target_vocab.json'), readJsonFile(path('target_vocab.json'))) : undefined,
      config,
    });
  }
  if (has('sentencepiece.bpe.model') && has('vocab.json')) {
    return new M2M100Tokenizer(
      readModel(path('sentencepiece.bpe.model')),
      readVocab(path('vocab.json'), readJsonFile(path('vocab.json'))),
      readTokenizerConfig(dir),
      path('tokenizer_config.json'),
    );
  }
  const models = readdirSync(dir).filter((f) => f.endsWith('.model')).sort();
  if (models.length > 0) return new SentencePieceTokenizer(readModel(path(models[0])));
  return undefined;
}
