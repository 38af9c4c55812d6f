/**
 * LDM `ResnetBlock` without a time embedding: `x' + conv2(silu(norm2(conv1(silu(norm1(x))))))` where x' is
 * x, or `nin_shortcut(x)` (1×1) when the channel count changes. Dropout is inactive in eval. The residual
 * add is fused into conv2's epilogue.
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { GroupNorm } from '../norm.js';
import type { ParamScope } from '../params.js';
import { GROUP_NORM_EPS, GROUP_NORM_GROUPS } from './config.js';
import { MedConv, type ModelBuildContext } from './conv.js';

export class ResnetBlock {
  readonly norm1: GroupNorm;
  readonly conv1: MedConv;
  readonly norm2: GroupNorm;
  readonly conv2: MedConv;
  readonly ninShortcut: MedConv | null;

  constructor(scope: ParamScope, cin: number, cout: number, ctx: ModelBuildContext) {
    const k3 = { kernel: 3, padding: 1, loraAllowed: true };
    this.norm1 = new GroupNorm(scope.child('norm1'), cin, GROUP_NORM_GROUPS, GROUP_NORM_EPS);
    this.conv1 = new MedConv(scope.child('conv1'), cin, cout, k3, ctx);
    this.norm2 = new GroupNorm(scope.child('norm2'), cout, GROUP_NORM_GROUPS, GROUP_NORM_EPS);
    this.conv2 = new MedConv(scope.child('conv2'), cout, cout, k3, ctx);
    this.ninShortcut = cin === cout ? null : new MedConv(scope.child('nin_shortcut'), cin, cout, { kernel: 1, loraAllowed: true }, ctx);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    // Intermediates are released as soon as they are used: at 3D window sizes each one is hundreds of MiB.
    return gpu.scope(() => {
      const n1 = this.norm1.forward(gpu, x, { silu: true });
      const h = this.conv1.forward(gpu, n1);
      n1.release();
      const n2 = this.norm2.forward(gpu, h, { silu: true });
      h.release();
      const skip = this.ninShortcut ? this.ninShortcut.forward(gpu, x) : x;
      return this.conv2.forward(gpu, n2, { residual: skip });
    });
  }
}
