// safetensors reader and writer: round trips, zero-copy views, F16/BF16 decoding
// against hand-computed bit patterns, a byte-exact file built from the spec, a file
// written by the upstream Python writer, and malformed files, each of which must
// give an Error naming the file (and the tensor) without crashing or over-allocating.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../lib/tensor.js';
import { openSafetensors, parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../lib/io/safetensors.js';
import { randomTensor, rng } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'aiayn-safetensors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'safetensors');

const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const concat = (...parts: ArrayLike<number>[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
/** A file from a header (JSON text or a value to stringify, unpadded) and data bytes. */
const build = (header: unknown, data: ArrayLike<number> = [], headerLength?: bigint) => {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  return concat(u64(headerLength ?? BigInt(json.length)), json, data);
};
/** Little-endian bytes of 16-bit patterns. */
const le16 = (...bits: number[]) => bits.flatMap((b) => [b & 0xff, b >> 8]);
const values = (t: Tensor | undefined) => Array.from(t!.data);

/** Asserts `actual` equals `expected` bit for bit, including -0 and NaN. */
function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`element ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

describe('round trip', () => {
  const shapes: [string, number[]][] = [
    ['transformer.encoder.layers.0.self_attn.in_proj_weight', [12, 4]],
    ['transformer.encoder.layers.0.self_attn.in_proj_bias', [12]],
    ['decoder.embed.weight', [2, 3, 5]],
    ['scale', []],
    ['empty', [0, 5]],
    ['x', [1, 1, 1, 7]],
  ];
  const tensors = new Map(shapes.map(([name, shape], i) => [name, randomTensor(shape, i + 1)]));
  const specials = Tensor.from([0, -0, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38], [7]);
  tensors.set('specials', specials);
  const metadata = { format: 'pt', note: 'ünïcode ✓ "quoted"', empty: '' };

  it('writes and reads back shapes, values, order and metadata', () => {
    const path = join(tmp, 'round.safetensors');
    writeSafetensors(path, tensors, metadata);
    const file = readSafetensors(path);
    expect([...file.tensors.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) {
      expect(file.tensors.get(name)!.shape, name).toEqual(t.shape);
      expectSame(file.tensors.get(name)!.data, t.data);
    }
    expect(file.metadata).toEqual(metadata);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('accepts a plain object and omits empty metadata', () => {
    const bytes = serializeSafetensors({ b: Tensor.from([1, 2], [2]), a: Tensor.from([3], [1]) }, {});
    expect(new TextDecoder().decode(bytes)).not.toContain('__metadata__');
    const file = parseSafetensors(bytes);
    expect([...file.tensors.keys()]).toEqual(['b', 'a']);
    expect(values(file.tensors.get('a'))).toEqual([3]);
    expect(file.metadata).toEqual({});
  });

  it('replaces an existing file', () => {
    const path = join(tmp, 'replace.safetensors');
    writeSafetensors(path, { a: Tensor.from([1], [1]) });
    writeSafetensors(path, { b: Tensor.from([2, 3], [2]) });
    expect([...readSafetensors(path).tensors.keys()]).toEqual(['b']);
  });

  it('pads the header with spaces so the data starts 8-byte aligned', () => {
    for (let len = 1; len <= 16; len++) {
      const bytes = serializeSafetensors({ ['n'.repeat(len)]: Tensor.from([len], [1]) });
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(headerLength % 8).toBe(0);
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
      expect(header).toMatch(/^\{.*\} *$/);
      expect(JSON.parse(header)).toEqual({ ['n'.repeat(len)]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
      expect(bytes.length).toBe(8 + headerLength + 4);
    }
  });
});

describe('openSafetensors', () => {
  it('reads each tensor on its own, equal to reading the whole file, F32, F16 and BF16', () => {
    const path = join(tmp, 'lazy.safetensors');
    const tensors = { a: randomTensor([3, 4], 1), b: randomTensor([5], 2), empty: randomTensor([0, 2], 3) };
    writeSafetensors(path, tensors, { k: 'v' });
    const reader = openSafetensors(path);
    expect([...reader.shapes]).toEqual([['a', [3, 4]], ['b', [5]], ['empty', [0, 2]]]);
    expect(reader.metadata).toEqual({ k: 'v' });
    const whole = readSafetensors(path).tensors;
    for (const name of ['b', 'a', 'empty', 'a']) {
      const t = reader.read(name);
      expect(t.shape).toEqual(whole.get(name)!.shape);
      expectSame(t.data, whole.get(name)!.data);
      expect(t.data.byteLength).toBe(t.data.buffer.byteLength); // its own buffer, not a view of the file
    }
    const scratch = new ArrayBuffer(64);
    const viaScratch = reader.read('a', scratch);
    expect(viaScratch.data.buffer).toBe(scratch);
    expectSame(viaScratch.data, whole.get('a')!.data);
    expect(reader.read('a', new ArrayBuffer(8)).data.buffer).not.toBe(scratch); // too small: a tensor of its own
    expect(() => reader.read('a', new Float32Array(16) as never)).toThrow(/scratch must be an ArrayBuffer, got Float32Array\(16\)/);
    const halves = join(tmp, 'lazy-halves.safetensors');
    writeFileSync(halves, build({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, g: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } }, [...le16(0x3c00, 0xc000), ...le16(0x3f80)]));
    expect(values(openSafetensors(halves).read('h'))).toEqual([1, -2]);
    expect(values(openSafetensors(halves).read('g'))).toEqual([1]);
    const halfScratch = new ArrayBuffer(8);
    const h = openSafetensors(halves).read('h', halfScratch);
    expect(values(h)).toEqual([1, -2]);
    expect(h.data.buffer).toBe(halfScratch); // widened in the scratch
    expect(values(openSafetensors(halves).read('h', new ArrayBuffer(7)))).toEqual([1, -2]); // too small: a tensor of its own
  });

  it('widens F16 and BF16 in the scratch, equal to widening into a new array, at every length', () => {
    const path = join(tmp, 'lazy-widen.safetensors');
    // Bit patterns that are not symmetric in their two bytes, so an overwritten half would show.
    const bits = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (0x3c01 + 97 * i + salt) & 0x7bff);
    for (const n of [1, 2, 3, 7, 64, 1001]) {
      const f16 = bits(n, 0), bf16 = bits(n, 5);
      writeFileSync(path, build({
        h: { dtype: 'F16', shape: [n], data_offsets: [0, 2 * n] },
        g: { dtype: 'BF16', shape: [n], data_offsets: [2 * n, 4 * n] },
      }, [...le16(...f16), ...le16(...bf16)]));
      const reader = openSafetensors(path);
      for (const name of ['h', 'g']) {
        const scratch = new ArrayBuffer(4 * n + 12);
        new Uint8Array(scratch).fill(0xa5);
        const widened = reader.read(name, scratch);
        expect(widened.data.buffer).toBe(scratch);
        expectSame(widened.data, reader.read(name).data);
      }
    }
  });

  it('names an unknown tensor, and a file changed after its header was read', () => {
    const path = join(tmp, 'lazy-changed.safetensors');
    writeSafetensors(path, { a: randomTensor([4], 1) });
    const reader = openSafetensors(path);
    expect(() => reader.read('nope')).toThrow(`safetensors file ${path}, tensor "nope": no such tensor`);
    writeSafetensors(path, { a: randomTensor([4], 1), b: randomTensor([1], 2) });
    expect(() => reader.read('a')).toThrow(/tensor "a": file changed since its header was read \(\d+ -> \d+ bytes\)/);
    expect(() => reader.read(5 as never)).toThrow(/tensor must be a string, got 5/);
    expect(() => openSafetensors(5 as never)).toThrow(/path must be a string, got 5/);
    expect(() => openSafetensors(join(tmp, 'missing.safetensors'))).toThrow(/ENOENT/);
  });
});

describe('zero copy', () => {
  it('returns aligned F32 tensors as views over the file buffer', () => {
    const path = join(tmp, 'views.safetensors');
    writeSafetensors(path, { a: randomTensor([3, 5], 1), b: randomTensor([7], 2) });
    const { tensors } = readSafetensors(path);
    const [a, b] = [tensors.get('a')!.data, tensors.get('b')!.data];
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer.byteLength).toBe(statSync(path).size);
    expect(b.byteOffset).toBe(a.byteOffset + a.byteLength);
  });

  it('aliases the bytes given to parseSafetensors', () => {
    const bytes = serializeSafetensors({ a: Tensor.from([1, 2], [2]) });
    const a = parseSafetensors(bytes).tensors.get('a')!;
    expect(a.data.buffer).toBe(bytes.buffer);
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, 42, true);
    expect(a.data[1]).toBe(42);
  });

  it('copies F32 data that is not 4-byte aligned', () => {
    const bytes = serializeSafetensors({ a: randomTensor([9], 3) });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const view = shifted.subarray(1);
    const a = parseSafetensors(view).tensors.get('a')!;
    expect(a.data.buffer).not.toBe(shifted.buffer);
    expectSame(a.data, randomTensor([9], 3).data);
    // An unpadded header (length 54) misaligns the data within the file itself.
    const odd = build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc1]);
    expect(values(parseSafetensors(odd).tensors.get('a'))).toEqual([1, -10]);
  });
});

describe('F16 and BF16', () => {
  it('decodes F16 bit patterns', () => {
    const cases: [number, number][] = [
      [0x3c00, 1], [0xc100, -2.5], [0x7bff, 65504], [0x0001, 2 ** -24], [0x8001, -(2 ** -24)],
      [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x3555, 0.333251953125], [0x0000, 0], [0x8000, -0],
      [0x7c00, Infinity], [0xfc00, -Infinity], [0x7e00, NaN], [0xfe01, NaN],
    ];
    const bytes = build({ h: { dtype: 'F16', shape: [cases.length], data_offsets: [0, 2 * cases.length] } }, le16(...cases.map((c) => c[0])));
    expectSame(parseSafetensors(bytes).tensors.get('h')!.data, cases.map((c) => c[1]));
  });

  it('decodes every F16 value like the arithmetic definition, keeping NaN payloads', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const bytes = build({ h: { dtype: 'F16', shape: [256, 256], data_offsets: [0, 131072] } }, le16(...all));
    const got = parseSafetensors(bytes).tensors.get('h')!.data;
    const expected = all.map((h) => {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      if (exp === 0x1f) return mant ? NaN : sign * Infinity;
      return sign * (exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15));
    });
    expectSame(got, expected);
    const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
    expect(bits[0x7c01]).toBe(0x7f802000);
    expect(bits[0xfe00]).toBe(0xffc00000);
  });

  it('decodes BF16 bit patterns', () => {
    const cases: [number, number][] = [
      [0x4049, 3.140625], [0x3f80, 1], [0xc020, -2.5], [0x477f, 65280], [0x0001, 2 ** -133],
      [0x8000, -0], [0x7f80, Infinity], [0xff80, -Infinity], [0x7fc0, NaN],
    ];
    const bytes = build({ b: { dtype: 'BF16', shape: [3, 3], data_offsets: [0, 18] } }, le16(...cases.map((c) => c[0])));
    const b = parseSafetensors(bytes).tensors.get('b')!;
    expect(b.shape).toEqual([3, 3]);
    expectSame(b.data, cases.map((c) => c[1]));
  });
});

describe('files from the spec and from the upstream writer', () => {
  // Built by hand: 79 bytes of JSON + 1 space of padding = 0x50, then 1.0 and -2.0 as little-endian F32.
  const header = '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const handBuilt = Uint8Array.from([
    0x50, 0, 0, 0, 0, 0, 0, 0,
    ...Array.from(header, (c) => c.charCodeAt(0)), 0x20,
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
  ]);

  it('reads a hand-built file', () => {
    const file = parseSafetensors(handBuilt);
    expect(values(file.tensors.get('w'))).toEqual([1, -2]);
    expect(file.metadata).toEqual({ k: 'v' });
  });

  it('writes the hand-built file byte for byte', () => {
    const w = Tensor.from([1, -2], [2]);
    expect(serializeSafetensors({ w }, { k: 'v' })).toEqual(handBuilt);
    const path = join(tmp, 'hand.safetensors');
    writeSafetensors(path, new Map([['w', w]]), { k: 'v' });
    expect(new Uint8Array(readFileSync(path))).toEqual(handBuilt);
  });

  it('reads a file written by huggingface safetensors 0.8.0 (tools/safetensors_fixture.py)', () => {
    const file = readSafetensors(join(fixtures, 'reference.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt', writer: 'safetensors 0.8.0' });
    expect([...file.tensors.keys()]).toEqual(['empty', 'encoder.layers.0.linear1.weight', 'scalar', 'brain', 'half']);
    const get = (name: string) => file.tensors.get(name)!;
    expect(get('encoder.layers.0.linear1.weight').shape).toEqual([3, 4]);
    expect(values(get('encoder.layers.0.linear1.weight'))).toEqual(Array.from({ length: 12 }, (_, i) => i * 0.25 - 1));
    expect(get('half').shape).toEqual([2, 3]);
    expect(values(get('half'))).toEqual([1, -2.5, 65504, 2 ** -24, Infinity, -Infinity]);
    expect(values(get('brain'))).toEqual([3.140625, 1, -2, Infinity]);
    expect(get('scalar').shape).toEqual([]);
    expect(values(get('scalar'))).toEqual([7.5]);
    expect(get('empty').shape).toEqual([0, 3]);
    expect(get('empty').size).toBe(0);
    // A Node Buffer from readFileSync may sit at any 8-aligned offset of a shared pool.
    const fromBuffer = parseSafetensors(readFileSync(join(fixtures, 'reference.safetensors')));
    expect(values(fromBuffer.tensors.get('encoder.layers.0.linear1.weight'))).toEqual(values(get('encoder.layers.0.linear1.weight')));
  });

  it('accepts whitespace padding, out-of-order ranges, gaps and zero-length ranges', () => {
    const header = JSON.stringify({
      late: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      early: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      none1: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
      none2: { dtype: 'BF16', shape: [3, 0], data_offsets: [4, 4] },
    });
    const bytes = build(` ${header}   `, [0, 0, 0x80, 0x3f, 9, 9, 9, 9, 0, 0, 0, 0x40]);
    const { tensors } = parseSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['late', 'early', 'none1', 'none2']);
    expect(values(tensors.get('late'))).toEqual([2]);
    expect(values(tensors.get('early'))).toEqual([1]);
    expect(tensors.get('none2')!.shape).toEqual([3, 0]);
  });

  it('accepts a header that ends exactly at the end of the file when no tensor needs data', () => {
    const bytes = build({ e: { dtype: 'F16', shape: [0], data_offsets: [0, 0] }, __metadata__: { a: 'b' } });
    const file = parseSafetensors(bytes);
    expect(file.tensors.get('e')!.size).toBe(0);
    expect(file.metadata).toEqual({ a: 'b' });
  });

  it('keeps a "__proto__" metadata key as data', () => {
    const file = parseSafetensors(build('{"__metadata__":{"__proto__":"x"}}'));
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(file.metadata, '__proto__')).toBe(true);
  });
});

describe('malformed files', () => {
  const f32 = (extra: object = {}) => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra } });
  const eight = new Array(8).fill(0);
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  type Case = [title: string, bytes: Uint8Array, tensor: string | undefined, message: RegExp];
  const cases: Case[] = [
    ['empty file', new Uint8Array(0), undefined, /has 0 bytes, too short/],
    ['7-byte file', new Uint8Array(7), undefined, /has 7 bytes, too short/],
    ['hostile 2^60 header length', concat(u64(2n ** 60n), eight), undefined, /header length 1152921504606846976 runs past the end of the 16-byte file/],
    ['u64 max header length', concat(u64(2n ** 64n - 1n), eight), undefined, /header length 18446744073709551615 runs past/],
    ['header length one past EOF', build(f32(), eight, 63n), undefined, /header length 63 runs past the end of the 70-byte file/],
    ['header length exactly at EOF, tensor needs data', build(f32()), 'a', /data_offsets \[0, 8\] run past the end of the 0-byte data buffer/],
    ['header not UTF-8', concat(u64(9n), [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, 0x20]), undefined, /not valid UTF-8 JSON/],
    ['header not JSON', build('{"a": {"dtype": '), undefined, /not valid UTF-8 JSON/],
    ['header empty', build(''), undefined, /not valid UTF-8 JSON/],
    ['header is an array', build('[]'), undefined, /must be a JSON object, got Array\(0\)/],
    ['header is null', build('null'), undefined, /must be a JSON object, got null/],
    ['entry not an object', build({ a: 5 }), 'a', /entry must be an object, got 5/],
    ['entry is null', build({ a: null }), 'a', /entry must be an object, got null/],
    ['missing dtype', build({ a: { shape: [2], data_offsets: [0, 8] } }, eight), 'a', /missing "dtype"/],
    ['missing shape', build({ a: { dtype: 'F32', data_offsets: [0, 8] } }, eight), 'a', /missing "shape"/],
    ['missing data_offsets', build({ a: { dtype: 'F32', shape: [2] } }, eight), 'a', /missing "data_offsets"/],
    ['dtype not a string', build(f32({ dtype: 32 }), eight), 'a', /dtype must be a string, got 32/],
    ['unknown dtype', build(f32({ dtype: 'F17' }), eight), 'a', /unknown dtype "F17"/],
    ['dtype from the prototype', build(f32({ dtype: 'toString' }), eight), 'a', /unknown dtype "toString"/],
    ['unsupported I64', build(f32({ dtype: 'I64', shape: [1] }), eight), 'a', /dtype I64 is not supported \(only F32, F16 and BF16 are supported\)/],
    ['unsupported BOOL', build(f32({ dtype: 'BOOL', shape: [8] }), eight), 'a', /dtype BOOL is not supported/],
    ['unsupported F64', build(f32({ dtype: 'F64', shape: [1] }), eight), 'a', /dtype F64 is not supported/],
    ['shape not an array', build(f32({ shape: '2' }), eight), 'a', /shape must be an array, got "2"/],
    ['negative dimension', build(f32({ shape: [-2] }), eight), 'a', /shape\[0\] must be a non-negative integer, got -2/],
    ['fractional dimension', build(f32({ shape: [1, 1.5] }), eight), 'a', /shape\[1\] must be a non-negative integer, got 1.5/],
    ['unsafe dimension', build(f32({ shape: [2 ** 53] }), eight), 'a', /shape\[0\] must be a non-negative integer, got 9007199254740992/],
    ['string dimension', build(f32({ shape: ['2'] }), eight), 'a', /shape\[0\] must be a non-negative integer, got "2"/],
    ['100 000-deep nested shape', build(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,8]}}`, eight), 'a', /shape\[0\] must be a non-negative integer, got Array\(1\)/],
    ['data_offsets of one element', build(f32({ data_offsets: [8] }), eight), 'a', /data_offsets must be \[begin, end\], got Array\(1\)/],
    ['data_offsets not an array', build(f32({ data_offsets: { 0: 0, 1: 8 } }), eight), 'a', /data_offsets must be \[begin, end\], got Object/],
    ['negative data_offsets', build(f32({ data_offsets: [-8, 0] }), eight), 'a', /data_offsets begin must be a non-negative integer, got -8/],
    ['fractional data_offsets', build(f32({ data_offsets: [0, 8.5] }), eight), 'a', /data_offsets end must be a non-negative integer, got 8.5/],
    ['string data_offsets', build(f32({ data_offsets: ['0', 8] }), eight), 'a', /data_offsets begin must be a non-negative integer, got "0"/],
    ['begin > end', build(f32({ data_offsets: [8, 0] }), eight), 'a', /data_offsets \[8, 0\] has begin > end/],
    ['wrong dtype size', build(f32({ dtype: 'F16' }), eight), 'a', /shape \[2\] of F16 needs 4 bytes, data_offsets \[0, 8\] hold 8/],
    ['shape bigger than the range', build(f32({ shape: [3] }), eight), 'a', /needs 12 bytes/],
    ['shape product overflowing 2^64', build(f32({ shape: [2 ** 40, 2 ** 40, 2 ** 40] }), eight), 'a', /shape \[1099511627776, 1099511627776, 1099511627776\] of F32 needs 5316911983139663491615228241121378304 bytes/],
    ['range past the data buffer', build(f32({ data_offsets: [4, 12] }), eight), 'a', /data_offsets \[4, 12\] run past the end of the 8-byte data buffer/],
    ['huge range past the data buffer', build(f32({ shape: [2 ** 50], data_offsets: [0, 2 ** 52] }), eight), 'a', /run past the end of the 8-byte data buffer/],
    [
      'overlapping tensors',
      build({ ...f32(), b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Array(12).fill(0)),
      'b',
      /data_offsets \[4, 12\] overlap those of "a" \[0, 8\]/,
    ],
    [
      'tensors at the same range',
      build({ ...f32(), b: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] } }, eight),
      'b',
      /overlap those of "a"/,
    ],
    ['__metadata__ an array', build({ __metadata__: ['a'], ...f32() }, eight), undefined, /__metadata__ must be an object of strings, got Array\(1\)/],
    ['__metadata__ a string', build({ __metadata__: 'x', ...f32() }, eight), undefined, /__metadata__ must be an object of strings, got "x"/],
    ['__metadata__ value a number', build({ __metadata__: { k: 1 }, ...f32() }, eight), undefined, /__metadata__\["k"\] must be a string, got 1/],
    ['__metadata__ value an object', build({ __metadata__: { k: {} }, ...f32() }, eight), undefined, /__metadata__\["k"\] must be a string, got Object/],
  ];

  it.each(cases)('%s', (title, bytes, tensor, message) => {
    const path = join(tmp, `bad ${title}.safetensors`);
    writeFileSync(path, bytes);
    let error: unknown;
    try {
      readSafetensors(path);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TypeError);
    expect(error).not.toBeInstanceOf(RangeError);
    const text = (error as Error).message;
    expect(text).toContain(`safetensors file ${path}`);
    if (tensor !== undefined) expect(text).toContain(`tensor "${tensor}":`);
    expect(text).toMatch(message);
    expect(() => parseSafetensors(bytes, 'in-memory')).toThrow(new RegExp(`^safetensors file in-memory\\b.*${message.source}`));
    expect(() => openSafetensors(path)).toThrow(new RegExp(`^safetensors file ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b.*${message.source}`));
  });

  it('names the buffer <buffer> by default and shortens very long tensor names', () => {
    expect(() => parseSafetensors(new Uint8Array(3))).toThrow(/^safetensors file <buffer>: /);
    const name = 'x'.repeat(10_000);
    expect(() => parseSafetensors(build({ [name]: 1 }))).toThrow(new RegExp(`tensor "${'x'.repeat(200)}…": entry`));
  });

  it('rejects every truncation of a valid file', () => {
    const bytes = serializeSafetensors({ a: randomTensor([3, 4], 1), b: randomTensor([5], 2) }, { k: 'v' });
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    for (let cut = 0; cut < bytes.length; cut++) {
      const expected = cut < 8 ? /too short/ : cut < headerEnd ? /header length \d+ runs past/ : cut < headerEnd + 48 ? /tensor "a": .*run past/ : /tensor "b": .*run past/;
      expect(() => parseSafetensors(bytes.subarray(0, cut), `cut ${cut}`), `cut ${cut}`).toThrow(expected);
    }
    for (const cut of [0, 5, 8, 20, headerEnd, headerEnd + 47, bytes.length - 1]) {
      const path = join(tmp, `truncated-${cut}.safetensors`);
      writeFileSync(path, bytes.subarray(0, cut));
      expect(() => readSafetensors(path)).toThrow(`safetensors file ${path}`);
      expect(() => openSafetensors(path)).toThrow(`safetensors file ${path}`);
    }
  });

  it('rejects random garbage', () => {
    const next = rng(7);
    for (let i = 0; i < 300; i++) {
      const garbage = Uint8Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256));
      // Half of them get a plausible header length, so the JSON checks see garbage too.
      if (i % 2 && garbage.length >= 8) garbage.set(u64(BigInt(garbage.length - 8 - Math.floor(next() * 8))));
      expect(() => parseSafetensors(garbage, `garbage ${i}`)).toThrow(/^safetensors file garbage \d+[:,] /);
    }
  });

  it('survives random corruption of a valid file: either a well-formed result or an Error naming it', () => {
    const bytes = serializeSafetensors({ a: randomTensor([2, 3], 1), b: randomTensor([4], 2), c: Tensor.zeros([0]) }, { k: 'v' });
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const digits = new TextEncoder().encode('0123456789[],"');
    const next = rng(11);
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const copy = bytes.slice();
      for (let k = 1 + Math.floor(next() * 3); k > 0; k--) {
        copy[Math.floor(next() * headerEnd)] = next() < 0.7 ? digits[Math.floor(next() * digits.length)] : Math.floor(next() * 256);
      }
      try {
        for (const t of parseSafetensors(copy, 'corrupt').tensors.values()) expect(t).toBeInstanceOf(Tensor);
        parsed++;
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).constructor).toBe(Error);
        expect((err as Error).message).toMatch(/^safetensors file corrupt[:,] /);
      }
    }
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThan(3000);
  });

  it('lets file-system errors through with the path', () => {
    const missing = join(tmp, 'missing.safetensors');
    expect(() => readSafetensors(missing)).toThrow(/ENOENT.*missing\.safetensors/);
    expect(() => readSafetensors(tmp)).toThrow(/EISDIR/);
  });
});

