// The engine's memory budget: the bytes its decode state (the KV caches of
// every row in the batch) may hold. That state is what grows with batch ×
// length and can take a machine's memory; the weights and the per-step
// activations are fixed or small by comparison. A request that can never
// fit is refused at once (KvBudgetError); one that fits alone but not next
// to the running ones waits in the queue until rows leave.
import { totalmem } from 'node:os';
import type { TransformerConfig } from '../model/config.js';

/** The memory this process may use: the machine's, or its cgroup's limit when lower (a container's). */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0; // unconstrained: 0 or 2^64
  return limit > 0 && limit < totalmem() ? limit : totalmem();
}

/**
 * Default budget: a quarter of availableMemory(). The rest is left to the
 * weights (fp32, often the largest part), the JavaScript heap, the encoder's
 * activations and the other processes of the machine; a server that owns the
 * machine can raise it.
 */
export function defaultMaxKvBytes(): number {
  return Math.floor(availableMemory() / 4);
}

/** Thrown for a request whose KV cache alone is larger than the engine's maxKvBytes: a server answers 400/422. */
export class KvBudgetError extends RangeError {
  readonly code = 'AIAYN_KV_BUDGET';
  constructor(message: string) {
    super(message);
    this.name = 'KvBudgetError';
  }
}

/** `bytes` for people: 1.5 GiB, 37.5 MiB, 512 B. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : Number(v.toFixed(1))} ${units[u]}`;
}

/**
 * The error for a request of `rows` rows, `positions` target and `srcPositions`
 * source positions, whose cache (`bytes`, as the decode state allocates it)
 * exceeds `limit`.
 */
export function kvBudgetError(config: Readonly<TransformerConfig>, rows: number, positions: number, srcPositions: number, bytes: number, limit: number): KvBudgetError {
  const width = config.heads * config.headDim;
  return new KvBudgetError(
    `the request needs ${formatBytes(bytes)} of KV cache (${rows} rows × (${positions} target + ${srcPositions} source positions) × ` +
      `${config.decoderLayers} layers × 2 (K, V) × ${width} floats × 4 bytes = ${bytes} bytes), more than this engine's maxKvBytes ` +
      `(${limit} bytes): ask for fewer new tokens, beams or sequences, or send a shorter input`,
  );
}
