// Marian's vocab.json (token -> id), with the fixture's SentencePiece models and tokenizer_config.json.
import { join } from 'node:path';
import { HF, read } from './common.mjs';
import { tokenizerFileTarget } from './tokenizer-file.mjs';

export default tokenizerFileTarget({
  name: 'marian-vocab',
  fixture: join(HF, 'marian'),
  file: 'vocab.json',
  kind: 'json',
  seeds: () => [read('test/fixtures/hf/marian/vocab.json')],
});