describe('argument checks', () => {
  const t = Tensor.from([1, 2], [2]);
  const cases: [title: string, run: () => unknown, error: ErrorConstructor, message: RegExp][] = [
    ['tensors null', () => serializeSafetensors(null as never), TypeError, /tensors must be a Map or an object of Tensors, got null/],
    ['tensors an array', () => serializeSafetensors([t] as never), TypeError, /tensors must be a Map or an object of Tensors, got Array\(1\)/],
    ['value not a Tensor', () => serializeSafetensors({ a: new Float32Array(2) as never }), TypeError, /tensors\["a"\] must be a Tensor, got Float32Array\(2\)/],
    ['non-string Map key', () => serializeSafetensors(new Map([[1 as never, t]])), TypeError, /tensors keys must be strings, got 1/],
    ['empty name', () => serializeSafetensors({ '': t }), RangeError, /tensors names must be non-empty and not "__metadata__", got ""/],
    ['name __metadata__', () => serializeSafetensors(new Map([['__metadata__', t]])), RangeError, /got "__metadata__"/],
    ['metadata not an object', () => serializeSafetensors({ a: t }, 'x' as never), TypeError, /metadata must be an object of strings, got "x"/],
    ['metadata value not a string', () => serializeSafetensors({ a: t }, { k: 1 as never }), TypeError, /metadata\["k"\] must be a string, got 1/],
    ['parse bytes not a Uint8Array', () => parseSafetensors([1, 2] as never), TypeError, /bytes must be a Uint8Array, got Array\(2\)/],
    ['parse name not a string', () => parseSafetensors(new Uint8Array(8), 5 as never), TypeError, /name must be a string, got 5/],
    ['read path not a string', () => readSafetensors(5 as never), TypeError, /path must be a string, got 5/],
    ['write path not a string', () => writeSafetensors(undefined as never, { a: t }), TypeError, /path must be a string, got undefined/],
  ];
  it.each(cases)('%s', (_, run, error, message) => {
    expect(run).toThrow(error);
    expect(run).toThrow(message);
  });

  it('touches no file when the arguments are bad', () => {
    const dir = mkdtempSync(join(tmp, 'untouched-'));
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, { a: t });
    const before = readFileSync(path);
    expect(() => writeSafetensors(path, { a: t, b: 'x' as never })).toThrow(TypeError);
    expect(() => writeSafetensors(join(dir, 'new.safetensors'), { a: t }, { k: null as never })).toThrow(TypeError);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readFileSync(path)).toEqual(before);
  });

  it('removes its temporary file when the final rename fails', () => {
    const dir = mkdtempSync(join(tmp, 'rename-'));
    const target = join(dir, 'taken');
    mkdirSync(target);
    expect(() => writeSafetensors(target, { a: t })).toThrow(/EISDIR|EEXIST|ENOTEMPTY|EPERM/);
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(() => writeSafetensors(join(dir, 'missing-dir', 'x.safetensors'), { a: t })).toThrow(/ENOENT/);
  });
});
