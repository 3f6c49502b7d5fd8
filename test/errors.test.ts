// Bad input: every op gets wrong types, shapes, ids and dimensions; each must
// throw the documented error class with a message naming the argument, on
// both backends alike.
import { describe, expect, it } from 'vitest';
import { Tensor, native, reference, type Backend } from '../lib/index.js';
import { backends } from './helpers.js';

type Case = [name: string, run: (b: Backend) => unknown, error: ErrorConstructor, message: RegExp];

const t = (...shape: number[]) => Tensor.zeros(shape);
const ids = (...v: number[]) => Int32Array.from(v);

const cases: Case[] = [
  // Tensor construction
  ['Tensor from a plain array', () => new Tensor([1, 2] as unknown as Float32Array, [2]), TypeError, /Float32Array.*Array\(2\)/],
  ['Tensor with a Float64Array', () => new Tensor(new Float64Array(2) as unknown as Float32Array, [2]), TypeError, /Float64Array\(2\)/],
  ['Tensor shape/length mismatch', () => new Tensor(new Float32Array(5), [2, 3]), RangeError, /needs 6 elements, data has 5/],
  ['Tensor negative dimension', () => Tensor.zeros([2, -1]), RangeError, /shape\[1\].*-1/],
  ['Tensor fractional dimension', () => Tensor.zeros([2.5]), RangeError, /shape\[0\].*2\.5/],
  ['Tensor NaN dimension', () => Tensor.zeros([NaN]), RangeError, /shape\[0\].*NaN/],
  ['Tensor string dimension', () => Tensor.zeros(['3' as unknown as number]), TypeError, /shape\[0\] must be a number/],
  ['reshape to a wrong size', () => t(2, 3).reshape([4, 2]), RangeError, /needs 8 elements/],
  // linearPack
  ['linearPack weight not a tensor', (b) => b.linearPack(new Float32Array(4) as unknown as Tensor), TypeError, /weight must be a Tensor, got Float32Array\(4\)/],
  ['linearPack weight rank 1', (b) => b.linearPack(t(4)), RangeError, /weight must have rank 2, got shape \[4\]/],
  ['linearPack bias wrong length', (b) => b.linearPack(t(3, 4), t(4)), RangeError, /bias must have shape \[3\], got \[4\]/],
  ['linearPack zero dimension', (b) => b.linearPack(t(0, 4)), RangeError, /weight dimension 0 must be >= 1/],
  // linear
  ['linear x last dim mismatch', (b) => b.linear(t(2, 5), b.linearPack(t(3, 4))), RangeError, /x must have last dimension 4.*\[2, 5\]/],
  ['linear x not a tensor', (b) => b.linear({} as Tensor, b.linearPack(t(3, 4))), TypeError, /x must be a Tensor, got Object/],
  ['linear weights from the other backend', (b) => b.linear(t(2, 4), (b === native ? reference : native).linearPack(t(3, 4))), TypeError, /weights must come from the \w+ backend/],
  ['linear disposed weights', (b) => { const w = b.linearPack(t(3, 4)); w.dispose(); return b.linear(t(2, 4), w); }, Error, /disposed/],
  ['linear unknown activation', (b) => b.linear(t(2, 4), b.linearPack(t(3, 4)), { activation: 'tanh' as 'relu' }), RangeError, /options.activation must be one of none, relu, gelu, gelu_tanh, silu, got "tanh"/],
  ['linear out wrong shape', (b) => b.linear(t(2, 4), b.linearPack(t(3, 4)), { out: t(2, 4) }), RangeError, /options.out must have shape \[2, 3\], got \[2, 4\]/],
  ['linear out aliases x', (b) => { const x = t(3, 3); return b.linear(x, b.linearPack(t(3, 3)), { out: x }); }, RangeError, /options.out must not share memory with x/],
  ['linear residual wrong shape', (b) => b.linear(t(2, 4), b.linearPack(t(3, 4)), { residual: t(2, 4) }), RangeError, /options.residual must have shape \[2, 3\], got \[2, 4\]/],
  ['linear in place with an activation', (b) => { const r = t(2, 3); return b.linear(t(2, 4), b.linearPack(t(3, 4)), { activation: 'relu', residual: r, out: r }); }, RangeError, /options.out must not share memory with residual/],
  ['linear options not an object', (b) => b.linear(t(2, 4), b.linearPack(t(3, 4)), 5 as never), TypeError, /options must be an object, got 5/],
  // attention
  ['attention q rank 3', (b) => b.attention(t(1, 2, 8), t(1, 2, 1, 8), t(1, 2, 1, 8)), RangeError, /q must be \[B, T, H, Dh\] or \[B, T, S, H, Dh\], got shape \[1, 2, 8\]/],
  ['attention fused q without qSlot', (b) => b.attention(t(1, 2, 3, 1, 8), t(1, 2, 1, 8), t(1, 2, 1, 8)), RangeError, /options.qSlot is required when q is \[B, T, S, H, Dh\], got q of shape \[1, 2, 3, 1, 8\]/],
  ['attention slot out of range', (b) => { const x = t(1, 2, 3, 1, 8); return b.attention(x, x, x, { qSlot: 0, kSlot: 3, vSlot: 2 }); }, RangeError, /options.kSlot must be an integer in \[0, 2\], got 3/],
  ['attention slot for a rank-4 input', (b) => b.attention(t(1, 2, 1, 8), t(1, 2, 1, 8), t(1, 2, 1, 8), { vSlot: 0 }), RangeError, /options.vSlot is only for a \[B, T, S, H, Dh\] v, got v of shape \[1, 2, 1, 8\]/],
  ['attention fused k, plain v', (b) => b.attention(t(1, 2, 1, 8), t(1, 2, 2, 1, 8), t(1, 2, 1, 8), { kSlot: 0 }), RangeError, /v must have shape \[1, 2, 2, 1, 8\], got \[1, 2, 1, 8\]/],
  ['attention fused k with bhtd', (b) => b.attention(t(1, 2, 1, 8), t(1, 2, 2, 1, 8), t(1, 2, 2, 1, 8), { kvLayout: 'bhtd' }), RangeError, /kvLayout 'bhtd' takes k of rank 4, got k of rank 5/],
  ['attention k head mismatch', (b) => b.attention(t(1, 2, 2, 8), t(1, 3, 1, 8), t(1, 3, 1, 8)), RangeError, /k must have shape \[1, 3, 2, 8\], got \[1, 3, 1, 8\]/],
  ['attention v shape mismatch', (b) => b.attention(t(1, 2, 1, 8), t(1, 3, 1, 8), t(1, 4, 1, 8)), RangeError, /v must have shape \[1, 3, 1, 8\], got \[1, 4, 1, 8\]/],
  ['attention kvLengths wrong count', (b) => b.attention(t(2, 2, 1, 8), t(2, 3, 1, 8), t(2, 3, 1, 8), { kvLengths: [3] }), RangeError, /kvLengths must have length 2 \(B\), got 1/],
  ['attention kvLengths beyond Tk', (b) => b.attention(t(1, 2, 1, 8), t(1, 3, 1, 8), t(1, 3, 1, 8), { kvLengths: [4] }), RangeError, /kvLengths\[0\] must be an integer in \[0, 3\], got 4/],
  ['attention kvLengths Float32Array', (b) => b.attention(t(1, 2, 1, 8), t(1, 3, 1, 8), t(1, 3, 1, 8), { kvLengths: new Float32Array(1) as never }), TypeError, /kvLengths must be an Int32Array/],
  ['attention causal not boolean', (b) => b.attention(t(1, 2, 1, 8), t(1, 2, 1, 8), t(1, 2, 1, 8), { causal: 1 as never }), TypeError, /options.causal must be a boolean, got 1/],
  ['attention NaN scale', (b) => b.attention(t(1, 2, 1, 8), t(1, 2, 1, 8), t(1, 2, 1, 8), { scale: NaN }), RangeError, /options.scale must be a finite number, got NaN/],
  ['attention kvLength beyond capacity', (b) => b.attention(t(1, 1, 2, 8), t(1, 2, 5, 8), t(1, 2, 5, 8), { kvLayout: 'bhtd', kvLength: 6 }), RangeError, /kvLength must be an integer in \[1, 5\], got 6/],
  ['attention unknown layout', (b) => b.attention(t(1, 1, 2, 8), t(1, 2, 5, 8), t(1, 2, 5, 8), { kvLayout: 'tbhd' as never }), RangeError, /kvLayout must be 'bthd' or 'bhtd', got "tbhd"/],
  ['attention out aliases q', (b) => { const q = t(1, 2, 1, 8); return b.attention(q, t(1, 2, 1, 8), t(1, 2, 1, 8), { out: q }); }, RangeError, /must not share memory with q/],
  // layernorm
  ['layernorm gamma wrong length', (b) => b.layernorm(t(2, 4), t(3), t(4)), RangeError, /gamma must have shape \[4\], got \[3\]/],
  ['layernorm beta not a tensor', (b) => b.layernorm(t(2, 4), t(4), [0, 0, 0, 0] as never), TypeError, /beta must be a Tensor, got Array\(4\)/],
  ['layernorm residual shape', (b) => b.layernorm(t(2, 4), t(4), t(4), { residual: t(1, 4) }), RangeError, /options.residual must have shape \[2, 4\], got \[1, 4\]/],
  ['layernorm negative eps', (b) => b.layernorm(t(2, 4), t(4), t(4), { eps: -1 }), RangeError, /options.eps must be a finite number >= 0, got -1/],
  ['layernorm out aliases gamma', (b) => { const g = t(4); return b.layernorm(t(1, 4), g, t(4), { out: g.reshape([1, 4]) }); }, RangeError, /options.out must not share memory with gamma/],
  // rmsnorm
  ['rmsnorm x not a tensor', (b) => b.rmsnorm([1, 2] as never, t(2)), TypeError, /x must be a Tensor, got Array\(2\)/],
  ['rmsnorm gamma not a tensor', (b) => b.rmsnorm(t(2, 4), new Float32Array(4) as never), TypeError, /gamma must be a Tensor, got Float32Array\(4\)/],
  ['rmsnorm gamma wrong length', (b) => b.rmsnorm(t(2, 4), t(3)), RangeError, /gamma must have shape \[4\], got \[3\]/],
  ['rmsnorm gamma rank 2', (b) => b.rmsnorm(t(2, 4), t(1, 4)), RangeError, /gamma must have rank 1, got shape \[1, 4\]/],
  ['rmsnorm residual shape', (b) => b.rmsnorm(t(2, 4), t(4), { residual: t(2, 1, 4) }), RangeError, /options.residual must have shape \[2, 4\], got \[2, 1, 4\]/],
  ['rmsnorm NaN eps', (b) => b.rmsnorm(t(2, 4), t(4), { eps: NaN }), RangeError, /options.eps must be a finite number >= 0, got NaN/],
  ['rmsnorm out wrong shape', (b) => b.rmsnorm(t(2, 4), t(4), { out: t(4, 2) }), RangeError, /options.out must have shape \[2, 4\], got \[4, 2\]/],
  ['rmsnorm out partly over x', (b) => { const m = new Float32Array(12); return b.rmsnorm(new Tensor(m.subarray(0, 8), [2, 4]), t(4), { out: new Tensor(m.subarray(2, 10), [2, 4]) }); }, RangeError, /options.out must not share memory with x/],
  ['rmsnorm out aliases gamma', (b) => { const g = t(4); return b.rmsnorm(t(1, 4), g, { out: g.reshape([1, 4]) }); }, RangeError, /options.out must not share memory with gamma/],
  ['rmsnorm options not an object', (b) => b.rmsnorm(t(1, 4), t(4), 'x' as never), TypeError, /options must be an object, got "x"/],
  // glu
  ['glu odd last dimension', (b) => b.glu(t(2, 5), 'silu'), RangeError, /x must have an even last dimension \(2F: the gated and the gate halves\), got shape \[2, 5\]/],
  ['glu last dimension 1', (b) => b.glu(t(3, 1), 'none'), RangeError, /x must have an even last dimension.*got shape \[3, 1\]/],
  ['glu x not a tensor', (b) => b.glu(null as never, 'silu'), TypeError, /x must be a Tensor, got null/],
  ['glu unknown activation', (b) => b.glu(t(2, 4), 'swish' as never), RangeError, /activation must be one of none, relu, gelu, gelu_tanh, silu, got "swish"/],
  ['glu missing activation', (b) => (b.glu as (x: Tensor) => Tensor)(t(2, 4)), RangeError, /activation must be one of .*got undefined/],
  ['glu out wrong shape', (b) => b.glu(t(2, 4), 'silu', { out: t(2, 4) }), RangeError, /options.out must have shape \[2, 2\], got \[2, 4\]/],
  ['glu out is x\'s first half', (b) => { const x = t(2, 4); return b.glu(x, 'silu', { out: new Tensor(x.data.subarray(0, 4), [2, 2]) }); }, RangeError, /options.out must not share memory with x/],
  // softmax, logSoftmax, argmax
  ['softmax not a tensor', (b) => b.softmax(new Float32Array(3) as never), TypeError, /x must be a Tensor, got Float32Array\(3\)/],
  ['logSoftmax out wrong shape', (b) => b.logSoftmax(t(2, 3), { out: t(3, 2) }), RangeError, /options.out must have shape \[2, 3\], got \[3, 2\]/],
  ['argmax of an empty row', (b) => b.argmax(t(2, 0)), RangeError, /x dimension 1 must be >= 1, got shape \[2, 0\]/],
  ['softmax of an empty batch', (b) => b.softmax(t(0, 4)), RangeError, /x dimension 0 must be >= 1/],
  // embedding
  ['embedding id out of range', (b) => b.embedding(ids(0, 5), [1, 2], t(5, 4)), RangeError, /ids\[1\] must be in \[0, 4\] \(vocabulary size 5\), got 5/],
  ['embedding negative id', (b) => b.embedding(ids(-1, 0), [1, 2], t(5, 4)), RangeError, /ids\[0\] must be in \[0, 4\].*got -1/],
  ['embedding ids as a plain array', (b) => b.embedding([0, 1] as never, [1, 2], t(5, 4)), TypeError, /ids must be an Int32Array, got Array\(2\)/],
  ['embedding ids length mismatch', (b) => b.embedding(ids(0, 1, 2), [1, 2], t(5, 4)), RangeError, /ids must have length B\*T = 2, got 3/],
  ['embedding zero T', (b) => b.embedding(ids(), [1, 0], t(5, 4)), RangeError, /shape\[1\] \(T\) must be an integer >= 1, got 0/],
  ['embedding fractional B', (b) => b.embedding(ids(0, 1), [0.5, 4], t(5, 4)), RangeError, /shape\[0\] \(B\) must be an integer >= 1, got 0.5/],
  ['embedding positions too short', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionOffset: 2 }), RangeError, /positionOffset \+ T = 4 exceeds the 3 rows/],
  ['embedding positions wrong width', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(8, 3) }), RangeError, /positions must have shape \[P, 4\], got \[8, 3\]/],
  ['embedding ids inside out', (b) => { const out = t(1, 2, 4); return b.embedding(new Int32Array(out.data.buffer, 8, 2), [1, 2], t(5, 4), { out }); }, RangeError, /options.out must not share memory with ids/],
  ['embedding offset without positions', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positionOffset: 1 }), RangeError, /positionOffset needs options.positions/],
  ['embedding positionIds as a plain array', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionIds: [0, 1] as never }), TypeError, /options.positionIds must be an Int32Array, got Array\(2\)/],
  ['embedding positionIds as a Float32Array', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionIds: new Float32Array(2) as never }), TypeError, /options.positionIds must be an Int32Array, got Float32Array\(2\)/],
  ['embedding positionIds wrong length', (b) => b.embedding(ids(0, 1, 2, 3), [2, 2], t(5, 4), { positions: t(3, 4), positionIds: ids(0, 1) }), RangeError, /options.positionIds must have length B\*T = 4, got 2/],
  ['embedding positionIds id = P', (b) => b.embedding(ids(0, 1, 2), [1, 3], t(5, 4), { positions: t(3, 4), positionIds: ids(0, -1, 3) }), RangeError, /options.positionIds\[2\] must be < 3 \(the rows of options.positions; negative for no position\), got 3/],
  ['embedding positionIds id > P', (b) => b.embedding(ids(0, 1), [2, 1], t(5, 4), { positions: t(3, 4), positionIds: ids(2147483647, 0) }), RangeError, /options.positionIds\[0\] must be < 3 .*got 2147483647/],
  ['embedding positionIds with positionOffsets', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionIds: ids(0, 1), positionOffsets: [0] }), RangeError, /options.positionIds and options.positionOffsets are mutually exclusive, got both/],
  ['embedding positionIds with positionOffset', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionIds: ids(0, 1), positionOffset: 0 }), RangeError, /options.positionIds and options.positionOffset are mutually exclusive, got both/],
  ['embedding positionIds without positions', (b) => b.embedding(ids(0, 1), [1, 2], t(5, 4), { positionIds: ids(0, 1) }), RangeError, /options.positionIds needs options.positions/],
  ['embedding positionIds inside out', (b) => { const out = t(1, 2, 4); return b.embedding(ids(0, 1), [1, 2], t(5, 4), { positions: t(3, 4), positionIds: new Int32Array(out.data.buffer, 4, 2), out }); }, RangeError, /options.out must not share memory with options.positionIds/],
];

describe('bad input', () => {
  for (const [name, run] of backends) {
    describe(name, () => {
      for (const [what, fn, error, message] of cases) {
        it(what, () => {
          let thrown: unknown;
          try {
            fn(run);
          } catch (e) {
            thrown = e;
          }
          expect(thrown, 'expected a throw').toBeInstanceOf(error);
          expect((thrown as Error).message).toMatch(message);
        });
      }
    });
  }
});
