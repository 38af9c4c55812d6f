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
import type { Stage } from './stages.js';

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

  /**
   * x [B, H, W, Cin] → [B, H, W, Cout]. `tembAct` is silu(temb) [B, T], shared by every resnet of a UNet.
   * `consume`: the caller hands x over (it is released here, as early as possible, and must not be used
   * after); with a conv_shortcut, norm1 then normalises x in place.
   */
  forward(gpu: Gpu, x: Tensor, tembAct?: Tensor, opts: { consume?: boolean } = {}): Tensor {
    // Intermediates are released as soon as the next one exists, and norm2 works in place on h (the block's
    // own map). Live maps at most, f32 at a 512² VAE level: 128–256 MiB each.
    // - default: x, n1 and h around conv1; x, h, shortcut and the result around conv2.
    // - consume with a conv_shortcut: the shortcut is computed first, so x is needed only by norm1, which
    //   overwrites it, and by conv1; x is gone before conv2: x, shortcut and h around conv1, then shortcut, h
    //   and the result. (256 → 128 channels at 512²: 512 MiB at most instead of 640.)
    // - consume without one: x is the residual until the end, so norm1 cannot overwrite it.
    const consume = opts.consume === true;
    return gpu.scope(() => {
      const { h, shortcut } = this.first(gpu, x, tembAct, consume);
      const out = this.second(gpu, h, shortcut ?? (this.convShortcut ? this.convShortcut.forward(gpu, x) : x));
      if (consume) x.release();
      return out;
    });
  }

  /**
   * `forward` as two stages for `runStagesAsync`: a consumed x with a conv_shortcut is released by the end of
   * the first (conv1), so settling there returns its memory before the second allocates the result. Any
   * other input runs whole in the first stage (the second passes its result on).
   */
  stages(gpu: Gpu, tembAct?: Tensor): Stage[] {
    let pending: { h: Tensor; shortcut: Tensor } | null = null;
    return [
      (x, consume) => {
        if (!consume || !this.convShortcut) return this.forward(gpu, x, tembAct, { consume });
        const first = gpu.scope(() => this.first(gpu, x, tembAct, true)) as { h: Tensor; shortcut: Tensor };
        pending = first;
        return first.h;
      },
      (h) => {
        if (!pending) return h;
        const { shortcut } = pending;
        pending = null;
        const out = gpu.scope(() => this.second(gpu, h, shortcut));
        shortcut.release();
        return out;
      },
    ];
  }

  /**
   * conv1(silu(norm1(x))) (+ the time embedding). With `early` (x consumed and a conv_shortcut), the shortcut
   * first, then norm1 over x itself, which is released after conv1.
   */
  private first(gpu: Gpu, x: Tensor, tembAct: Tensor | undefined, consume: boolean): { h: Tensor; shortcut: Tensor | null } {
    const early = consume && this.convShortcut !== null;
    const shortcut = early ? (this.convShortcut as Conv).forward(gpu, x) : null;
    const n1 = this.norm1.forward(gpu, x, { silu: true, inPlace: early });
    let h = this.conv1.forward(gpu, n1);
    n1.release(); // x itself when in place
    if (this.timeEmbProj) {
      if (!tembAct) throw new MedgpuError('BAD_ARGUMENT', 'ResnetBlock2D: this block has a time_emb_proj and needs the time embedding');
      const t = this.timeEmbProj.forward(gpu, tembAct);
      const withTime = add(gpu, h, t.reshape([x.dim(0), 1, 1, this.opts.outChannels]));
      h.release();
      h = withTime;
    }
    return { h, shortcut };
  }

  /** (shortcut + conv2(silu(norm2(h)))) / output_scale_factor, with norm2 over h itself. */
  private second(gpu: Gpu, h: Tensor, shortcut: Tensor): Tensor {
    const n2 = this.norm2.forward(gpu, h, { silu: true, inPlace: true });
    const scale = this.opts.outputScaleFactor ?? 1;
    return this.conv2.forward(gpu, n2, { residual: shortcut, scale: scale === 1 ? undefined : 1 / scale });
  }
}
