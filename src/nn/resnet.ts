/**
 * diffusers `ResnetBlock2D` (time_embedding_norm "default", pre-norm, SiLU):
 *   h = conv1(silu(norm1(x))) (+ time_emb_proj(silu(temb)) per sample and channel)
 *   out = (shortcut(x) + conv2(silu(norm2(h)))) / output_scale_factor
 * The SiLUs are fused into the group norms, and the shortcut add and the scale into conv2's epilogue.
 */
import { add } from '../kernels/elementwise.js';
import { MedgpuError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { Conv } from './conv.js';
import { Linear } from './linear.js';
import { GroupNorm } from './norm.js';
import type { ParamScope } from './params.js';

export interface ResnetOptions {
  inChannels: number;
  outChannels: number;
  groups: number;
  eps: number;
  /** Width of the time embedding, or null for the VAE's resnets (no `time_emb_proj`). */
  tembChannels: number | null;
  /** diffusers `output_scale_factor` (the sum is divided by it). Default 1. */
  outputScaleFactor?: number;
}

export class ResnetBlock2D {
  readonly norm1: GroupNorm;
  readonly conv1: Conv;
  readonly timeEmbProj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv;
  readonly convShortcut: Conv | null;

  constructor(
    scope: ParamScope,
    readonly opts: ResnetOptions,
  ) {
    const { inChannels: cin, outChannels: cout, groups, eps } = opts;
    this.norm1 = new GroupNorm(scope.child('norm1'), cin, groups, eps);
    this.conv1 = new Conv(scope.child('conv1'), cin, cout, { dims: 2, kernel: 3, padding: 1 });
    this.timeEmbProj = opts.tembChannels === null ? null : new Linear(scope.child('time_emb_proj'), opts.tembChannels, cout);
    this.norm2 = new GroupNorm(scope.child('norm2'), cout, groups, eps);
    this.conv2 = new Conv(scope.child('conv2'), cout, cout, { dims: 2, kernel: 3, padding: 1 });
    this.convShortcut = cin !== cout ? new Conv(scope.child('conv_shortcut'), cin, cout, { dims: 2, kernel: 1 }) : null;
  }

  /** x [B, H, W, Cin] → [B, H, W, Cout]. `tembAct` is silu(temb) [B, T], shared by every resnet of a UNet. */
  forward(gpu: Gpu, x: Tensor, tembAct?: Tensor): Tensor {
    // Intermediates are released as soon as the next one exists, so at most the input and three maps
    // (norm2 output, shortcut, result) are alive: a 512² VAE level holds 128–256 MiB per map in f32.
    return gpu.scope(() => {
      const n1 = this.norm1.forward(gpu, x, { silu: true });
      let h = this.conv1.forward(gpu, n1);
      n1.release();
      if (this.timeEmbProj) {
        if (!tembAct) throw new MedgpuError('BAD_ARGUMENT', 'ResnetBlock2D: this block has a time_emb_proj and needs the time embedding');
        const t = this.timeEmbProj.forward(gpu, tembAct);
        const withTime = add(gpu, h, t.reshape([x.dim(0), 1, 1, this.opts.outChannels]));
        h.release();
        h = withTime;
      }
      const n2 = this.norm2.forward(gpu, h, { silu: true });
      h.release();
      const shortcut = this.convShortcut ? this.convShortcut.forward(gpu, x) : x;
      const scale = this.opts.outputScaleFactor ?? 1;
      return this.conv2.forward(gpu, n2, { residual: shortcut, scale: scale === 1 ? undefined : 1 / scale });
    });
  }
}
