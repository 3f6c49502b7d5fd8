// Structure-aware mutation of protocol-buffers messages (a SentencePiece
// ModelProto): decode the fields, change one (a varint to an edge value, a
// float to NaN or infinity, a string, a nested message, a wire type), drop,
// repeat or move fields, and encode again with correct lengths, so the change
// reaches the parser's checks instead of failing at the first length prefix.

function readVarint(buf, pos) {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) return undefined;
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [v, pos];
  }
  return undefined;
}

function varint(v) {
  const out = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return out;
}

/** The fields of a message, or undefined when `buf` is not one. */
export function decodeMessage(buf) {
  const fields = [];
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos);
    if (!key) return undefined;
    pos = key[1];
    const number = key[0] >> 3n;
    const wire = Number(key[0] & 7n);
    if (number === 0n) return undefined;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!v) return undefined;
      fields.push({ number, wire, value: v[0] });
      pos = v[1];
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > buf.length) return undefined;
      fields.push({ number, wire, bytes: buf.slice(pos, pos + n) });
      pos += n;
    } else if (wire === 2) {
      const len = readVarint(buf, pos);
      if (!len || len[1] + Number(len[0]) > buf.length) return undefined;
      pos = len[1];
      fields.push({ number, wire, bytes: buf.slice(pos, pos + Number(len[0])) });
      pos += Number(len[0]);
    } else return undefined;
  }
  return fields;
}

export function encodeMessage(fields) {
  const out = [];
  for (const f of fields) {
    out.push(...varint((f.number << 3n) | BigInt(f.wire)));
    if (f.wire === 0) out.push(...varint(f.value));
    else if (f.wire === 2) out.push(...varint(BigInt(f.bytes.length)), ...f.bytes);
    else out.push(...f.bytes);
  }
  return Uint8Array.from(out);
}

const VARINTS = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 127n, 128n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 2n ** 53n, -1n, -2n];
const FLOATS = [NaN, Infinity, -Infinity, 0, -0, 1e38, -1e38, 1e-45, -1, 1];
const encoder = new TextEncoder();

function mutateField(rng, f, dict, depth) {
  if (f.wire === 0) return { ...f, value: rng.chance(0.8) ? rng.pick(VARINTS) : f.value + BigInt(rng.below(5) - 2) };
  if (f.wire === 5) {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, rng.pick(FLOATS), true);
    return { ...f, bytes };
  }
  if (f.wire === 1) return { ...f, bytes: new Uint8Array(8).map(() => rng.below(256)) };
  const inner = depth < 4 && f.bytes.length > 0 ? decodeMessage(f.bytes) : undefined;
  if (inner && inner.length > 0 && rng.chance(0.7)) return { ...f, bytes: mutateFields(rng, inner, dict, depth + 1) };
  switch (rng.below(4)) {
    case 0: return { ...f, bytes: encoder.encode(rng.pick(dict) ?? '') };
    case 1: return { ...f, bytes: f.bytes.slice(0, rng.below(f.bytes.length + 1)) };
    case 2: return { ...f, bytes: Uint8Array.from([...f.bytes, ...f.bytes]) };
    default: return { ...f, bytes: new Uint8Array(0) };
  }
}

function mutateFields(rng, fields, dict, depth) {
  const out = fields.slice();
  const i = rng.below(out.length);
  switch (rng.below(8)) {
    case 0: out.splice(i, 1); break;
    case 1: out.splice(rng.below(out.length + 1), 0, out[i]); break;
    case 2: { const j = rng.below(out.length); [out[i], out[j]] = [out[j], out[i]]; break; }
    case 3: out[i] = { ...out[i], ...(out[i].wire === 0 ? { wire: 2, bytes: new Uint8Array(0) } : { wire: 0, value: 1n }) }; break;
    default: out[i] = mutateField(rng, out[i], dict, depth);
  }
  return encodeMessage(out);
}

/** A mutant of the message in `data`, or undefined when it is not one. */
export function mutateProtobuf(rng, data, dict) {
  const fields = decodeMessage(data);
  if (!fields || fields.length === 0) return undefined;
  return mutateFields(rng, fields, dict, 0);
}
