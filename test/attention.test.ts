// attention: native (active ISA, 1 and 2 threads) against the reference.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, reference, setThreads, info, type AttentionOptions } from '../lib/index.js';
import { expectClose, isa, randomTensor, rng } from './helpers.js';

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
