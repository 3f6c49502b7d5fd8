// tokenizer_config.json (special tokens, added_tokens_decoder, languages), with
// the rest of M2M100's fixture (whose tokenizer reads the most of it).
import { join } from 'node:path';
import { HF, read } from './common.mjs';
import { tokenizerFileTarget } from './tokenizer-file.mjs';

export default tokenizerFileTarget({
  name: 'tokenizer-config',
  fixture: join(HF, 'm2m100'),
  file: 'tokenizer_config.json',
  kind: 'json',
  seeds: () => ['m2m100', 'marian', 'mbart', 'nllb', 't5'].map((f) => read('test/fixtures/hf', f, 'tokenizer_config.json')),
  dictionary: ['added_tokens_decoder', 'additional_special_tokens', 'extra_special_tokens', 'src_lang', 'tgt_lang', 'language_codes', 'separate_vocabs', 'unk_token', 'pad_token', 'eos_token', 'bos_token'],
});
