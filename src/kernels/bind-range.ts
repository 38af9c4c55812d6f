/**
 * Binding a range of a tensor: kernels whose inputs can exceed `maxStorageBufferBindingSize` split their work
 * and bind only the elements each launch touches. WebGPU needs binding offsets aligned to
 * `minStorageBufferOffsetAlignment`, so the offset is aligned down and the kernel adds `elemOff`.
 */
import { bytesPerElement } from '../runtime/dtype.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import type { Tensor } from '../runtime/tensor.js';

export interface RangeBinding {
  binding: BufferBinding;
  /** Index, in elements of the binding, of the range's first element. */
  elemOff: number;
}

/** Binds elements [first, first + count) of `t` (count >= 1). */
export function bindElements(gpu: Gpu, t: Tensor, first: number, count: number): RangeBinding {
  const es = bytesPerElement(t.dtype);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  const start = first * es;
  const aligned = Math.floor(start / align) * align;
  const end = Math.min(t.buffer.size, Math.ceil(((first + count) * es) / 4) * 4);
  return { binding: { buffer: t.buffer, offset: aligned, size: end - aligned }, elemOff: (start - aligned) / es };
}

/**
 * The binding-size budget a launcher plans its splits against: the device limit (or a smaller test
 * override), less the slack that aligning an offset down can add in front of a range.
 */
export function bindingBudget(gpu: Gpu, override?: number): number {
  const device = Number(gpu.limits.maxStorageBufferBindingSize);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  return Math.min(override ?? device, device) - align - 4;
}
