// info(), setThreads(), getBackend(), loading in worker_threads, and the raw
// addon's own bounds checks (a wrong call throws; it never crashes).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { getBackend, info, native, reference, setThreads } from '../lib/index.js';
import { loadAddon } from '../lib/backend/addon.js';
import { erf } from '../lib/backend/reference.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('runtime', () => {
  it('info() reports version, ISA, available ISAs and threads', () => {
    const i = info();
    expect(i.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(i.isaAvailable[0]).toBe('scalar');
    expect(i.isaAvailable).toContain(i.isa);
    expect(i.threads).toBeGreaterThanOrEqual(1);
    if (process.env.AIAYN_ISA) expect(i.isa).toBe(process.env.AIAYN_ISA);
    else expect(i.isa).toBe(i.isaAvailable[i.isaAvailable.length - 1]);
  });

  it('AIAYN_THREADS sets the pool size; bad AIAYN_THREADS or AIAYN_ISA fail the load with a clear error', () => {
    const probe = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require('node-gyp-build')('.').info()))`], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
    const three = probe({ AIAYN_THREADS: '3' });
    expect(JSON.parse(three.stdout)).toMatchObject({ threads: 3, defaultThreads: 3 });
    expect(probe({ AIAYN_THREADS: '0' }).stderr).toMatch(/AIAYN_THREADS must be an integer in \[1, 1024\], got '0'/);
    expect(probe({ AIAYN_THREADS: 'two' }).stderr).toMatch(/got 'two'/);
    const levels = process.arch === 'arm64' ? 'scalar, neon, neon_dotprod, neon_i8mm_bf16' : 'scalar, avx2, avx512, avx512_vnni, avx512_bf16';
    expect(probe({ AIAYN_ISA: 'sse' }).stderr).toContain(`AIAYN_ISA must be one of ${levels}; got 'sse'`);
    const scalar = probe({ AIAYN_ISA: 'scalar' });
    expect(JSON.parse(scalar.stdout).isa).toBe('scalar');
  });

  it('setThreads resizes the pool and rejects bad sizes', () => {
    setThreads(3);
    expect(info().threads).toBe(3);
    setThreads(info().defaultThreads);
    expect(info().threads).toBe(info().defaultThreads);
    expect(() => setThreads(0)).toThrow(RangeError);
    expect(() => setThreads(1.5)).toThrow(/n must be an integer in \[1, 1024\], got 1.5/);
    expect(() => setThreads('2' as never)).toThrow(TypeError);
  });

  it('getBackend returns each backend and rejects unknown names', () => {
    expect(getBackend('native')).toBe(native);
    expect(getBackend('reference')).toBe(reference);
    expect(() => getBackend('gpu' as never)).toThrow(/backend must be 'native' or 'reference', got "gpu"/);
  });

  it('loads and computes in worker_threads, two at once', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const build = require('node-gyp-build');
      const addon = build(${JSON.stringify(root)});
      const x = new Float32Array([1, 2, 3, 4]);
      const y = new Float32Array(4);
      addon.softmax(x, 1, 4, y);
      const w = new addon.PackedLinear(new Float32Array([1, 0, 0, 1]), 2, 2, null);
      const z = new Float32Array(2);
      addon.linear(new Float32Array([5, 6]), 1, w, 0, null, z);
      w.dispose();
      parentPort.postMessage({ sum: y.reduce((a, b) => a + b, 0), z: Array.from(z), isa: addon.info().isa });
    `;
    const run = () =>
      new Promise<{ sum: number; z: number[]; isa: string }>((resolve, reject) => {
        const w = new Worker(code, { eval: true });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([run(), run()]);
    for (const r of results) {
      expect(r.sum).toBeCloseTo(1, 6);
      expect(r.z).toEqual([5, 6]);
      expect(r.isa).toBe(info().isa);
    }
  });

  it('the shared pool stays correct under concurrent callers and resizes', async () => {
    // Each worker repeats a threaded linear call and counts results that differ from its first.
    const code = `
      const { parentPort } = require('node:worker_threads');
      const addon = require('node-gyp-build')(${JSON.stringify(root)});
      const [M, N, K] = [8, 256, 512];
      const w = new addon.PackedLinear(Float32Array.from({ length: N * K }, (_, i) => Math.sin(i)), N, K, null);
      const x = Float32Array.from({ length: M * K }, (_, i) => Math.cos(i));
      const first = new Float32Array(M * N);
      const y = new Float32Array(M * N);
      addon.linear(x, M, w, 0, null, first);
      let mismatches = 0;
      for (let i = 0; i < 400; i++) {
        addon.linear(x, M, w, 0, null, y);
        if (!y.every((v, j) => v === first[j])) mismatches++;
      }
      w.dispose();
      parentPort.postMessage(mismatches);
    `;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(code, { eval: true });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const pending = Promise.all([run(), run()]);
    for (let i = 0; i < 20; i++) {
      setThreads(1 + (i % 3));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await pending).toEqual([0, 0]);
    setThreads(info().defaultThreads);
  });

  it('the pool stays correct when jobs of different sizes alternate while another thread resizes it', async () => {
    // Attention (per-thread scratch) and linear of several shapes, so consecutive
    // jobs have different task counts; each result must equal the first one.
    const code = `
      const { parentPort } = require('node:worker_threads');
      const addon = require('node-gyp-build')(${JSON.stringify(root)});
      const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s));
      const jobs = [[1, 96, 2, 32], [1, 7, 8, 64], [2, 33, 3, 16]].map(([B, T, H, Dh]) => {
        const q = fill(B * T * H * Dh, 0.1), k = fill(B * T * H * Dh, 0.2), v = fill(B * T * H * Dh, 0.3);
        const out = new Float32Array(B * T * H * Dh);
        return () => { addon.attention(q, k, v, out, B, T, T, H, Dh, T * H * Dh, H * Dh, Dh, T * H * Dh, H * Dh, Dh, null, true, 0.125); return out; };
      });
      for (const [M, N, K] of [[1, 512, 64], [40, 300, 128], [3, 2048, 32]]) {
        const w = new addon.PackedLinear(fill(N * K, 0.01), N, K, null), x = fill(M * K, 0.02), y = new Float32Array(M * N);
        jobs.push(() => { addon.linear(x, M, w, 0, null, y); return y; });
      }
      const first = jobs.map((job) => job().slice());
      let mismatches = 0;
      for (let i = 0; i < 600; i++) {
        const j = i % jobs.length;
        if (!job_equal(jobs[j](), first[j])) mismatches++;
      }
      function job_equal(a, b) { return a.every((v, i) => v === b[i]); }
      parentPort.postMessage(mismatches);
    `;
    const worker = new Worker(code, { eval: true });
    const result = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let settled = false;
    void result.finally(() => (settled = true));
    for (let i = 0; !settled; i++) {
      setThreads(1 + (i % 4));
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await result).toBe(0);
    setThreads(info().defaultThreads);
  });

  it('the raw addon re-checks arguments', () => {
    const addon = loadAddon() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const f = (n: number) => new Float32Array(n);
    expect(() => addon.softmax(f(4), 1, 4)).toThrow(/softmax expects 4 arguments, got 3/);
    expect(() => addon.softmax(new Float64Array(4), 1, 4, f(4))).toThrow(/x must be a Float32Array/);
    expect(() => addon.softmax(f(3), 1, 4, f(4))).toThrow(/x must have at least 4 elements, got 3/);
    expect(() => addon.softmax(f(4), 1, 4, f(3))).toThrow(/y must have at least 4 elements/);
    expect(() => addon.softmax(f(4), -1, 4, f(4))).toThrow(RangeError);
    expect(() => addon.linear(f(4), 1, {}, 0, null, f(4))).toThrow(/weights must be a PackedLinear/);
    type Handle = { dispose(): void; unpack(w: unknown, b: unknown): void };
    const Packed = (addon as unknown as { PackedLinear: new (...a: unknown[]) => Handle }).PackedLinear;
    expect(() => new Packed(f(3), 2, 2, null)).toThrow(/weight must have at least 4 elements/);
    const w = new Packed(f(4), 2, 2, null);
    expect(() => w.unpack(f(3), null)).toThrow(/weight must have at least 4 elements, got 3/);
    expect(() => w.unpack(f(4), f(2))).toThrow(/these weights have no bias/);
    expect(() => w.unpack(f(4))).toThrow(/unpack expects 2 arguments, got 1/);
    expect(() => addon.linear(f(2), 1, w, 5, null, f(2))).toThrow(/activation must be an integer in \[0, 4\]/);
    const y = f(2);
    expect(() => addon.linear(f(2), 1, w, 1, y, y)).toThrow(/residual may be y itself only without an activation/);
    expect(() => addon.linear(y, 1, w, 0, null, y)).toThrow(/y must not share memory with x/);
    w.dispose();
    w.dispose();
    expect(() => addon.linear(f(2), 1, w, 0, null, f(2))).toThrow(/disposed/);
    expect(() => w.unpack(f(4), null)).toThrow(/weights were disposed/);
    expect(() => addon.embedding(Int32Array.of(0, 9), 1, 2, f(8), 2, 4, 1, null, 0, 0, f(8))).toThrow(/ids must be in \[0, V\)/);
    // Per-token position ids (13th argument), re-checked whatever JS passes: never read outside positions [P, D].
    const pos = f(12); // P = 3, D = 4
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, Int32Array.of(0, 3))).toThrow(/positionIds must be < P/);
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, Int32Array.of(2 ** 31 - 1, 0))).toThrow(/positionIds must be < P/);
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, Int32Array.of(0))).toThrow(/positionIds must have at least 2 elements, got 1/);
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, f(2) as never)).toThrow(/positionIds must be an? Int32Array/);
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, null, 0, 0, f(8), null, Int32Array.of(-1, -1))).toThrow(/positionIds needs positions/);
    expect(() => addon.embedding(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), Int32Array.of(0), Int32Array.of(0, 1))).toThrow(/mutually exclusive/);
    expect(() => (addon.embedding as (...a: unknown[]) => void)(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, null, 0, null, null)).toThrow(/embedding expects 11 to 15 arguments, got 16/);
    expect(() => (addon.embedding as (...a: unknown[]) => void)(Int32Array.of(0, 1), 1, 2, f(8), 2, 4, 1, pos, 3, 0, f(8), null, null, 3)).toThrow(/tableDType must be/);
    // T > P is fine with position ids (pads take none); 11, 12 and 13 arguments all still work.
    const y3 = f(12);
    addon.embedding(Int32Array.of(0, 1, 0), 1, 3, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 4, 2, f(8).fill(1), 2, 0, y3, null, Int32Array.of(-1, 1, -1));
    expect(Array.from(y3)).toEqual([2, 4, 6, 8, 11, 13, 15, 17, 2, 4, 6, 8]);
    addon.embedding(Int32Array.of(1), 1, 1, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 4, 2, f(4).fill(1), 1, 0, y3, null);
    expect(Array.from(y3.subarray(0, 4))).toEqual([11, 13, 15, 17]);
    expect(() =>
      addon.attention(f(8), f(8), f(8), f(8), 1, 1, 2, 1, 8, 8, 8, 8, 16, 8, 8, null, false, 1),
    ).toThrow(/k must have at least/);
    const huge = 2 ** 54;
    expect(() =>
      addon.attention(f(1), f(1), f(1), f(1), 513, 1, 1, 1, 1, huge, 1, 1, huge, 1, 1, null, false, 1),
    ).toThrow(/strides span more than 2\^53 elements/);
    expect(() =>
      addon.attention(f(1), f(1), f(1), f(1), 2 ** 20, 2 ** 20, 1, 2 ** 10, 2 ** 10, 0, 0, 0, 0, 0, 0, null, false, 1),
    ).toThrow(/out would hold more than 2\^53 elements/);
    // Outputs that overlap inputs they are computed from, through raw views of one buffer.
    const buf = new ArrayBuffer(64 * 4);
    const at = (offset: number, n: number) => new Float32Array(buf, offset * 4, n);
    expect(() => addon.softmax(at(0, 8), 1, 8, at(4, 8))).toThrow(/y must be x itself or not share memory with it/);
    expect(() => addon.layernorm(at(0, 8), null, at(8, 8), at(16, 8), 1e-5, 1, 8, at(8, 8))).toThrow(/must not share memory with gamma/);
    expect(() => addon.argmax(at(0, 8), 1, 8, new Int32Array(buf, 0, 1))).toThrow(/must not share memory with x/);
    expect(() => addon.embedding(new Int32Array(buf, 0, 2), 1, 2, at(32, 8), 2, 4, 1, null, 0, 0, at(0, 8))).toThrow(/must not share memory with ids/);
    expect(() =>
      addon.embedding(Int32Array.of(0, 1), 1, 2, at(32, 8), 2, 4, 1, at(40, 8), 2, 0, at(0, 8), null, new Int32Array(buf, 8, 2)),
    ).toThrow(/must not share memory with positionIds/);
  });
});

describe('reference erf', () => {
  it('matches tabulated values to 1e-13', () => {
    const table: Array<[number, number]> = [
      [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [2, 0.9953222650189527], [2.9, 0.9999589021219005], [3, 0.9999779095030014], [4, 0.9999999845827421],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, want] of table) expect(Math.abs(erf(x) - want), `erf(${x})`).toBeLessThan(1e-13);
  });
});
