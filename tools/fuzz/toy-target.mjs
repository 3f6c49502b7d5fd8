// A target with a planted bug behind three byte comparisons, for the fuzzer's
// self-test. One mutation sets a given byte to a given interesting value about
// once in 1200 tries, so blind mutation needs all three at once (~10^9 tries);
// with coverage feedback each matched byte is a new block kept in the corpus,
// and a few thousand executions suffice.
export default {
  name: 'toy',
  kind: 'bytes',
  maxLength: 64,
  seeds: () => [new TextEncoder().encode('AAA')],
  setup: () => ({}),
  run(_s, input) {
    if (input.length < 3) throw new RangeError(`toy: input must hold 3 bytes, got ${input.length}`);
    if (input[0] === 0x7b) {
      if (input[1] === 0x22) {
        if (input[2] === 0x3a) {
          const missing = undefined;
          return missing.field; // the planted bug: "Cannot read properties of undefined"
        }
      }
    }
    return input.length;
  },
  expect: () => ({ names: ['toy:'] }),
};
