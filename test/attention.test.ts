// attention: native (active ISA, 1 and 2 threads) against the reference.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, type AttentionOptions } from '../lib/index.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';
import { loadAddon } from '../lib/backend/addon.js';

const SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000];

interface Case {
  B: number;
  H: number;
  Dh: number;
  Tq: number;
  Tk: number;
  causal: boolean;
  padded: boolean;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const T of SIZES) {
    out.push({ B: 1, H: 2, Dh: 16, Tq: T, Tk: T, causal: true, padded: false });
    out.push({ B: 2, H: 1, Dh: 33, Tq: T, Tk: 65, causal: false, padded: true });
    out.push({ B: 1, H: 1, Dh: 64, Tq: 1, Tk: T, causal: true, padded: false });
  }
  for (const Dh of [1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257]) {
    out.push({ B: 2, H: 3, Dh, Tq: 17, Tk: 31, causal: Dh % 2 === 0, padded: Dh % 3 === 0 });
  }
  const next = rng(11);
  const pick = (xs: number[]) => xs[Math.floor(next() * xs.length)];
  while (out.length < 80) {
    const c = {
      B: pick([1, 2, 3]), H: pick([1, 2, 3, 8]), Dh: pick([1, 7, 16, 32, 64, 65, 96]),
      Tq: pick(SIZES), Tk: pick(SIZES), causal: next() < 0.5, padded: next() < 0.5,
    };
    if (c.B * c.H * c.Tq * c.Tk * c.Dh <= 2e7) out.push(c);
  }
  return out;
}

function check(c: Case, seed: number, extra: AttentionOptions = {}): void {
  const q = randomTensor([c.B, c.Tq, c.H, c.Dh], seed);
  const k = randomTensor([c.B, c.Tk, c.H, c.Dh], seed + 1);
  const v = randomTensor([c.B, c.Tk, c.H, c.Dh], seed + 2);
  const next = rng(seed);
  const options: AttentionOptions = { causal: c.causal, ...extra };
  if (c.padded) options.kvLengths = Array.from({ length: c.B }, (_, b) => (b === 0 ? c.Tk : Math.floor(next() * (c.Tk + 1))));
  const got = native.attention(q, k, v, options);
  const want = reference.attention(q, k, v, options);
  expectClose(got.data, want.data, 2e-6 * Math.sqrt(c.Tk * c.Dh) + 2e-6, 0, JSON.stringify({ ...c, ...extra }));
}

