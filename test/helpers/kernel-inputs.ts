/** Inputs and outputs of the kernel property tests: seeded values, poisoned outputs, forced binding splits. */
import { fc } from '@fast-check/vitest';
import type { DType } from '../../src/runtime/dtype.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Shape, Tensor } from '../../src/runtime/tensor.js';

/** `n` deterministic values in [-4, 4) (a 32-bit LCG), rounded to f16 for f16 tensors. */
export function seededValues(n: number, seed: number, dtype: DType = 'f32'): Float32Array {
  let s = seed >>> 0 || 1;
  const v = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 8 - 4;
  });
  return dtype === 'f16' ? roundToF16(v) : v;
}

/** Poisons a pooled buffer of the output's size class first, so an unwritten element reads as NaN. */
export function poisoned(gpu: Gpu, shape: Shape, dtype: DType, run: () => Tensor): Tensor {
  return gpu.scope(() => {
    const out = gpu.empty(shape, dtype);
    gpu.poison(out);
    out.release();
    return run();
  });
}

/** No split, or about this many launches (see `limitFor`). */
export const splitArb = fc.option(fc.constantFrom(2, 3, 7), { nil: undefined });

/**
 * No limit, or a binding limit (bytes) that forces the work on `bytes` into about `parts` launches: the
 * launchers reserve 272 bytes of it for aligning offsets, so the limit is that plus a share of the tensor.
 */
export const limitFor = (bytes: number, parts: number | undefined) =>
  parts === undefined ? undefined : 272 + Math.max(64, Math.ceil(bytes / parts));
