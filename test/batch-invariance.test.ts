// Batch invariance: a row's result must not depend on the other rows of the
// batch (the serving engine batches unrelated requests and promises each the
// ids it would get alone). Each op's row computed alone is compared bit for
// bit with the same row inside batches of several sizes, at several
// positions, next to random other rows, on 1 and 2 threads (the active ISA;
// the suite runs once per ISA).
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, native, setThreads, info, sinusoidalPositions, type AttentionOptions } from '../lib/index.js';
import { isa, randomTensor, rng } from './helpers.js';

/** Asserts bit-identical float arrays (NaN payloads and -0 included), naming the first difference. */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${what} element ${i}: got ${actual[i]}, expected ${expected[i]} (bits differ)`);
  }
}

/**
 * A batch of `rows` rows of `width` floats: random rows (from `seed`) with
 * `row` copied in at position `at`.
 */
function batchWith(row: Float32Array, rows: number, at: number, seed: number, scale = 1): Tensor {
  const t = randomTensor([rows, row.length], seed, scale);
  t.data.set(row, at * row.length);
  return t;
}

/** Where the row goes in a batch of `rows`: first, last, and (for rows > 2) the middle. */
function positions(rows: number): number[] {
  return [...new Set([0, rows - 1, Math.floor(rows / 2)])];
}

describe(`batch invariance on ${isa}`, () => {
  afterAll(() => setThreads(info().defaultThreads));

  for (const threads of [1, 2]) {
    describe(`${threads} thread(s)`, () => {
      it('linear: a row of y is the same for M = 1, 3, 7, 8, 13, 40 (K = 64, 512, 2048, 2047)', () => {
        setThreads(threads);
        for (const K of [64, 512, 2048, 2047]) for (const N of [200, 1030]) {
          const w = native.linearPack(randomTensor([N, K], K + N), randomTensor([N], K + N + 1));
          const x = randomTensor([1, K], K * 7 + N);
          for (const activation of ['none', 'gelu'] as const) {
            const alone = native.linear(x, w, { activation });
            for (const M of [1, 3, 7, 8, 13, 40]) for (const at of positions(M)) {
              const y = native.linear(batchWith(x.data, M, at, M * 31 + at), w, { activation });
              expectSameBits(y.data.subarray(at * N, (at + 1) * N), alone.data, `linear K=${K} N=${N} ${activation} row ${at} of M=${M}`);
            }
          }
          // Fused residual, in place (out = residual): the same per row.
          const r = randomTensor([1, N], 5);
          const alone = native.linear(x, w, { residual: r, out: r });
          for (const M of [3, 13]) {
            const res = batchWith(randomTensor([1, N], 5).data, M, M - 1, 77);
            const y = native.linear(batchWith(x.data, M, M - 1, 78), w, { residual: res, out: res });
            expectSameBits(y.data.subarray((M - 1) * N), alone.data, `linear K=${K} N=${N} in-place residual, last row of M=${M}`);
          }
          w.dispose();
        }
      });

      it('linear: weights of 32 MiB and more (the DRAM decode tiles) give a row the same result for M = 1..13', () => {
        setThreads(threads);
        // 16411 x 520 packs to 34 MB (gemm.cc kStreamBytes); K = 520 is two depth blocks.
        const N = 16411, K = 520;
        const w = native.linearPack(randomTensor([N, K], 11), randomTensor([N], 12));
        const x = randomTensor([1, K], 13);
        const r = randomTensor([1, N], 14);
        const alone = native.linear(x, w, { activation: 'gelu', residual: r });
        for (const M of [2, 7, 8, 9, 12, 13]) for (const at of positions(M)) {
          const res = batchWith(r.data, M, at, M * 17 + at);
          const y = native.linear(batchWith(x.data, M, at, M * 31 + at), w, { activation: 'gelu', residual: res });
          expectSameBits(y.data.subarray(at * N, (at + 1) * N), alone.data, `linear ${N}x${K} gelu+residual row ${at} of M=${M}`);
        }
        w.dispose();
      });

      it('decode attention: a row over a KV cache is the same alone and inside B = 1, 2, 5, 16', () => {
        setThreads(threads);
        const Dh = 64;
        // H = 1 with Tk = 1024: few rows, so a row's keys used to be split over threads (depending on B).
        // Rows of 2048 keys and more are cut into chunks (merged alike whether they ran as tasks or in turn).
        for (const [H, Tcap] of [[1, 1024], [1, 4100], [2, 300], [8, 64]]) {
          const next = rng(H * 1000 + Tcap);
          const lengths = [...new Set([Tcap, Tcap - 1, 3071, 2048, 2047, 257, 256, 1].filter((n) => n <= Tcap))];
          // Batches of other requests, each with its cache k, v [B, H, Tcap, Dh]; the row under test is copied in.
          const batches = [1, 2, 5, 16].map((B) => ({
            B,
            q: randomTensor([B, 1, H, Dh], B * 3),
            k: randomTensor([B, H, Tcap, Dh], B * 3 + 1),
            v: randomTensor([B, H, Tcap, Dh], B * 3 + 2),
          }));
          for (const length of lengths) for (const causal of [false, true]) {
            // One request: q [1, 1, H, Dh]; its cache k, v [1, H, Tcap, Dh] of which `length` positions are used.
            const q = randomTensor([1, 1, H, Dh], length + H);
            const k = randomTensor([1, H, Tcap, Dh], length + H + 1);
            const v = randomTensor([1, H, Tcap, Dh], length + H + 2);
            const base: AttentionOptions = { kvLayout: 'bhtd', causal };
            const alone = native.attention(q, k, v, { ...base, kvLengths: [length] });
            // Alone with a cache cut to its own length (Tk = length), as an engine running it alone might.
            const short = native.attention(q, k, v, { ...base, kvLength: length });
            expectSameBits(short.data, alone.data, `attention H=${H} length=${length} causal=${causal}: kvLength vs kvLengths`);
            for (const { B, q: qs, k: ks, v: vs } of batches) for (const at of positions(B)) {
              const kvLengths = Array.from({ length: B }, (_, b) => (b === at ? length : 1 + Math.floor(next() * Tcap)));
              qs.data.set(q.data, at * H * Dh);
              ks.data.set(k.data, at * H * Tcap * Dh);
              vs.data.set(v.data, at * H * Tcap * Dh);
              const out = native.attention(qs, ks, vs, { ...base, kvLengths });
              const what = `attention H=${H} Tcap=${Tcap} length=${length} causal=${causal}: row ${at} of B=${B}`;
              expectSameBits(out.data.subarray(at * H * Dh, (at + 1) * H * Dh), alone.data, what);
            }
          }
        }
      });

      it('decode attention with a few query rows (Tq = 3) and prefill (Tq = 70): rows alone and in a batch', () => {
        setThreads(threads);
        const [H, Dh, Tk] = [2, 32, 600];
        for (const Tq of [3, 70]) {
          const q = randomTensor([1, Tq, H, Dh], Tq);
          const k = randomTensor([1, Tk, H, Dh], Tq + 1);
          const v = randomTensor([1, Tk, H, Dh], Tq + 2);
          const alone = native.attention(q, k, v, { causal: true, kvLengths: [Tk - 9] });
          for (const B of [2, 5]) {
            const at = B - 1;
            const qs = batchWith(q.data, B, at, B);
            const ks = batchWith(k.data, B, at, B + 1);
            const vs = batchWith(v.data, B, at, B + 2);
            const out = native.attention(
              new Tensor(qs.data, [B, Tq, H, Dh]), new Tensor(ks.data, [B, Tk, H, Dh]), new Tensor(vs.data, [B, Tk, H, Dh]),
              { causal: true, kvLengths: Array.from({ length: B }, (_, b) => (b === at ? Tk - 9 : Tk - b)) },
            );
            expectSameBits(out.data.subarray(at * Tq * H * Dh), alone.data, `attention Tq=${Tq}: row ${at} of B=${B}`);
          }
        }
      });

      it('attention with a position bias (decode at per-row positions, split KV; prefill): rows alone and in a batch', () => {
        setThreads(threads);
        const Dh = 12;
        // H = 1 and 2100 keys: B * H < threads on 2 threads, so the row's chunks run as tasks of their own.
        for (const [H, Tcap, Tq] of [[1, 2100, 1], [3, 300, 1], [5, 90, 3], [3, 90, 70]]) {
          const L = Tcap + 8;
          const positionBias = randomTensor([H, 2 * L - 1], H * 7 + Tcap, 3);
          const length = Tcap - 5;
          const offset = L - Tq - 1;
          const q = randomTensor([1, Tq, H, Dh], Tcap + 1);
          const k = randomTensor([1, Tcap, H, Dh], Tcap + 2);
          const v = randomTensor([1, Tcap, H, Dh], Tcap + 3);
          const base: AttentionOptions = { positionBias, scale: 1, causal: true };
          const alone = native.attention(q, k, v, { ...base, kvLengths: [length], queryOffsets: [offset] });
          for (const B of [2, 5]) for (const at of positions(B)) {
            const qs = batchWith(q.data, B, at, B * 5 + at);
            const ks = batchWith(k.data, B, at, B * 5 + at + 1);
            const vs = batchWith(v.data, B, at, B * 5 + at + 2);
            const out = native.attention(
              new Tensor(qs.data, [B, Tq, H, Dh]), new Tensor(ks.data, [B, Tcap, H, Dh]), new Tensor(vs.data, [B, Tcap, H, Dh]),
              {
                ...base,
                kvLengths: Array.from({ length: B }, (_, b) => (b === at ? length : Tcap - b)),
                queryOffsets: Array.from({ length: B }, (_, b) => (b === at ? offset : b)),
              },
            );
            const what = `biased attention H=${H} Tcap=${Tcap} Tq=${Tq}: row ${at} of B=${B}`;
            expectSameBits(out.data.subarray(at * Tq * H * Dh, (at + 1) * Tq * H * Dh), alone.data, what);
          }
        }
      });

      it('row ops (layernorm, softmax, logSoftmax, argmax, topK, embedding) are per row', () => {
        setThreads(threads);
        for (const N of [7, 512, 32000]) {
          const x = randomTensor([1, N], N, 4);
          const r = randomTensor([1, N], N + 1);
          const g = randomTensor([N], N + 2);
          const b = randomTensor([N], N + 3);
          const ln = native.layernorm(x, g, b, { residual: r });
          const sm = native.softmax(x);
          const ls = native.logSoftmax(x);
          const am = native.argmax(x);
          const tk = native.topK(x, Math.min(8, N), { logSoftmax: true });
          for (const M of [3, 13, 40]) {
            const at = M - 1;
            const xs = batchWith(x.data, M, at, M, 4);
            const what = `N=${N} row ${at} of ${M}`;
            const row = (t: Tensor) => t.data.subarray(at * N, (at + 1) * N);
            expectSameBits(row(native.layernorm(xs, g, b, { residual: batchWith(r.data, M, at, M + 1) })), ln.data, `layernorm ${what}`);
            expectSameBits(row(native.softmax(xs)), sm.data, `softmax ${what}`);
            expectSameBits(row(native.logSoftmax(xs)), ls.data, `logSoftmax ${what}`);
            expect(native.argmax(xs)[at], `argmax ${what}`).toBe(am[0]);
            const k = tk.indices.length;
            const tks = native.topK(xs, k, { logSoftmax: true });
            expect(Array.from(tks.indices.subarray(at * k, (at + 1) * k)), `topK ${what}`).toEqual(Array.from(tk.indices));
            expectSameBits(tks.values.subarray(at * k, (at + 1) * k), tk.values, `topK values ${what}`);
          }
        }
        const D = 512;
        const table = randomTensor([50, D], 9);
        const pos = sinusoidalPositions(64, D);
        const alone = native.embedding(Int32Array.of(7, 3), [1, 2], table, { scale: Math.sqrt(D), positions: pos, positionOffset: 40 });
        for (const B of [3, 16]) {
          const ids = Int32Array.from({ length: 2 * B }, (_, i) => (i * 13) % 50);
          ids.set([7, 3], 2 * (B - 1));
          const offsets = Int32Array.from({ length: B }, (_, i) => (i === B - 1 ? 40 : i));
          const y = native.embedding(ids, [B, 2], table, { scale: Math.sqrt(D), positions: pos, positionOffsets: offsets });
          expectSameBits(y.data.subarray(2 * (B - 1) * D), alone.data, `embedding last row of B=${B}`);
        }
      });
    });
  }
});
