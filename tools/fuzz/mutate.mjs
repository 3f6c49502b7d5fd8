// Mutations of one input: libFuzzer's byte-level ones, plus structure-aware
// ones for JSON (parse, change one value, key or type, re-serialize), for the
// safetensors layout (u64 header length + JSON header + data) and for
// protocol buffers (protobuf.mjs), which byte flips alone would almost never
// get past a parse or a length prefix.

import { mutateProtobuf } from './protobuf.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Numbers that sit on the edges parsers get wrong, as JSON text. */
export const INTERESTING_NUMBERS = [
  '0', '-0', '1', '-1', '2', '3', '7', '8', '255', '256', '65535', '65536', '2147483647', '2147483648', '-2147483648',
  '4294967295', '4294967296', '1073741824', '9007199254740991', '9007199254740992', '18446744073709551615',
  '1e308', '-1e308', '1e400', '0.5', '1e-7', '1.5', '99999999999999999999',
];
const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x2d, 0x20, 0x0a];
const INTERESTING_U64 = [0n, 1n, 7n, 8n, 0xffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
const INTERESTING_STRINGS = ['', ' ', '\u0000', '__proto__', 'constructor', 'toString', '\ud800', 'a'.repeat(300), '▁', '<unk>', '\u00e9', '🙂'];

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ------------------------------------------------------------------ bytes

function byteMutation(rng, data, dict, other) {
  const n = data.length;
  const at = rng.below(n + 1);
  switch (rng.below(12)) {
    case 0: { // flip a bit
      if (n === 0) return data;
      const out = data.slice();
      out[rng.below(n)] ^= 1 << rng.below(8);
      return out;
    }
    case 1: { // a random or interesting byte
      if (n === 0) return data;
      const out = data.slice();
      out[rng.below(n)] = rng.chance(0.5) ? rng.below(256) : rng.pick(INTERESTING_BYTES);
      return out;
    }
    case 2: // insert bytes
      return concat(data.subarray(0, at), Uint8Array.from({ length: 1 + rng.below(8) }, () => (rng.chance(0.5) ? rng.below(256) : rng.pick(INTERESTING_BYTES))), data.subarray(at));
    case 3: { // delete a range
      const len = 1 + rng.below(Math.min(64, Math.max(1, n - at)));
      return concat(data.subarray(0, at), data.subarray(Math.min(n, at + len)));
    }
    case 4: { // repeat a range
      const len = 1 + rng.below(Math.min(64, Math.max(1, n - at)));
      const chunk = data.subarray(at, at + len);
      const times = 1 + rng.below(rng.chance(0.1) ? 1000 : 8);
      return concat(data.subarray(0, at), ...Array(times).fill(chunk), data.subarray(at));
    }
    case 5: { // copy a range over another place
      if (n < 2) return data;
      const from = rng.below(n);
      const len = 1 + rng.below(Math.min(32, n - from));
      const to = rng.below(n);
      const out = data.slice();
      out.set(data.subarray(from, from + Math.min(len, n - to)), to);
      return out;
    }
    case 6: { // insert or overwrite with a dictionary token
      if (dict.length === 0) return data;
      const token = encoder.encode(rng.pick(dict));
      if (rng.chance(0.5)) return concat(data.subarray(0, at), token, data.subarray(at));
      return concat(data.subarray(0, at), token, data.subarray(Math.min(n, at + token.length)));
    }
    case 7: { // replace a decimal number with an interesting one
      const text = new TextDecoder().decode(data);
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (numbers.length === 0) return data;
      const m = rng.pick(numbers);
      const bytesBefore = encoder.encode(text.slice(0, m.index)).length;
      return concat(data.subarray(0, bytesBefore), encoder.encode(rng.pick(INTERESTING_NUMBERS)), data.subarray(bytesBefore + encoder.encode(m[0]).length));
    }
    case 8: { // an interesting little-endian integer
      const width = rng.pick([1, 2, 4, 8]);
      if (n < width) return data;
      const out = data.slice();
      const v = rng.pick(INTERESTING_U64) & ((1n << BigInt(8 * width)) - 1n);
      for (let i = 0; i < width; i++) out[Math.min(at, n - width) + i] = Number((v >> BigInt(8 * i)) & 0xffn);
      return out;
    }
    case 9: { // splice with another corpus entry
      if (!other || other.length === 0) return data;
      const cut = rng.below(other.length);
      return concat(data.subarray(0, at), other.subarray(cut, cut + 1 + rng.below(other.length - cut)));
    }
    case 10: // truncate
      return data.subarray(0, at);
    default: { // swap two bytes
      if (n < 2) return data;
      const out = data.slice();
      const [i, j] = [rng.below(n), rng.below(n)];
      [out[i], out[j]] = [out[j], out[i]];
      return out;
    }
  }
}

// ------------------------------------------------------------------ JSON

/** Every [container, key] slot of a parsed JSON value, the root as [holder, 'v']. */
function slots(holder) {
  const out = [];
  const walk = (container, key, depth) => {
    out.push([container, key]);
    const v = container[key];
    if (depth > 64 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      // Long arrays (vocabularies) are sampled, not walked whole.
      const step = Math.max(1, Math.floor(v.length / 64));
      for (let i = 0; i < v.length; i += step) walk(v, i, depth + 1);
    } else {
      const keys = Object.keys(v);
      const step = Math.max(1, Math.floor(keys.length / 64));
      for (let i = 0; i < keys.length; i += step) walk(v, keys[i], depth + 1);
    }
  };
  walk(holder, 'v', 0);
  return out;
}

function randomValue(rng, dict, sample) {
  switch (rng.below(9)) {
    case 0: return Number(rng.pick(INTERESTING_NUMBERS));
    case 1: return rng.chance(0.5) ? rng.pick(dict) ?? '' : rng.pick(INTERESTING_STRINGS);
    case 2: return rng.chance(0.5);
    case 3: return null;
    case 4: return [];
    case 5: return {};
    case 6: return Array.from({ length: 1 + rng.below(4) }, () => (rng.chance(0.5) ? rng.below(100) : rng.pick(dict) ?? 'x'));
    case 7: return rng.below(1000) - 10;
    default: return structuredClone(sample);
  }
}

function mutateValue(rng, v, dict, sample) {
  if (typeof v === 'number') {
    switch (rng.below(6)) {
      case 0: return v + 1;
      case 1: return v - 1;
      case 2: return -v;
      case 3: return v * (1 + rng.below(1 << 20));
      case 4: return v + 0.5;
      default: return Number(rng.pick(INTERESTING_NUMBERS));
    }
  }
  if (typeof v === 'string') {
    switch (rng.below(5)) {
      case 0: return '';
      case 1: return v + (rng.pick(dict) ?? 'x');
      case 2: return v.slice(0, rng.below(v.length + 1));
      case 3: return v.length > 4096 ? v : v.repeat(2 + rng.below(rng.chance(0.1) ? 5000 : 4)); // at most ~20 M characters
      default: return rng.pick(dict) ?? v;
    }
  }
  if (Array.isArray(v)) {
    const out = v.slice();
    switch (rng.below(5)) {
      case 0: out.splice(rng.below(out.length + 1), 0, randomValue(rng, dict, out.length ? rng.pick(out) : sample)); return out;
      case 1: out.splice(rng.below(out.length), 1); return out;
      case 2: return out.length ? [...out, ...out] : out;
      case 3: return out.reverse();
      default: out.length = rng.below(out.length + 1); return out;
    }
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    const out = { ...v };
    switch (rng.below(4)) {
      case 0: if (keys.length) delete out[rng.pick(keys)]; return out;
      case 1: out[rng.pick(dict) ?? 'x'] = randomValue(rng, dict, sample); return out;
      case 2: { // rename a key
        if (!keys.length) return out;
        const k = rng.pick(keys);
        const value = out[k];
        delete out[k];
        out[rng.chance(0.7) ? rng.pick(dict) ?? k : rng.pick(INTERESTING_STRINGS)] = value;
        return out;
      }
      default: return Object.fromEntries(Object.entries(out).reverse());
    }
  }
  return randomValue(rng, dict, sample);
}

/** One structure-aware change of a JSON value; undefined when `text` does not parse. */
export function mutateJsonValue(rng, json, dict) {
  const holder = { v: structuredClone(json) };
  const all = slots(holder);
  const rounds = 1 + rng.below(3);
  for (let r = 0; r < rounds; r++) {
    const [container, key] = rng.pick(all);
    const sample = rng.pick(all);
    const current = container[key];
    container[key] = rng.chance(0.7) ? mutateValue(rng, current, dict, sample[0][sample[1]]) : randomValue(rng, dict, sample[0][sample[1]]);
  }
  return holder.v;
}

function parseJson(data) {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(data)) };
  } catch {
    return { ok: false };
  }
}

