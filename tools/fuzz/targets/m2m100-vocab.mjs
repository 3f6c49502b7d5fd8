// M2M100's vocab.json (token -> id), with the fixture's SentencePiece model and tokenizer_config.json.
import { join } from 'node:path';
import { HF, read } from './common.mjs';
import { tokenizerFileTarget } from './tokenizer-file.mjs';

export default tokenizerFileTarget({
  name: 'm2m100-vocab',
  fixture: join(HF, 'm2m100'),
  file: 'vocab.json',
  kind: 'json',
  seeds: () => [read('test/fixtures/hf/m2m100/vocab.json')],
});
