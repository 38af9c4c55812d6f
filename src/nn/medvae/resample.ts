/**
 * LDM `Downsample` (pad (0, 1) at the end of every spatial axis, then a 3×3 stride-2 conv: the pad is the
 * conv's own asymmetric padding, so no padded copy is made) and `Upsample` (nearest ×2, then a 3×3 conv).
 */
import { upsampleNearest2x } from '../../kernels/resample.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { ParamScope } from '../params.js';
import { MedConv, type ModelBuildContext } from './conv.js';

export class Downsample {
  readonly conv: MedConv;

  constructor(scope: ParamScope, channels: number, ctx: ModelBuildContext) {
    const padding = Array.from({ length: ctx.dims }, () => [0, 1] as const);
    this.conv = new MedConv(scope.child('conv'), channels, channels, { kernel: 3, stride: 2, padding }, ctx);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return this.conv.forward(gpu, x);
  }
}

export class Upsample {
  readonly conv: MedConv;

  constructor(scope: ParamScope, channels: number, ctx: ModelBuildContext) {
    this.conv = new MedConv(scope.child('conv'), channels, channels, { kernel: 3, padding: 1 }, ctx);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => this.conv.forward(gpu, upsampleNearest2x(gpu, x)));
  }
}