function mutateJson(rng, data, dict) {
  const parsed = parseJson(data);
  if (!parsed.ok) return undefined;
  const value = mutateJsonValue(rng, parsed.value, dict);
  try {
    return encoder.encode(JSON.stringify(value, null, rng.chance(0.2) ? 1 : undefined) ?? 'null');
  } catch {
    return undefined; // repeated doublings can pass V8's longest string: a byte mutation instead
  }
}

// ------------------------------------------------------------------ safetensors

function safetensorsParts(data) {
  if (data.length < 8) return undefined;
  const length = new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(data.length - 8)) return undefined;
  const end = 8 + Number(length);
  const header = parseJson(data.subarray(8, end));
  if (!header.ok) return undefined;
  return { header: header.value, data: data.subarray(end) };
}

function u64(v) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return out;
}

/** Re-assembles header and data, usually with the right length field, sometimes with an interesting wrong one. */
function mutateSafetensors(rng, input, dict) {
  const parts = safetensorsParts(input);
  if (!parts) return undefined;
  let header = parts.header;
  let data = parts.data;
  const what = rng.below(10);
  if (what < 7) header = mutateJsonValue(rng, header, dict);
  else if (what === 7) data = data.subarray(0, rng.below(data.length + 1));
  else if (what === 8) data = concat(data, new Uint8Array(1 + rng.below(64)));
  let json;
  try {
    json = encoder.encode(JSON.stringify(header) ?? 'null');
  } catch {
    return undefined; // past V8's longest string
  }
  const padded = concat(json, new Uint8Array((8 - (json.length % 8)) % 8).fill(0x20));
  let length = BigInt(padded.length);
  if (what === 9 || rng.chance(0.05)) length = rng.chance(0.5) ? rng.pick(INTERESTING_U64) : length + BigInt(rng.below(17) - 8);
  return concat(u64(length), padded, data);
}

