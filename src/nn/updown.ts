/**
 * diffusers `Downsample2D` and `Upsample2D` with `use_conv=True` (the only form SD uses).
 * - Down: 3×3 conv, stride 2, padding `p`; with p = 0 the input is first padded by (0, 1) on H and W (the
 *   VAE encoder), which the conv kernel takes as asymmetric padding.
 * - Up: nearest-neighbour ×2 (or to an explicit size, as the UNet asks when the latent is not a multiple of
 *   its total downsampling), then a 3×3 conv with padding 1.
 */
import { gather, uploadIds } from '../kernels/embedding.js';
import { upsampleNearest2x } from '../kernels/resample.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { Conv } from './conv.js';
import type { ParamScope } from './params.js';

export class Downsample2D {
  readonly conv: Conv;

  constructor(scope: ParamScope, channels: number, padding: number) {
    const pad = padding === 0 ? ([0, 1] as const) : ([padding, padding] as const);
    this.conv = new Conv(scope.child('conv'), channels, channels, { dims: 2, kernel: 3, stride: 2, padding: [pad, pad] });
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return this.conv.forward(gpu, x);
  }
}

export class Upsample2D {
  readonly conv: Conv;

  constructor(scope: ParamScope, channels: number) {
    this.conv = new Conv(scope.child('conv'), channels, channels, { dims: 2, kernel: 3, padding: 1 });
  }

  /** x [B, H, W, C] → [B, outH, outW, C] (default 2H × 2W). */
  forward(gpu: Gpu, x: Tensor, size?: readonly [number, number]): Tensor {
    return gpu.scope(() => {
      const [, h, w] = x.shape as [number, number, number, number];
      const [oh, ow] = size ?? [2 * h, 2 * w];
      const up = oh === 2 * h && ow === 2 * w ? upsampleNearest2x(gpu, x) : upsampleNearestTo(gpu, x, oh, ow);
      return this.conv.forward(gpu, up);
    });
  }
}

/** torch's index of `F.interpolate(size=out, mode="nearest")`: floor(dst · in / out), computed in float32. */
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

/** Nearest-neighbour resize of [B, H, W, C] to [B, oh, ow, C] as two row gathers (rows, then pixels). */
export function upsampleNearestTo(gpu: Gpu, x: Tensor, oh: number, ow: number): Tensor {
  const [b, h, w, c] = x.shape as [number, number, number, number];
  return gpu.scope(() => {
    const rowIds: number[] = [];
    for (let n = 0; n < b; n++) for (let y = 0; y < oh; y++) rowIds.push(n * h + nearestSourceIndex(y, h, oh));
    const rows = gather(gpu, x.reshape([b * h, w * c]), uploadIds(gpu, rowIds, [b * oh], b * h));
    const pixIds: number[] = [];
    for (let r = 0; r < b * oh; r++) for (let i = 0; i < ow; i++) pixIds.push(r * w + nearestSourceIndex(i, w, ow));
    return gather(gpu, rows.reshape([b * oh * w, c]), uploadIds(gpu, pixIds, [b * oh * ow], b * oh * w)).reshape([b, oh, ow, c]);
  });
}
