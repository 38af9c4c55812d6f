/**
 * Resampling on channels-last activations: nearest ×2 upsampling (2D `[N,H,W,C]` and 3D `[N,D,H,W,C]`, as
 * torch `F.interpolate(scale_factor=2, mode="nearest")`) and constant-zero padding with per-axis
 * before/after amounts. Both are row copies (./layout.ts), so they move channel vectors as vec4s when
 * C % 4 == 0 and split launches that would exceed `maxStorageBufferBindingSize`:
 * - upsampling is a strided copy over the output viewed as [N, (D, 2,) H, 2, W, 2, C] whose source strides
 *   are 0 on the "2" axes (each input pixel is read for each of its 4 or 8 copies);
 * - padding fills the output with zeros, then copies the input into its interior.
 */
import type { DType } from '../runtime/dtype.js';
import { bytesPerElement } from '../runtime/dtype.js';
import { MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, contiguousStrides, shapeString } from '../runtime/tensor.js';
import type { Cost } from './cost.js';
import { type LayoutSpec, fill, stridedCopy } from './layout.js';

/** Nearest ×2 upsampling of the spatial axes of a channels-last 2D (rank 4) or 3D (rank 5) tensor. */
export function upsampleNearest2x(gpu: Gpu, x: Tensor, spec: LayoutSpec = {}): Tensor {
  if (x.rank !== 4 && x.rank !== 5) {
    throw new ShapeError(`upsampleNearest2x: expected [N,H,W,C] or [N,D,H,W,C], got ${shapeString(x.shape)}`);
  }
  const last = x.rank - 1;
  const outShape = x.shape.map((s, i) => (i === 0 || i === last ? s : 2 * s));
  const y = gpu.empty(outShape, x.dtype);
  if (y.numel === 0) return y;
  // Output [N, S1, S2, (S3,) C] viewed as [N, S1, 2, S2, 2, (S3, 2,) C]: spatial axis k splits into its
  // input coordinate (source stride = the input's) and a 0/1 copy index (source stride 0).
  const xs = contiguousStrides(x.shape);
  const ys = contiguousStrides(outShape);
  const sizes = [x.dim(0)];
  const src = [xs[0] as number];
  const dst = [ys[0] as number];
  for (let k = 1; k < last; k++) {
    sizes.push(x.shape[k] as number, 2);
    src.push(xs[k] as number, 0);
    dst.push(2 * (ys[k] as number), ys[k] as number);
  }
  sizes.push(x.dim(last));
  src.push(1);
  dst.push(1);
  stridedCopy(gpu, x, y, { sizes, srcStrides: src, dstStrides: dst, srcOffset: 0, dstOffset: 0 }, spec.maxBindingBytes);
  return y;
}

/**
 * Zero padding: `pads[k] = [before, after]` for axis k (missing trailing axes get no padding), e.g. the VAE
 * downsampler's `F.pad(x, (0, 1, 0, 1))` on NHWC is `pad(x, [[0,0],[0,1],[0,1],[0,0]])` (conv fuses that
 * one; this is for everything else).
 */
export function pad(gpu: Gpu, x: Tensor, pads: ReadonlyArray<readonly [number, number]>, spec: LayoutSpec = {}): Tensor {
  if (pads.length > x.rank) {
    throw new ShapeError(`pad: ${pads.length} pad pairs for ${shapeString(x.shape)}; at most one per axis`);
  }
  for (const [b, a] of pads) {
    if (!Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0) {
      throw new MedgpuError('BAD_ARGUMENT', `pad: amounts must be non-negative integers, got [${b}, ${a}] (cropping is slice's job)`);
    }
  }
  const before = x.shape.map((_, k) => pads[k]?.[0] ?? 0);
  const outShape = x.shape.map((s, k) => s + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0));
  const y = gpu.empty(outShape, x.dtype);
  if (y.numel === 0) return y;
  if (y.numel !== x.numel) fill(gpu, y, 0, spec);
  const ys = contiguousStrides(outShape);
  const offset = before.reduce((acc, b, k) => acc + b * (ys[k] as number), 0);
  stridedCopy(
    gpu,
    x,
    y,
    { sizes: [...x.shape], srcStrides: contiguousStrides(x.shape), dstStrides: ys, srcOffset: 0, dstOffset: offset },
    spec.maxBindingBytes,
  );
  return y;
}

/** Data movement only: input read once per output element, output written once. */
export function resampleCost(numelIn: number, numelOut: number, dtype: DType): Cost {
  const b = bytesPerElement(dtype);
  return { flops: 0, bytes: (numelIn + numelOut) * b };
}
