// T5's relative positions: a learned bias per head and bucket, added to the
// attention scores. Buckets are exact for small distances and logarithmic up
// to maxDistance (all farther ones share the last); the encoder's are
// bidirectional, the decoder's see only the past. The model expands a
// stack's [buckets, H] weights once into the table attention reads,
// [H, 2L - 1], entry (j - p) + L - 1 for key j and query position p.
import { Tensor } from '../tensor.js';

export interface RelativeBuckets {
  buckets: number;
  maxDistance: number;
  bidirectional: boolean;
}

/**
 * Hugging Face's `_relative_position_bucket` of `relative = key - query`,
 * with its float32 arithmetic (Math.fround at each step) so that the bucket
 * edges fall exactly where torch puts them.
 */
export function relativeBucket(relative: number, { buckets, maxDistance, bidirectional }: RelativeBuckets): number {
  let n = buckets;
  let bucket = 0;
  let distance: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (relative > 0) bucket += n;
    distance = Math.abs(relative);
  } else {
    distance = Math.max(-relative, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (distance < maxExact) return bucket + distance;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(distance / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (n - maxExact)));
  return bucket + Math.min(large, n - 1);
}

/** weights [buckets, H] -> the attention table [H, 2L - 1] for sequences of up to L positions. */
export function relativePositionTable(weights: Tensor, L: number, options: RelativeBuckets): Tensor {
  const H = weights.shape[1]; // weights [buckets, H]
  const span = 2 * L - 1; // L is bounded by resolveConfig (config.json sizes this table)
  const table = new Float32Array(H * span); // [H, 2L - 1]
  for (let d = -(L - 1); d <= L - 1; d++) {
    const b = relativeBucket(d, options);
    for (let h = 0; h < H; h++) table[h * span + d + L - 1] = weights.data[b * H + h];
  }
  return new Tensor(table, [H, span]);
}
