// The safetensors header and tensor table, through all three readers (in
// memory, whole file, one tensor at a time), which must agree: the same
// tensors, or each an Error naming the file.
import { join } from 'node:path';
import { DIST, read, remove, scratch, utf8, write } from './common.mjs';

const { parseSafetensors, readSafetensors, openSafetensors } = await import(join(DIST, 'io/safetensors.js'));

/** A file from a header object and data bytes, the length field as the format says. */
function file(header, data = new Uint8Array(0)) {
  const json = utf8(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function attempt(f) {
  try {
    return { value: f() };
  } catch (error) {
    return { error };
  }
}

function summary(tensors) {
  return [...tensors].map(([name, t]) => `${name}:${t.shape.join('x')}:${Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')}`).join('|');
}

export default {
  name: 'safetensors',
  kind: 'safetensors',
  maxLength: 1 << 20,
  dictionary: ['F32', 'F16', 'BF16', 'I64', 'U8', 'F64', 'BOOL', 'dtype', 'shape', 'data_offsets', '__metadata__'],
  seeds: () => [
    read('test/fixtures/safetensors/reference.safetensors'),
    file({}),
    file({ __metadata__: { format: 'pt' } }),
    file({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [1, 1], data_offsets: [4, 6] }, e: { dtype: 'F32', shape: [0, 3], data_offsets: [6, 6] } }, new Uint8Array([0, 60, 0, 188, 128, 63])),
    file({ x: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } }, new Uint8Array(9).fill(1)),
  ],
  setup() {
    const dir = scratch('safetensors');
    return { dir, path: join(dir, 'model.safetensors') };
  },
  teardown(s) {
    remove(s.dir);
  },
  run(s, input) {
    write(s.path, input);
    const parsed = attempt(() => parseSafetensors(input, s.path));
    const whole = attempt(() => readSafetensors(s.path));
    const lazy = attempt(() => {
      const reader = openSafetensors(s.path);
      return { tensors: new Map([...reader.shapes.keys()].map((name) => [name, reader.read(name)])), metadata: reader.metadata };
    });
    const results = [parsed, whole, lazy];
    const failed = results.filter((r) => r.error);
    if (failed.length === 3) throw failed[0].error;
    return results;
  },
  expect: (s) => ({ names: [s.path] }),
  verify(s, input, results) {
    const names = ['parseSafetensors', 'readSafetensors', 'openSafetensors'];
    const failed = results.findIndex((r) => r.error);
    if (failed >= 0) return `${names[failed]} threw (${results[failed].error.message}) where another reader succeeded`;
    const [a, b, c] = results.map((r) => summary(r.value.tensors));
    if (a !== b || a !== c) return 'the three readers disagree on the tensors';
    if (JSON.stringify(results[0].value.metadata) !== JSON.stringify(results[2].value.metadata)) return 'the readers disagree on __metadata__';
    let bytes = 0;
    for (const [name, t] of results[0].value.tensors) {
      const size = t.shape.reduce((n, d) => n * d, 1);
      if (t.data.length !== size) return `tensor ${name}: ${t.data.length} values for shape [${t.shape}]`;
      bytes += t.data.length * 2; // every supported dtype takes at least 2 bytes per value
    }
    if (bytes > input.length) return `tensors hold more data (${bytes} bytes at least) than the ${input.length}-byte file`;
    return undefined;
  },
};
