// A SentencePiece model (*.model: a ModelProto), alone in its directory.
import { read } from './common.mjs';
import { tokenizerFileTarget } from './tokenizer-file.mjs';

export default tokenizerFileTarget({
  name: 'sentencepiece',
  file: 'spiece.model',
  kind: 'protobuf',
  seeds: () => [
    read('test/fixtures/hf/marian/source.spm'),
    read('test/fixtures/hf/marian/target.spm'),
    read('test/fixtures/hf/m2m100/sentencepiece.bpe.model'),
  ],
  dictionary: ['\u2581', '<unk>', '<s>', '</s>', '<0x41>'],
});
