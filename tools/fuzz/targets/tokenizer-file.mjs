// A target for one file of a tokenizer directory: the rest of the directory
// comes from a fixture, loadTokenizer picks the tokenizer by the files present,
// and a tokenizer that loads is used (encode, decode).
import { join } from 'node:path';
import { DIST, exercise, linkedFixture, namesFor, remove, scratch, write } from './common.mjs';

const { loadTokenizer } = await import(join(DIST, 'tokenizer/load.js'));

/** `fixture`: the directory the other files come from (none: the file alone); `file`: the one fuzzed. */
export function tokenizerFileTarget({ name, fixture, file, kind, seeds, dictionary = [], maxLength = 1 << 18 }) {
  return {
    name,
    kind,
    maxLength,
    dictionary,
    seeds,
    setup() {
      const dir = fixture ? linkedFixture(name, fixture, file) : scratch(name);
      return { dir, path: join(dir, file) };
    },
    teardown(s) {
      remove(s.dir);
    },
    run(s, input) {
      write(s.path, input);
      const tokenizer = loadTokenizer(s.dir);
      exercise(tokenizer);
      return tokenizer;
    },
    expect: (s, error) => ({ names: namesFor(error, [s.dir]) }),
  };
}
