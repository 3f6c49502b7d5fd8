// Loads the compiled addon (build/ or prebuilds/, via node-gyp-build) once,
// lazily, so that the reference backend works on a machine without it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { WeightDType } from './backend.js';

/**
 * Instruction-set levels, lowest first; each includes the ones before it of
 * the same architecture. x86-64: scalar, avx2, avx512, avx512_vnni,
 * avx512_bf16; arm64: scalar, neon (ARMv8.0), neon_dotprod (ARMv8.2 SDOT),
 * neon_i8mm_bf16 (ARMv8.6 I8MM + BF16).
 */
export type Isa = 'scalar' | 'avx2' | 'avx512' | 'avx512_vnni' | 'avx512_bf16' | 'neon' | 'neon_dotprod' | 'neon_i8mm_bf16';

export interface NativeInfo {
  isa: Isa;
  isaAvailable: Isa[];
  /** The GEMM micro-kernel linear layers of each weight dtype run on the active ISA (e.g. 'bf16_f32_gemm_6x64__avx512bf16'). */
  gemm: { fp32: string; bf16: string; int8: string };
  threads: number;
  defaultThreads: number;
  /** Bytes of packed linear weights alive in the process (every model, every worker thread). */
  packedBytes: number;
  /** Packed linear weights alive in the process: each linear layer of each model not yet disposed (or collected). */
  packedWeights: number;
}

/** PackedLinear's weight dtype codes: 0 fp32, 1 bf16, 2 int8. */
export type PackedDType = 0 | 1 | 2;

/** The codes of aiayn::DType (native/kernels/dtype.h), for PackedLinear and the embedding tables. */
export const DTYPE_CODE: Record<WeightDType, PackedDType> = { fp32: 0, bf16: 1, int8: 2 };

export interface PackedLinearHandle {
  /** Bytes held natively: the packed weights (int8: with their scales and sums) and the bias. */
  readonly bytes: number;
  readonly dtype: PackedDType;
  readonly disposed: boolean;
  dispose(): void;
  unpack(weight: Float32Array, bias: Float32Array | null): void;
}

/** The fields of `new DecoderStepPlan(spec)`: a norm is [gamma, beta | null]. */
export interface DecoderStepSpecHandle {
  D: number; H: number; Dh: number; F: number; V: number;
  normFirst: boolean; gated: boolean; activation: number; eps: number; attentionScale: number;
  /** [V, D]: Float32Array, or with embeddingDType 1 bf16 bits (Uint16Array), 2 int8 values (Int8Array) and embeddingScales [V]. */
  embedding: Float32Array | Uint16Array | Int8Array; embeddingDType: PackedDType; embeddingScales: Float32Array | null;
  embeddingScale: number; positions: Float32Array | null;
  positionBias: Float32Array | null; L: number;
  embeddingNorm: [Float32Array, Float32Array | null] | null; finalNorm: [Float32Array, Float32Array | null] | null;
  generator: PackedLinearHandle;
  layers: Array<{
    selfQ: PackedLinearHandle; selfKV: PackedLinearHandle; selfOut: PackedLinearHandle;
    crossQ: PackedLinearHandle; crossOut: PackedLinearHandle; ff1: PackedLinearHandle; ff2: PackedLinearHandle;
    norm1: [Float32Array, Float32Array | null]; norm2: [Float32Array, Float32Array | null]; norm3: [Float32Array, Float32Array | null];
  }>;
}

export interface DecoderStepPlanHandle {
  readonly disposed: boolean;
  step(
    tokens: Int32Array, positions: Int32Array, positionIds: Int32Array | null, srcLengths: Int32Array,
    R: number, Tcap: number, Scap: number, self: readonly Float32Array[], cross: readonly Float32Array[], logits: Float32Array,
  ): void;
  dispose(): void;
}

