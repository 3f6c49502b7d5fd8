// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian
// u64 header length N, N bytes of UTF-8 JSON describing each tensor's dtype, shape
// and byte range, then the data buffer the ranges index into.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { Tensor, describe, formatShape } from '../tensor.js';

/** The tensors of a safetensors file, in header order, and its `__metadata__`. */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Bytes per element of every dtype the format defines; only F32, F16 and BF16 can be read. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8, C64: 8,
};
const SUPPORTED = new Set(['F32', 'F16', 'BF16']);
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Names in messages are cut short: a hostile header may hold a megabyte-long one. */
function quote(name: string): string {
  return JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name);
}

function fail(file: string, message: string, tensor?: string): Error {
  const where = tensor === undefined ? '' : `, tensor ${quote(tensor)}`;
  return new Error(`safetensors file ${file}${where}: ${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Entry {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  begin: number;
  end: number;
}

/** Checks one header entry against the data buffer size; touches no tensor data. */
function checkEntry(file: string, name: string, info: unknown, dataBytes: number): Entry {
  if (!isPlainObject(info)) throw fail(file, `entry must be an object, got ${describe(info)}`, name);
  const { dtype, shape, data_offsets: offsets } = info;
  if (dtype === undefined) throw fail(file, 'missing "dtype"', name);
  if (shape === undefined) throw fail(file, 'missing "shape"', name);
  if (offsets === undefined) throw fail(file, 'missing "data_offsets"', name);

  if (typeof dtype !== 'string') throw fail(file, `dtype must be a string, got ${describe(dtype)}`, name);
  const itemBytes = Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
  if (itemBytes === undefined) throw fail(file, `unknown dtype ${quote(dtype)}`, name);
  if (!SUPPORTED.has(dtype)) {
    throw fail(file, `dtype ${dtype} is not supported (only F32, F16 and BF16 are supported)`, name);
  }

  if (!Array.isArray(shape)) throw fail(file, `shape must be an array, got ${describe(shape)}`, name);
  // BigInt so a hostile shape like [2^40, 2^40] cannot overflow into a plausible size.
  let bytes = BigInt(itemBytes);
  shape.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw fail(file, `shape[${i}] must be a non-negative integer, got ${describe(d)}`, name);
    }
    bytes *= BigInt(d);
  });

  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(file, `data_offsets must be [begin, end], got ${describe(offsets)}`, name);
  }
  const [begin, end] = offsets as unknown[];
  for (const [what, v] of [['begin', begin], ['end', end]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw fail(file, `data_offsets ${what} must be a non-negative integer, got ${describe(v)}`, name);
    }
  }
  const b = begin as number;
  const e = end as number;
  if (b > e) throw fail(file, `data_offsets [${b}, ${e}] has begin > end`, name);
  if (BigInt(e - b) !== bytes) {
    throw fail(
      file,
      `shape ${formatShape(shape as number[])} of ${dtype} needs ${bytes} bytes, data_offsets [${b}, ${e}] hold ${e - b}`,
      name,
    );
  }
  if (e > dataBytes) {
    throw fail(file, `data_offsets [${b}, ${e}] run past the end of the ${dataBytes}-byte data buffer`, name);
  }
  return { name, dtype: dtype as Entry['dtype'], shape: shape as number[], begin: b, end: e };
}

function checkMetadata(file: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw fail(file, `__metadata__ must be an object of strings, got ${describe(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw fail(file, `__metadata__[${quote(key)}] must be a string, got ${describe(v)}`);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

let f16Table: Uint32Array | undefined;

/** F32 bit patterns of all 65536 F16 values (exact, NaN payloads kept), built on first use. */
function halfToFloatBits(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) {
      table[h] = sign | 0x7f800000 | (mant << 13);
    } else if (exp !== 0) {
      table[h] = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant === 0) {
      table[h] = sign;
    } else {
      // Subnormal: shift the leading 1 into the implicit bit; F32 can represent it as normal.
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      table[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  return (f16Table = table);
}

/**
 * The tensor `entry` of `bytes` (its data at offset + entry.begin) as F32: aligned F32 data is a view,
 * F16 and BF16 are widened into `into` when given (at least 4 bytes an element; it may hold the
 * 2-byte data itself from byte 2n on: element i is read before bytes [4i, 4i + 4) are written, and
 * those end at or before 2n + 2i + 2, where element i + 1 starts), else into a new array.
 */
function decode(bytes: Uint8Array, offset: number, entry: Entry, into?: ArrayBuffer): Float32Array {
  const bytesPerItem = entry.dtype === 'F32' ? 4 : 2;
  const n = (entry.end - entry.begin) / bytesPerItem;
  const src = offset + entry.begin;
  if (entry.dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      const at = bytes.byteOffset + src;
      // slice() copies into a fresh ArrayBuffer, which is always aligned.
      return at % 4 === 0 ? new Float32Array(bytes.buffer, at, n) : new Float32Array(bytes.slice(src, src + 4 * n).buffer);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset + src, n * 4);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const out = into ? new Float32Array(into, 0, n) : new Float32Array(n);
  const bits = new Uint32Array(out.buffer, 0, n);
  if (entry.dtype === 'BF16') {
    // BF16 is the top half of an F32: shifting the bits is exact, NaN payloads included.
    for (let i = 0; i < n; i++) bits[i] = (bytes[src + 2 * i] | (bytes[src + 2 * i + 1] << 8)) << 16;
  } else {
    const table = halfToFloatBits();
    for (let i = 0; i < n; i++) bits[i] = table[bytes[src + 2 * i] | (bytes[src + 2 * i + 1] << 8)];
  }
  return out;
}

/** Validates a parsed header against a data buffer of `dataBytes`: entries in header order and the metadata. */
function checkHeader(name: string, headerJson: Uint8Array, dataBytes: number): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerJson));
  } catch (err) {
    throw fail(name, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) throw fail(name, `header must be a JSON object, got ${describe(header)}`);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, info] of Object.entries(header)) {
    if (key === METADATA_KEY) metadata = checkMetadata(name, info);
    else entries.push(checkEntry(name, key, info, dataBytes));
  }

  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const ranges = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const [prev, cur] = [ranges[i - 1], ranges[i]];
    if (cur.begin < prev.end) {
      throw fail(
        name,
        `data_offsets [${cur.begin}, ${cur.end}] overlap those of ${quote(prev.name)} [${prev.begin}, ${prev.end}]`,
        cur.name,
      );
    }
  }
  return { entries, metadata };
}

