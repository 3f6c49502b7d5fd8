import { Tensor, checkInt } from './tensor.js';

/**
 * The paper's sinusoidal position encodings, [P, D]:
 *   pe[p, 2i]   = sin(p / 10000^(2i/D))
 *   pe[p, 2i+1] = cos(p / 10000^(2i/D))
 * computed in float64 and rounded once (PyTorch's tutorial computes in
 * float32; its checkpoints carry their own table).
 */
export function sinusoidalPositions(P: number, D: number): Tensor {
  checkInt('P', P, 1);
  checkInt('D', D, 1);
  const out = new Float32Array(P * D);
  for (let d = 0; d < D; d++) {
    const even = d - (d % 2);
    const inverseFrequency = Math.exp((-even * Math.log(10000)) / D);
    for (let p = 0; p < P; p++) {
      const angle = p * inverseFrequency;
      out[p * D + d] = d % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return new Tensor(out, [P, D]);
}
