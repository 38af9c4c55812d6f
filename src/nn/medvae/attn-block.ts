/**
 * LDM `AttnBlock`: single-head self-attention over every position of the feature map (H·W in 2D, D·H·W in
 * 3D) with head_dim = channels: `x + proj_out(softmax(q·kᵀ/√C)·v)`, q/k/v/proj_out 1×1 convs on
 * `norm(x)`. Channels-last makes the map a tokens × channels matrix, so the 1×1 convs and the flash
 * attention need no transposes; the attention never builds the N×N score matrix.
 */
import { attention } from '../../kernels/attention.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { GroupNorm } from '../norm.js';
import type { ParamScope } from '../params.js';
import { GROUP_NORM_EPS, GROUP_NORM_GROUPS } from './config.js';
import { MedConv, type ModelBuildContext } from './conv.js';

export class AttnBlock {
  readonly norm: GroupNorm;
  readonly q: MedConv;
  readonly k: MedConv;
  readonly v: MedConv;
  readonly projOut: MedConv;

  constructor(
    scope: ParamScope,
    readonly channels: number,
    ctx: ModelBuildContext,
  ) {
    const k1 = { kernel: 1, loraAllowed: true };
    this.norm = new GroupNorm(scope.child('norm'), channels, GROUP_NORM_GROUPS, GROUP_NORM_EPS);
    this.q = new MedConv(scope.child('q'), channels, channels, k1, ctx);
    this.k = new MedConv(scope.child('k'), channels, channels, k1, ctx);
    this.v = new MedConv(scope.child('v'), channels, channels, k1, ctx);
    this.projOut = new MedConv(scope.child('proj_out'), channels, channels, k1, ctx);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const c = this.channels;
      const batch = x.dim(0);
      const n = x.numel / c / batch;
      const h = this.norm.forward(gpu, x);
      const tokens = (t: Tensor) => t.reshape([batch, n, 1, c]);
      const q = tokens(this.q.forward(gpu, h));
      const k = tokens(this.k.forward(gpu, h));
      const v = tokens(this.v.forward(gpu, h));
      h.release();
      const o = attention(gpu, { q, k, v }, { scale: 1 / Math.sqrt(c) }).reshape(x.shape);
      for (const t of [q, k, v]) t.release();
      return this.projOut.forward(gpu, o, { residual: x });
    });
  }
}