/** The header's length field, checked against the file size: where the data starts. */
function dataStartOf(name: string, first8: Uint8Array, size: number): number {
  if (size < 8) throw fail(name, `file has ${size} bytes, too short for the 8-byte header length`);
  const headerLength = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(size - 8)) {
    throw fail(name, `header length ${headerLength} runs past the end of the ${size}-byte file`);
  }
  return 8 + Number(headerLength);
}

/**
 * Parses a safetensors file held in memory.
 *
 * The whole header is validated before any tensor data is read, so a malformed,
 * truncated or hostile buffer gives an `Error` naming `name` (and the tensor, where
 * one is at fault) and never allocates more than the buffer's own size.
 *
 * F32 tensors whose data is 4-byte aligned in memory are views over `bytes` (no copy:
 * writes to one show in the other); unaligned F32 data is copied, F16 and BF16 are
 * converted to new F32 arrays. Other dtypes are rejected. Byte ranges may leave
 * unused gaps but must not overlap.
 *
 * @param bytes the file's contents
 * @param name how errors refer to the buffer, e.g. its path
 * @returns the tensors in header order (as JSON.parse enumerates keys: integer-like
 *   names such as "0" come first) and the `__metadata__` strings (empty if absent)
 */
export function parseSafetensors(bytes: Uint8Array, name = '<buffer>'): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes must be a Uint8Array, got ${describe(bytes)}`);
  if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${describe(name)}`);
  const dataStart = dataStartOf(name, bytes, bytes.length);
  const { entries, metadata } = checkHeader(name, bytes.subarray(8, dataStart), bytes.length - dataStart);
  const tensors = new Map<string, Tensor>();
  for (const entry of entries) tensors.set(entry.name, new Tensor(decode(bytes, dataStart, entry), entry.shape));
  return { tensors, metadata };
}

