// EmbeddingTable: embedding tables held in bf16 or int8, their values worked
// out by hand, the lookup on both backends (every position option, on the
// ISA in use), the memory they take, and bad input down to the raw addon.
import { describe, expect, it } from 'vitest';
import { EmbeddingTable, Tensor, native, reference } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

const f = Math.fround;

describe(`EmbeddingTable on ${isa}`, () => {
  const table = Tensor.from([1, -0.5, 0.25, 1 + 2 ** -8], [2, 2]);

  it('bf16 holds the nearest bfloat16 of each value', () => {
    const t = EmbeddingTable.pack(table, 'bf16');
    expect([...t.data]).toEqual([0x3f80, 0xbf00, 0x3e80, 0x3f80]); // 1 + 2^-8 ties to 1
    expect([...t.unpack().data]).toEqual([1, -0.5, 0.25, 1]);
    expect(t.bytes).toBe(8);
  });

  it('int8 quantizes each row to [-127, 127] with its own scale', () => {
    const t = EmbeddingTable.pack(table, 'int8');
    // Row 0: max 1, q = [127, rne(-63.5) = -64]; row 1: max 1 + 2^-8, 0.25 · 127 / (1 + 2^-8) = 31.6 -> 32.
    expect([...t.data]).toEqual([127, -64, 32, 127]);
    expect([...t.scales!]).toEqual([f(1 / 127), f(f(1 + 2 ** -8) / 127)]);
    expect([...t.unpack().data]).toEqual([f(127 * f(1 / 127)), f(-64 * f(1 / 127)), f(32 * t.scales![1]), f(127 * t.scales![1])]);
    expect(t.bytes).toBe(4 + 8);
  });

  for (const dtype of ['bf16', 'int8'] as const) {
    it(`${dtype}: native looks rows up as the reference, with every position option`, () => {
      const [V, D, P] = [37, 65, 40];
      const t = EmbeddingTable.pack(randomTensor([V, D], 3), dtype);
      const positions = randomTensor([P, D], 4);
      const next = rng(5);
      const [B, T] = [3, 7];
      const ids = Int32Array.from({ length: B * T }, () => Math.floor(next() * V));
      const cases = [
        { scale: 8 },
        { scale: 8, positions, positionOffset: 5 },
        { scale: 1, positions, positionOffsets: [0, 20, 33] },
        { scale: 2, positions, positionIds: Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 0 ? -1 : i)) },
      ];
      for (const options of cases) {
        const got = native.embedding(ids, [B, T], t, options);
        const want = reference.embedding(ids, [B, T], t, options);
        expectClose(got.data, want.data, 1e-6, 1e-6, `${dtype} ${JSON.stringify(Object.keys(options))}`);
        // The rows are the unpacked table's rows looked up in fp32.
        const plain = reference.embedding(ids, [B, T], t.unpack(), options);
        expectClose(want.data, plain.data, 1e-6, 1e-6, `${dtype} against the unpacked table`);
      }
    });
  }

  it('rejects what it cannot hold, and the addon re-checks the arrays', () => {
    expect(() => EmbeddingTable.pack(Tensor.from([1, Infinity], [1, 2]), 'int8')).toThrow(
      new RangeError('table[0, 1] is Infinity: an int8 table must be finite'),
    );
    expect(() => EmbeddingTable.pack(table, 'fp8' as 'int8')).toThrow(new RangeError(`dtype must be 'bf16' or 'int8', got "fp8"`));
    expect(() => native.embedding(new Int32Array([2]), [1, 1], EmbeddingTable.pack(table, 'int8'))).toThrow(
      new RangeError('ids[0] must be in [0, 1] (vocabulary size 2), got 2'),
    );
    const addon = loadAddon();
    const y = new Float32Array(2);
    const q = new Int8Array(4);
    expect(() => addon.embedding(new Int32Array([0]), 1, 1, q, 2, 2, 1, null, 0, 0, y, null, null, 2, null)).toThrow(
      new TypeError('an int8 table needs rowScales'),
    );
    expect(() => addon.embedding(new Int32Array([0]), 1, 1, q, 2, 2, 1, null, 0, 0, y, null, null, 1, null)).toThrow(
      new TypeError('table must be a Uint16Array'),
    );
    expect(() => addon.embedding(new Int32Array([0]), 1, 1, new Int8Array(3), 2, 2, 1, null, 0, 0, y, null, null, 2, new Float32Array(2))).toThrow(
      new RangeError('table must have at least 4 elements, got 3'),
    );
  });
});
