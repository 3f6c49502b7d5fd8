/** Shape of a tensor: non-negative integer extents, outermost first. */
export type Shape = readonly number[];

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws a RangeError unless `value` is an integer in [min, max]. */
export function checkInt(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`${name} must be an integer ${range}, got ${value}`);
  }
  return value;
}

function checkShape(name: string, shape: unknown): Shape {
  if (!Array.isArray(shape)) throw new TypeError(`${name} must be an array of integers, got ${describe(shape)}`);
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    // The name is built only on failure: every tensor created passes here.
    if (!Number.isSafeInteger(d) || (d as number) < 0) checkInt(`${name}[${i}]`, d);
  }
  return shape as Shape;
}

/**
 * A dense float32 tensor: a Float32Array and a row-major shape. Reshapes are
 * views over the same memory; nothing here copies unless it says so.
 */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: Shape;

  constructor(data: Float32Array, shape: Shape) {
    if (!(data instanceof Float32Array)) {
      throw new TypeError(`Tensor data must be a Float32Array, got ${describe(data)}`);
    }
    const s = Object.freeze(checkShape('Tensor shape', shape).slice());
    if (shapeSize(s) !== data.length) {
      throw new RangeError(
        `Tensor shape ${formatShape(s)} needs ${shapeSize(s)} elements, data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = s;
  }

  static zeros(shape: Shape): Tensor {
    return new Tensor(new Float32Array(shapeSize(checkShape('shape', shape))), shape);
  }

  /** Copies `values` into a new tensor of `shape`. */
  static from(values: ArrayLike<number>, shape: Shape): Tensor {
    return new Tensor(Float32Array.from(values), shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.data.length;
  }

  /** A view with another shape of the same size; one extent may be -1 (inferred). */
  reshape(shape: Shape): Tensor {
    const inferred = shape.indexOf(-1);
    if (inferred >= 0) {
      const rest = shapeSize(shape.filter((_, i) => i !== inferred));
      if (rest === 0 || this.size % rest !== 0) {
        throw new RangeError(`cannot reshape ${formatShape(this.shape)} to ${formatShape(shape)}`);
      }
      shape = shape.map((d, i) => (i === inferred ? this.size / rest : d));
    }
    return new Tensor(this.data, shape);
  }
}
