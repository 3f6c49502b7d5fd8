// tokenizer.json (the `tokenizers` crate's format: BPE and Unigram models,
// normalizers, pre-tokenizers, post-processors, decoders; or aiayn's char one).
import { read, utf8 } from './common.mjs';
import { tokenizerFileTarget } from './tokenizer-file.mjs';

/** Small hand-made files reaching the parts the fixtures do not use. */
const HAND_MADE = [
  {
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, '<unk>': 3 }, merges: ['a b'], unk_token: '<unk>', byte_fallback: false },
    added_tokens: [{ id: 4, content: '<s>', special: true, normalized: false }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'ByteLevel', add_prefix_space: true }, { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated' }] },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [4], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteLevel' }, { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
  },
  {
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁a', -1.5], ['b', -2], ['<0x41>', -9]], byte_fallback: true },
    normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAAAAA==' },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
  },
];

export default tokenizerFileTarget({
  name: 'tokenizer-json',
  file: 'tokenizer.json',
  kind: 'json',
  seeds: () => [
    ...['bart', 'mbart', 'nllb', 't5'].map((f) => read('test/fixtures/hf', f, 'tokenizer.json')),
    read('models/pt-numbers/tokenizer.json'),
    ...HAND_MADE.map((j) => utf8(JSON.stringify(j))),
  ],
  dictionary: ['BPE', 'Unigram', 'WordPiece', 'Sequence', 'ByteLevel', 'Metaspace', 'Precompiled', 'TemplateProcessing', 'RobertaProcessing', 'Replace', 'Strip', 'Split', 'char'],
});