/** Reads exactly `length` bytes at `position` (into `into` when given), or fewer if the file ends first. */
function readAt(fd: number, length: number, position: number, into?: Uint8Array): Uint8Array {
  const bytes = into ?? new Uint8Array(length);
  let filled = 0;
  for (let n; filled < length && (n = readSync(fd, bytes, filled, length - filled, position + filled)) > 0; ) filled += n;
  return filled < length ? bytes.subarray(0, filled) : bytes;
}

/**
 * Reads a safetensors file into memory and parses it with {@link parseSafetensors}.
 *
 * The file is read into one buffer of exactly its size; aligned F32 tensors are
 * views over it, so that buffer lives as long as any of them does. To hold one
 * tensor at a time instead, use {@link openSafetensors}.
 *
 * @param path the file to read; I/O errors (missing file, ...) propagate from node:fs
 */
export function readSafetensors(path: string): SafetensorsFile {
  if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${describe(path)}`);
  const fd = openSync(path, 'r');
  let bytes: Uint8Array;
  try {
    const size = fstatSync(fd).size;
    if (size > bufferConstants.MAX_LENGTH) {
      throw fail(path, `file of ${size} bytes is larger than the ${bufferConstants.MAX_LENGTH} bytes Node can hold in one buffer`);
    }
    // A file that shrinks while we read is parsed as what we got: the checks catch the truncation.
    bytes = readAt(fd, size, 0);
  } finally {
    closeSync(fd);
  }
  return parseSafetensors(bytes, path);
}

/** A safetensors file whose header is read and validated, its tensors read one at a time. */
export interface SafetensorsReader {
  /** Shapes in header order. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly metadata: Record<string, string>;
  /**
   * Reads one tensor into a new F32 array (F16/BF16 converted), or, given a
   * large enough `scratch` (4 bytes an element), into its first bytes (the
   * tensor is then a view of it; F16/BF16 widened there, no array of their
   * own). Error if the name is unknown or the file changed.
   */
  read(tensor: string, scratch?: ArrayBuffer): Tensor;
}

/**
 * Opens a safetensors file lazily: the header is validated as by
 * {@link parseSafetensors} (against the file's size), and each `read` loads
 * just that tensor, so loading a model needs no second copy of the file.
 *
 * @param path the file; I/O errors propagate from node:fs
 */
export function openSafetensors(path: string): SafetensorsReader {
  if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${describe(path)}`);
  const fd = openSync(path, 'r');
  let stat: { size: number; ino: number; mtimeMs: number };
  let size: number;
  let entries: Entry[];
  let metadata: Record<string, string>;
  let dataStart: number;
  try {
    stat = fstatSync(fd);
    size = stat.size;
    dataStart = dataStartOf(path, readAt(fd, Math.min(8, size), 0), size);
    const json = readAt(fd, dataStart - 8, 8);
    if (json.length < dataStart - 8) throw fail(path, 'file was truncated while its header was read');
    ({ entries, metadata } = checkHeader(path, json, size - dataStart));
  } finally {
    closeSync(fd);
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  return {
    shapes: new Map(entries.map((e) => [e.name, e.shape])),
    metadata,
    read(tensor: string, scratch?: ArrayBuffer): Tensor {
      if (typeof tensor !== 'string') throw new TypeError(`tensor must be a string, got ${describe(tensor)}`);
      const entry = byName.get(tensor);
      if (entry === undefined) throw fail(path, 'no such tensor', tensor);
      if (scratch !== undefined && !(scratch instanceof ArrayBuffer)) {
        throw new TypeError(`scratch must be an ArrayBuffer, got ${describe(scratch)}`);
      }
      const n = entry.end - entry.begin;
      const f = openSync(path, 'r');
      try {
        const now = fstatSync(f);
        if (now.size !== size || now.ino !== stat.ino || now.mtimeMs !== stat.mtimeMs) {
          throw fail(path, `file changed since its header was read (${size} -> ${now.size} bytes)`, tensor);
        }
        // F32 is read into the scratch's first bytes; F16 / BF16 into its second half, then widened into all of it.
        const widen = entry.dtype !== 'F32' && scratch !== undefined && scratch.byteLength >= 2 * n;
        const inPlace = entry.dtype === 'F32' && scratch !== undefined && scratch.byteLength >= n;
        const into = widen ? new Uint8Array(scratch, n, n) : inPlace ? new Uint8Array(scratch, 0, n) : undefined;
        const bytes = readAt(f, n, dataStart + entry.begin, into);
        if (bytes.length < n) throw fail(path, 'file was truncated while the tensor was read', tensor);
        // `bytes` holds just this tensor: the offset cancels the entry's position in the data buffer.
        return new Tensor(decode(bytes, -entry.begin, entry, widen ? scratch : undefined), entry.shape);
      } finally {
        closeSync(f);
      }
    },
  };
}