// ------------------------------------------------------------------ entry

/**
 * A mutant of `data`: a stack of 1-5 changes. `kind` ('json', 'safetensors',
 * 'protobuf' or 'bytes') chooses the structure-aware mutator tried about half of the time;
 * `other` is a second corpus entry for splicing.
 */
export function mutate(rng, data, { kind, dict, other, maxLength }) {
  let out = data;
  const stack = 1 + rng.below(5);
  for (let i = 0; i < stack; i++) {
    let next;
    if (kind === 'json' && rng.chance(0.5)) next = mutateJson(rng, out, dict);
    else if (kind === 'safetensors' && rng.chance(0.6)) next = mutateSafetensors(rng, out, dict);
    else if (kind === 'protobuf' && rng.chance(0.6)) next = mutateProtobuf(rng, out, dict);
    out = next ?? byteMutation(rng, out, dict, other);
  }
  return out.length > maxLength ? out.subarray(0, maxLength) : out;
}

/** Dictionary tokens from seed inputs: JSON keys and short string values (quoted, as they appear in text). */
export function dictionaryOf(seeds, extra = []) {
  const tokens = new Set(extra);
  for (const seed of seeds) {
    const parsed = parseJson(seed);
    const text = parsed.ok ? undefined : new TextDecoder().decode(seed.subarray(8, 8 + 65536));
    const value = parsed.ok ? parsed.value : text && text.startsWith('{') ? parseJson(encoder.encode(text.slice(0, text.lastIndexOf('}') + 1))).value : undefined;
    if (value === undefined) continue;
    const walk = (v, depth) => {
      if (tokens.size > 2000 || depth > 20) return;
      if (typeof v === 'string' && v.length <= 40) tokens.add(v);
      else if (Array.isArray(v)) v.slice(0, 50).forEach((x) => walk(x, depth + 1));
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v).slice(0, 200)) {
          if (k.length <= 40) tokens.add(k);
          walk(x, depth + 1);
        }
      }
    };
    walk(value, 0);
  }
  return [...tokens];
}
