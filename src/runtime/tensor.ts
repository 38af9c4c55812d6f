import { type DType, bytesPerElement } from './dtype.js';
import { MedgpuError } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Element strides of a contiguous C-order (row-major) array of `shape`. */
export function contiguousStrides(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i] as number;
  }
  return st;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Owner of tensor storage: returns buffers to the pool. Implemented by `Gpu`. */
export interface TensorOwner {
  releaseTensor(t: Tensor): void;
}

/**
 * A contiguous, row-major GPU tensor. Activations are channels-last. The buffer may be larger than the data
 * (pool size classes); `byteLength` is the data's size.
 */
export class Tensor {
  private buf: GPUBuffer | null;
  readonly numel: number;

  constructor(
    private readonly owner: TensorOwner,
    readonly shape: Shape,
    readonly dtype: DType,
    buffer: GPUBuffer,
    /** Size of the pooled buffer (its size class). */
    readonly capacity: number,
    readonly label?: string,
  ) {
    this.buf = buffer;
    this.numel = numel(shape);
  }

  get buffer(): GPUBuffer {
    if (!this.buf) {
      throw new MedgpuError(
        'TENSOR_RELEASED',
        `tensor ${this.label ?? ''}${shapeString(this.shape)} was used after release (it was freed by a ` +
          'scope or release(); keep() it or return it from the scope to keep it alive)',
      );
    }
    return this.buf;
  }

  get byteLength(): number {
    return this.numel * bytesPerElement(this.dtype);
  }

  get released(): boolean {
    return this.buf === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Size of axis `i`; negative counts from the end. */
  dim(i: number): number {
    const d = this.shape[i < 0 ? this.shape.length + i : i];
    if (d === undefined) throw new MedgpuError('BAD_ARGUMENT', `axis ${i} out of range for ${shapeString(this.shape)}`);
    return d;
  }

  /** A tensor sharing this storage with another shape of the same element count (a free reshape). */
  reshape(shape: Shape): Tensor {
    const n = numel(shape);
    if (n !== this.numel) {
      throw new MedgpuError(
        'SHAPE_MISMATCH',
        `cannot reshape ${shapeString(this.shape)} (${this.numel} elements) to ${shapeString(shape)} (${n})`,
      );
    }
    // A view of a view shares the root's storage directly, so scopes that keep a view keep the storage.
    return new TensorView(this instanceof TensorView ? this.base : this, shape);
  }

  /** Returns the storage to the pool. Idempotent. */
  release(): void {
    if (this.buf) {
      this.owner.releaseTensor(this);
      this.buf = null;
    }
  }

  toString(): string {
    return `Tensor(${this.label ?? ''}${shapeString(this.shape)}, ${this.dtype})`;
  }
}

/** A reshape of another tensor: shares the base's storage; releasing it releases the base. */
export class TensorView extends Tensor {
  constructor(
    readonly base: Tensor,
    shape: Shape,
  ) {
    super({ releaseTensor: () => {} }, shape, base.dtype, base.buffer, base.capacity, base.label);
  }
  override get buffer(): GPUBuffer {
    return this.base.buffer;
  }
  override get released(): boolean {
    return this.base.released;
  }
  override release(): void {
    this.base.release();
  }
}
