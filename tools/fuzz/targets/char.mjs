// aiayn's character tokenizer file, through CharTokenizer.load.
import { join } from 'node:path';
import { DIST, exercise, namesFor, read, remove, scratch, write } from './common.mjs';

const { CharTokenizer } = await import(join(DIST, 'tokenizer/char.js'));

export default {
  name: 'char',
  kind: 'json',
  maxLength: 1 << 16,
  dictionary: ['type', 'char', 'specials', 'chars', '<pad>', '<bos>', '<eos>', '<unk>'],
  seeds: () => [read('models/pt-numbers/tokenizer.json')],
  setup() {
    const dir = scratch('char');
    return { dir, path: join(dir, 'tokenizer.json') };
  },
  teardown(s) {
    remove(s.dir);
  },
  run(s, input) {
    write(s.path, input);
    const tokenizer = CharTokenizer.load(s.path);
    exercise(tokenizer);
    return tokenizer;
  },
  expect: (s, error) => ({ names: namesFor(error, [s.path]) }),
};