/** The raw binding. Arguments are validated in TypeScript first; the addon re-checks bounds. */
export interface Addon {
  info(): NativeInfo;
  setThreads(n: number): void;
  /**
   * Packs W [N, K] (nn.Linear layout). dtype 1 (bf16) also takes the raw bf16 bits of a checkpoint as a
   * Uint16Array; int8 needs K <= 131072. unpack() gives the dequantised fp32 values.
   */
  PackedLinear: new (
    weight: Float32Array | Uint16Array, N: number, K: number, bias: Float32Array | null, dtype?: PackedDType,
  ) => PackedLinearHandle;
  linear(
    x: Float32Array, M: number, weights: PackedLinearHandle, activation: number,
    residual: Float32Array | null, y: Float32Array,
  ): void;
  attention(
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array,
    B: number, Tq: number, Tk: number, H: number, Dh: number,
    qsb: number, qst: number, qsh: number, ksb: number, kst: number, ksh: number,
    kvLengths: Int32Array | null, causal: boolean, scale: number,
    positionBias: Float32Array | null, L: number, queryOffsets: Int32Array | null,
  ): void;
  layernorm(
    x: Float32Array, residual: Float32Array | null, gamma: Float32Array, beta: Float32Array,
    eps: number, rows: number, D: number, y: Float32Array,
  ): void;
  rmsnorm(
    x: Float32Array, residual: Float32Array | null, gamma: Float32Array, eps: number, rows: number, D: number, y: Float32Array,
  ): void;
  glu(x: Float32Array, rows: number, F: number, activation: number, y: Float32Array): void;
  softmax(x: Float32Array, rows: number, N: number, y: Float32Array): void;
  logSoftmax(x: Float32Array, rows: number, N: number, y: Float32Array): void;
  argmax(x: Float32Array, rows: number, N: number, out: Int32Array): void;
  topK(x: Float32Array, rows: number, N: number, k: number, logSoftmax: boolean, values: Float32Array, indices: Int32Array): void;
  DecoderStepPlan: new (spec: DecoderStepSpecHandle) => DecoderStepPlanHandle;
  /** table: Float32Array, or with tableDType 1 the bf16 bits (Uint16Array), 2 int8 values (Int8Array) with rowScales [V]. */
  embedding(
    ids: Int32Array, B: number, T: number, table: Float32Array | Uint16Array | Int8Array, V: number, D: number, scale: number,
    positions: Float32Array | null, P: number, positionOffset: number, y: Float32Array,
    positionOffsets?: Int32Array | null, positionIds?: Int32Array | null, tableDType?: PackedDType, rowScales?: Float32Array | null,
  ): void;
}

/** The package root: lib/backend/ in the sources, dist/backend/ when built. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => Addon;
    try {
      addon = load(packageRoot);
    } catch (error) {
      throw new Error(addonLoadMessage(error instanceof Error ? error.message : String(error)), { cause: error });
    }
  }
  return addon;
}

const FROM_SOURCE =
  "build it from source with 'npm rebuild aiayn --build-from-source' (needs a C++17 compiler, python3 and make)";

/** What failed to load, on which platform, and what to do about it (never dlopen's words alone). */
export function addonLoadMessage(reason: string): string {
  const platform = `${process.platform}-${process.arch}`;
  // The addon loaded and refused the environment (AIAYN_ISA, AIAYN_THREADS): its own words say what to change.
  if (/^AIAYN_/.test(reason)) return reason;
  const fallback = "or use the 'reference' backend";
  if (/No native build was found/.test(reason)) {
    return `aiayn: no native addon for ${platform}: no prebuild ships for it and none was built at install; ${FROM_SOURCE}, ${fallback}. (${reason})`;
  }
  if (/GLIBC|GLIBCXX|CXXABI/.test(reason)) {
    return (
      `aiayn: the native addon for ${platform} needs a newer C or C++ runtime than this system has ` +
      `(the prebuilds need glibc 2.27 and libstdc++ from GCC 6 or later); update them, or ${FROM_SOURCE}, ${fallback}. (${reason})`
    );
  }
  return `aiayn: cannot load the native addon for ${platform}: ${reason}. Reinstall aiayn, or ${FROM_SOURCE}, ${fallback}.`;
}