describe(`attention on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  for (const threads of [1, 2]) {
    it(`matches the reference over edge shapes, ${threads} thread(s)`, () => {
      setThreads(threads);
      cases().forEach((c, i) => check(c, 100 + i));
    });
  }

  it('fully masked rows give zeros, not NaN', () => {
    const q = randomTensor([2, 4, 2, 8], 1);
    const k = randomTensor([2, 3, 2, 8], 2);
    const v = randomTensor([2, 3, 2, 8], 3);
    const padded = native.attention(q, k, v, { kvLengths: [0, 3] });
    expect(Array.from(padded.data.subarray(0, 4 * 2 * 8)).every((x) => x === 0)).toBe(true);
    // Causal with Tq > Tk: query i sees keys j <= i - 1, so query 0 sees none.
    const causal = native.attention(q, k, v, { causal: true });
    expect(Array.from(causal.data.subarray(0, 2 * 8)).every((x) => x === 0)).toBe(true);
    expectClose(causal.data, reference.attention(q, k, v, { causal: true }).data, 1e-5);
  });

  it('reads a [B, H, Tcap, Dh] cache through kvLayout bhtd and kvLength', () => {
    const [B, H, Tcap, Dh, Tk] = [2, 3, 40, 16, 25];
    const q = randomTensor([B, 1, H, Dh], 5);
    const kc = randomTensor([B, H, Tcap, Dh], 6);
    const vc = randomTensor([B, H, Tcap, Dh], 7);
    const got = native.attention(q, kc, vc, { kvLayout: 'bhtd', kvLength: Tk, causal: true });
    // The same keys copied into [B, Tk, H, Dh].
    const k = Tensor.zeros([B, Tk, H, Dh]);
    const v = Tensor.zeros([B, Tk, H, Dh]);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < Tk; t++) {
      const src = ((b * H + h) * Tcap + t) * Dh;
      const dst = ((b * Tk + t) * H + h) * Dh;
      k.data.set(kc.data.subarray(src, src + Dh), dst);
      v.data.set(vc.data.subarray(src, src + Dh), dst);
    }
    expectClose(got.data, reference.attention(q, k, v, { causal: true }).data, 1e-5);
    expectClose(got.data, reference.attention(q, kc, vc, { kvLayout: 'bhtd', kvLength: Tk, causal: true }).data, 1e-5);
  });

  it('reads q, k and v in place from the slots of fused projections, on both backends', () => {
    const [B, T, H, Dh, Tcap] = [2, 7, 3, 17, 9];
    for (const backend of [native, reference]) {
      for (const [decode, Tq] of [[false, T], [true, 2]] as const) {
        const qkv = randomTensor([B, Tq, 3, H, Dh], 21); // [B, Tq, 3, H, Dh]
        const kv = randomTensor([B, Tcap, 2, H, Dh], 22); // [B, Tcap, 2, H, Dh]
        const slot = (t: Tensor, s: number) => {
          const [b, tt, S] = t.shape;
          const dst = Tensor.zeros([b, tt, H, Dh]);
          for (let r = 0; r < b * tt; r++) dst.data.set(t.data.subarray((r * S + s) * H * Dh, (r * S + s + 1) * H * Dh), r * H * Dh);
          return dst;
        };
        const options: AttentionOptions = { causal: true, kvLengths: [Tq, Tq - 1] };
        // Self-attention: q, k, v all from one [B, T, 3, H, Dh].
        const fused = backend.attention(qkv, qkv, qkv, { ...options, qSlot: 0, kSlot: 1, vSlot: 2 });
        expectClose(fused.data, reference.attention(slot(qkv, 0), slot(qkv, 1), slot(qkv, 2), options).data, 1e-5, 0, `self ${backend.name}`);
        // Cross-attention over a [B, Tcap, 2, H, Dh] key/value projection, part of it in use; q separate.
        const crossOptions: AttentionOptions = { kvLength: decode ? 5 : Tcap, kSlot: 0, vSlot: 1 };
        const q = slot(qkv, 0);
        const cross = backend.attention(q, kv, kv, crossOptions);
        const want = reference.attention(q, slot(kv, 0), slot(kv, 1), { kvLength: crossOptions.kvLength });
        expectClose(cross.data, want.data, 1e-5, 0, `cross ${backend.name}`);
      }
    }
  });

  it('honours a custom scale and writes into options.out', () => {
    const c = { B: 1, H: 2, Dh: 8, Tq: 5, Tk: 9, causal: false, padded: false };
    check(c, 9, { scale: 0.7 });
    const q = randomTensor([1, 5, 2, 8], 1);
    const k = randomTensor([1, 9, 2, 8], 2);
    const v = randomTensor([1, 9, 2, 8], 3);
    const out = Tensor.zeros([1, 5, 2, 8]);
    expect(native.attention(q, k, v, { out })).toBe(out);
    expectClose(out.data, reference.attention(q, k, v).data, 1e-5);
  });
});

/** Attention with a position bias by its definition: plain loops, full softmax in float64. */
function naiveBiased(
  q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
  o: { causal?: boolean; kvLengths?: number[]; scale?: number; queryOffsets?: number[]; kvLength?: number },
): Float64Array {
  const [B, Tq, H, Dh] = q.shape;
  const Tcap = k.shape[1];
  const Tk = o.kvLength ?? Tcap;
  const L = (bias.shape[1] + 1) / 2;
  const scale = o.scale ?? 1 / Math.sqrt(Dh);
  const out = new Float64Array(B * Tq * H * Dh);
  const at = (t: Tensor, T: number, b: number, i: number, h: number, d: number) => t.data[((b * T + i) * H + h) * Dh + d];
  for (let b = 0; b < B; b++) for (let i = 0; i < Tq; i++) for (let h = 0; h < H; h++) {
    const p = o.queryOffsets ? o.queryOffsets[b] + i : i + Tk - Tq;
    const s: number[] = [];
    for (let j = 0; j < Tk; j++) {
      const masked = (o.kvLengths && j >= o.kvLengths[b]) || (o.causal && j > i + Tk - Tq);
      let dot = 0;
      for (let d = 0; d < Dh; d++) dot += at(q, Tq, b, i, h, d) * at(k, Tcap, b, j, h, d);
      s.push(masked ? -Infinity : dot * scale + bias.data[h * (2 * L - 1) + j - p + L - 1]);
    }
    const max = Math.max(...s);
    const e = s.map((x) => (max === -Infinity ? 0 : Math.exp(x - max)));
    const sum = e.reduce((x, y) => x + y, 0);
    for (let d = 0; d < Dh; d++) {
      let acc = 0;
      for (let j = 0; j < Tk; j++) acc += e[j] * at(v, Tcap, b, j, h, d);
      out[((b * Tq + i) * H + h) * Dh + d] = sum > 0 ? acc / sum : 0;
    }
  }
  return out;
}

describe(`attention with a relative-position bias on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  it('the reference matches plain loops (default and per-row query positions, masks, T5 scale 1)', () => {
    const [B, H, Dh, Tq, Tk] = [2, 3, 8, 5, 7];
    const q = randomTensor([B, Tq, H, Dh], 1);
    const k = randomTensor([B, Tk, H, Dh], 2);
    const v = randomTensor([B, Tk, H, Dh], 3);
    const bias = randomTensor([H, 2 * 9 - 1], 4, 3); // L = 9
    for (const o of [
      {}, { causal: true }, { kvLengths: [7, 3] }, { scale: 1, queryOffsets: [4, 0] },
      { causal: true, kvLengths: [2, 6], queryOffsets: [1, 3] }, { kvLength: 6, causal: true },
    ]) {
      const want = naiveBiased(q, k, v, bias, o);
      expectClose(reference.attention(q, k, v, { ...o, positionBias: bias }).data, want, 1e-6, 0, JSON.stringify(o));
    }
  });

  /** Random case: H 1, 3 or 5 (not a power of two), Dh including 8, 12, 20; L >= Tk; offsets when asked or when Tq > Tk. */
  function biasCheck(c: Case, seed: number, withOffsets: boolean, extra: AttentionOptions = {}): void {
    const next = rng(seed);
    const q = randomTensor([c.B, c.Tq, c.H, c.Dh], seed);
    const k = randomTensor([c.B, c.Tk, c.H, c.Dh], seed + 1);
    const v = randomTensor([c.B, c.Tk, c.H, c.Dh], seed + 2);
    const L = Math.max(c.Tk, withOffsets || c.Tq > c.Tk ? c.Tq : 0) + Math.floor(next() * 4);
    const positionBias = randomTensor([c.H, 2 * L - 1], seed + 3, 4);
    const options: AttentionOptions = { causal: c.causal, positionBias, ...extra };
    if (c.padded) options.kvLengths = Array.from({ length: c.B }, (_, b) => (b === 0 ? c.Tk : Math.floor(next() * (c.Tk + 1))));
    if (withOffsets || c.Tq > c.Tk) options.queryOffsets = Int32Array.from({ length: c.B }, (_, b) => (b === 0 ? L - c.Tq : Math.floor(next() * (L - c.Tq + 1))));
    const got = native.attention(q, k, v, options);
    const want = reference.attention(q, k, v, options);
    expectClose(got.data, want.data, 2e-6 * Math.sqrt(c.Tk * c.Dh) + 2e-6, 0, JSON.stringify({ ...c, L, offsets: options.queryOffsets && Array.from(options.queryOffsets) }));
  }

  for (const threads of [1, 2]) {
    it(`prefill and decode match the reference over edge shapes, ${threads} thread(s)`, () => {
      setThreads(threads);
      let seed = 1000;
      for (const T of SIZES) {
        if (T > 257) continue;
        biasCheck({ B: 1, H: 3, Dh: 8, Tq: T, Tk: T, causal: true, padded: false }, seed++, false);
        biasCheck({ B: 2, H: 5, Dh: 12, Tq: T, Tk: 65, causal: false, padded: true }, seed++, T % 2 === 0);
        biasCheck({ B: 2, H: 3, Dh: 20, Tq: T, Tk: 70, causal: true, padded: true }, seed++, true);
        biasCheck({ B: 3, H: 5, Dh: 8, Tq: 1, Tk: T, causal: true, padded: true }, seed++, true);
      }
      for (const Dh of [1, 3, 7, 8, 12, 15, 16, 17, 20, 33, 64, 65]) for (const Tq of [1, 2, 3, 4, 5, 17]) {
        biasCheck({ B: 2, H: 3, Dh, Tq, Tk: 31, causal: Tq % 2 === 0, padded: Dh % 3 === 0 }, seed++, Dh % 2 === 1, { scale: 1 });
      }
    });
  }

  it('fused-slot inputs, as the model passes them (self-attention prefill over [B, T, 3, H, Dh])', () => {
    const [B, T, H, Dh] = [2, 9, 5, 12];
    const qkv = randomTensor([B, T, 3, H, Dh], 31);
    const L = 12;
    const positionBias = randomTensor([H, 2 * L - 1], 32, 3);
    for (const causal of [false, true]) for (const queryOffsets of [undefined, [0, 3]]) {
      const options: AttentionOptions = { causal, kvLengths: [T, 6], positionBias, queryOffsets, scale: 1, qSlot: 0, kSlot: 1, vSlot: 2 };
      const got = native.attention(qkv, qkv, qkv, options);
      expectClose(got.data, reference.attention(qkv, qkv, qkv, options).data, 1e-5, 0, `causal=${causal} offsets=${queryOffsets}`);
    }
  });

  it('decode over a bthd and a bhtd cache: Tq = 1, per-row kvLengths and queryOffsets (each row at its own position)', () => {
    const [B, H, Dh, Tcap] = [4, 3, 8, 40];
    const L = 48;
    const positionBias = randomTensor([H, 2 * L - 1], 41, 3);
    const lengths = [1, 17, 33, 40];
    const q = randomTensor([B, 1, H, Dh], 42);
    for (const kvLayout of ['bthd', 'bhtd'] as const) {
      const shape = kvLayout === 'bthd' ? [B, Tcap, H, Dh] : [B, H, Tcap, Dh];
      const k = randomTensor(shape, 43);
      const v = randomTensor(shape, 44);
      for (const kvLength of [Tcap, 35]) {
        const kvLengths = lengths.map((l) => Math.min(l, kvLength));
        const options: AttentionOptions = { kvLayout, kvLength, kvLengths, queryOffsets: kvLengths.map((l) => l - 1 + 2), positionBias, scale: 1, causal: true };
        expectClose(native.attention(q, k, v, options).data, reference.attention(q, k, v, options).data, 1e-5, 0, `${kvLayout} kvLength=${kvLength}`);
      }
    }
  });

  it('split-KV decode (B * H < threads, long rows) equals the one-thread result bit for bit and the reference', () => {
    const [H, Dh] = [1, 20];
    for (const Tk of [2048, 3001, 4100]) {
      const L = Tk + 5;
      const q = randomTensor([1, 1, H, Dh], Tk);
      const k = randomTensor([1, Tk, H, Dh], Tk + 1);
      const v = randomTensor([1, Tk, H, Dh], Tk + 2);
      const positionBias = randomTensor([H, 2 * L - 1], Tk + 3, 3);
      const options: AttentionOptions = { positionBias, queryOffsets: [Tk + 1], causal: true };
      setThreads(1);
      const one = native.attention(q, k, v, options);
      setThreads(2);
      const two = native.attention(q, k, v, options);
      expect(Buffer.from(two.data.buffer).equals(Buffer.from(one.data.buffer)), `Tk=${Tk} split vs not`).toBe(true);
      expectClose(two.data, reference.attention(q, k, v, options).data, 2e-6 * Math.sqrt(Tk * Dh), 0, `Tk=${Tk}`);
    }
  });

  it('a zero table changes nothing; a constant per head changes nothing (softmax shift)', () => {
    const c = { B: 2, H: 3, Dh: 12, Tq: 70, Tk: 70 };
    const q = randomTensor([c.B, c.Tq, c.H, c.Dh], 51);
    const k = randomTensor([c.B, c.Tk, c.H, c.Dh], 52);
    const v = randomTensor([c.B, c.Tk, c.H, c.Dh], 53);
    const plain = native.attention(q, k, v, { causal: true });
    const zero = native.attention(q, k, v, { causal: true, positionBias: Tensor.zeros([3, 139]) });
    expectClose(zero.data, plain.data, 0);
    const constant = Tensor.zeros([3, 139]);
    constant.data.fill(2.5, 0, 139);
    expectClose(native.attention(q, k, v, { causal: true, positionBias: constant }).data, plain.data, 2e-6);
  });

  it('rejects bad tables and positions on both backends alike', () => {
    const t = (...s: number[]) => Tensor.zeros(s);
    const [q, k] = [t(2, 3, 3, 8), t(2, 5, 3, 8)];
    const bad: Array<[string, AttentionOptions, ErrorConstructor, RegExp]> = [
      ['not a tensor', { positionBias: new Float32Array(9) as never }, TypeError, /options.positionBias must be a Tensor, got Float32Array\(9\)/],
      ['rank 1', { positionBias: t(9) }, RangeError, /options.positionBias must have shape \[H, 2L - 1\] = \[3, odd\], got \[9\]/],
      ['wrong H', { positionBias: t(2, 9) }, RangeError, /options.positionBias must have shape \[H, 2L - 1\] = \[3, odd\], got \[2, 9\]/],
      ['even width', { positionBias: t(3, 10) }, RangeError, /options.positionBias must have shape \[H, 2L - 1\] = \[3, odd\], got \[3, 10\]/],
      ['too few positions', { positionBias: t(3, 7) }, RangeError, /options.positionBias covers 4 positions \(shape \[3, 7\]\), fewer than the 5 keys in use \(Tk\)/],
      ['offset past the table', { positionBias: t(3, 9), queryOffsets: [0, 3] }, RangeError, /options.queryOffsets\[1\] \(with Tq = 3, L = 5\) must be an integer in \[0, 2\], got 3/],
      ['negative offset', { positionBias: t(3, 9), queryOffsets: Int32Array.of(-1, 0) }, RangeError, /options.queryOffsets\[0\].*must be an integer in \[0, 2\], got -1/],
      ['fractional offset', { positionBias: t(3, 9), queryOffsets: [0, 1.5] }, RangeError, /options.queryOffsets\[1\].*got 1.5/],
      ['offsets wrong length', { positionBias: t(3, 9), queryOffsets: [0] }, RangeError, /options.queryOffsets must have length 2 \(B\), got 1/],
      ['offsets wrong type', { positionBias: t(3, 9), queryOffsets: new Float32Array(2) as never }, TypeError, /options.queryOffsets must be an Int32Array or an array of integers, got Float32Array\(2\)/],
      ['offsets without a table', { queryOffsets: [0, 0] }, RangeError, /options.queryOffsets needs options.positionBias/],
      ['Tq beyond the table', { positionBias: t(3, 9), kvLength: 2, queryOffsets: [3, 0] }, RangeError, /options.queryOffsets\[0\].*in \[0, 2\], got 3/],
    ];
    for (const backend of [native, reference]) {
      for (const [what, opts, type, message] of bad) {
        expect(() => backend.attention(q, k, k, opts), `${backend.name} ${what}`).toThrow(type);
        expect(() => backend.attention(q, k, k, opts), `${backend.name} ${what}`).toThrow(message);
      }
      // The addon re-checks the table and positions (a call past validate.ts).
      const raw = (bias: Float32Array, L: number, offsets: Int32Array | null) => () => loadAddon().attention(
        q.data, k.data, k.data, new Float32Array(q.size), 2, 3, 5, 3, 8, 72, 24, 8, 120, 24, 8, null, false, 1, bias, L, offsets,
      );
      if (backend === native) {
        expect(raw(new Float32Array(27), 4, null)).toThrow(/positionBias must cover Tk positions/);
        expect(raw(new Float32Array(26), 5, null)).toThrow(/positionBias must have at least 27 elements/);
        expect(raw(new Float32Array(27), 5, Int32Array.of(0, 3))).toThrow(/queryOffsets entries must be in \[0, L - Tq\]/);
        expect(raw(new Float32Array(27), 5, Int32Array.of(0, 2))).not.toThrow();
      }
      // Default positions need Tq <= Tk.
      expect(() => backend.attention(t(1, 4, 3, 8), t(1, 2, 3, 8), t(1, 2, 3, 8), { positionBias: t(3, 9) })).toThrow(
        /options.queryOffsets is required with options.positionBias when Tq \(4\) > Tk \(2\)/,
      );
      const memory = new Float32Array(144);
      const bias = new Tensor(memory.subarray(100, 127), [3, 9]);
      expect(() => backend.attention(q, k, k, { positionBias: bias, out: new Tensor(memory, [2, 3, 3, 8]) })).toThrow(/options.out must not share memory with positionBias/);
    }
  });
});