/** Header bytes (padded so the data starts 8-byte aligned) and the data chunks to follow. */
function plan(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Record<string, string> | undefined,
): { header: Uint8Array; chunks: Uint8Array[]; size: number } {
  let items: [unknown, unknown][];
  if (tensors instanceof Map) items = [...tensors];
  else if (isPlainObject(tensors)) items = Object.entries(tensors);
  else throw new TypeError(`tensors must be a Map or an object of Tensors, got ${describe(tensors)}`);

  // Built by hand rather than with one JSON.stringify call, which would move integer-like
  // names ("0") first and break the link between header order and data order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new TypeError(`metadata must be an object of strings, got ${describe(metadata)}`);
    for (const [key, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`metadata[${quote(key)}] must be a string, got ${describe(v)}`);
    }
    if (Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, tensor] of items) {
    if (typeof key !== 'string') throw new TypeError(`tensors keys must be strings, got ${describe(key)}`);
    if (key === '' || key === METADATA_KEY) {
      throw new RangeError(`tensors names must be non-empty and not ${quote(METADATA_KEY)}, got ${quote(key)}`);
    }
    if (!(tensor instanceof Tensor)) throw new TypeError(`tensors[${quote(key)}] must be a Tensor, got ${describe(tensor)}`);
    const data = tensor.data;
    let chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!LITTLE_ENDIAN) {
      chunk = new Uint8Array(data.byteLength);
      const view = new DataView(chunk.buffer);
      data.forEach((x, i) => view.setFloat32(i * 4, x, true));
    }
    parts.push(
      `${JSON.stringify(key)}:{"dtype":"F32","shape":${JSON.stringify(tensor.shape)},"data_offsets":[${offset},${offset + chunk.length}]}`,
    );
    chunks.push(chunk);
    offset += chunk.length;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + headerLength).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLength), true);
  header.set(json, 8);
  return { header, chunks, size: header.length + offset };
}

/**
 * Serialises tensors (as F32) and optional string metadata into safetensors bytes.
 * The header is padded with spaces so the data starts at an 8-byte aligned offset,
 * and tensors follow one another in iteration order, so all of them stay 4-byte aligned.
 *
 * @throws TypeError if `tensors` is not a Map/object of Tensors with string names, or a
 *   metadata value is not a string; RangeError for an empty name or `"__metadata__"`
 */
export function serializeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, chunks, size } = plan(tensors, metadata);
  const out = new Uint8Array(size);
  out.set(header, 0);
  let at = header.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Writes tensors to `path` in the layout of {@link serializeSafetensors}.
 *
 * Arguments are validated before anything touches the disk. The bytes go to a
 * temporary file in the same directory, which is then renamed over `path`, so a
 * failure never leaves a half-written file at `path`. Tensor data is written straight
 * from the tensors, without assembling the whole file in memory.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${describe(path)}`);
  const { header, chunks } = plan(tensors, metadata);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx');
  try {
    try {
      for (const chunk of [header, ...chunks]) {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may already be gone; the original error is the one to report.
    }
    throw err;
  }
}
