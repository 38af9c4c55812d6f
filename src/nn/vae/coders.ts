/**
 * diffusers `Encoder` and `Decoder` of AutoencoderKL:
 *   Encoder: conv_in → DownEncoderBlock2D × n → mid block → silu(GroupNorm) → conv_out (2·latent channels)
 *   Decoder: conv_in → mid block → UpDecoderBlock2D × n (reversed widths, layers+1 resnets) →
 *            silu(GroupNorm) → conv_out
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { Conv } from '../conv.js';
import { GroupNorm } from '../norm.js';
import type { ParamScope } from '../params.js';
import { type Stage, runStages, runStagesAsync } from '../stages.js';
import { DownEncoderBlock2D, UpDecoderBlock2D, VAE_EPS, VaeMidBlock } from './blocks.js';
import type { AutoencoderKLConfig } from './config.js';

const conv3 = (scope: ParamScope, cin: number, cout: number) => new Conv(scope, cin, cout, { dims: 2, kernel: 3, padding: 1 });

export class Encoder {
  readonly convIn: Conv;
  readonly downBlocks: DownEncoderBlock2D[];
  readonly midBlock: VaeMidBlock;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv;

  constructor(scope: ParamScope, cfg: AutoencoderKLConfig, attentionNames: 'diffusers' | 'legacy') {
    const boc = cfg.blockOutChannels;
    const n = boc.length;
    const G = cfg.normNumGroups;
    this.convIn = conv3(scope.child('conv_in'), cfg.inChannels, boc[0] as number);
    this.downBlocks = boc.map(
      (c, i) =>
        new DownEncoderBlock2D(scope.child('down_blocks').child(i), boc[Math.max(i - 1, 0)] as number, c, cfg.layersPerBlock, G, i < n - 1),
    );
    const top = boc[n - 1] as number;
    this.midBlock = new VaeMidBlock(scope.child('mid_block'), top, G, cfg.midBlockAddAttention, attentionNames);
    this.convNormOut = new GroupNorm(scope.child('conv_norm_out'), top, G, VAE_EPS);
    this.convOut = conv3(scope.child('conv_out'), top, 2 * cfg.latentChannels);
  }

  /** image [B, H, W, in] → moments [B, H/f, W/f, 2·latent] (before quant_conv). */
  forward(gpu: Gpu, x: Tensor): Tensor {
    return runStages(x, this.stages(gpu));
  }

  /**
   * `forward` with `gpu.settle()` after each stage (conv_in, each down block, the mid block, the output
   * norm and conv), as `Decoder.forwardAsync`. Call it inside `gpu.scopeAsync`.
   */
  forwardAsync(gpu: Gpu, x: Tensor): Promise<Tensor> {
    return runStagesAsync(gpu, x, this.stages(gpu));
  }

  /** Every stage after conv_in gets an intermediate of this encoder (never `x`, which conv_in reads). */
  private stages(gpu: Gpu): Stage[] {
    const down =
      (b: DownEncoderBlock2D): Stage =>
      (h, consume) =>
        b.forward(gpu, h, { consume });
    return [
      (h) => this.convIn.forward(gpu, h),
      ...this.downBlocks.map(down),
      (h) => this.midBlock.forward(gpu, h),
      (h, consume) => this.convNormOut.forward(gpu, h, { silu: true, inPlace: consume }),
      (h) => this.convOut.forward(gpu, h),
    ];
  }
}

export class Decoder {
  readonly convIn: Conv;
  readonly midBlock: VaeMidBlock;
  readonly upBlocks: UpDecoderBlock2D[];
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv;

  constructor(scope: ParamScope, cfg: AutoencoderKLConfig, attentionNames: 'diffusers' | 'legacy') {
    const rev = [...cfg.blockOutChannels].reverse();
    const n = rev.length;
    const G = cfg.normNumGroups;
    const top = rev[0] as number;
    this.convIn = conv3(scope.child('conv_in'), cfg.latentChannels, top);
    this.midBlock = new VaeMidBlock(scope.child('mid_block'), top, G, cfg.midBlockAddAttention, attentionNames);
    this.upBlocks = rev.map(
      (c, i) =>
        new UpDecoderBlock2D(scope.child('up_blocks').child(i), rev[Math.max(i - 1, 0)] as number, c, cfg.layersPerBlock + 1, G, i < n - 1),
    );
    const bottom = rev[n - 1] as number;
    this.convNormOut = new GroupNorm(scope.child('conv_norm_out'), bottom, G, VAE_EPS);
    this.convOut = conv3(scope.child('conv_out'), bottom, cfg.outChannels);
  }

  /** latents [B, h, w, latent] (after post_quant_conv) → image [B, h·f, w·f, out]. */
  forward(gpu: Gpu, z: Tensor): Tensor {
    return runStages(z, this.stages(gpu));
  }

  /**
   * `forward` with `gpu.settle()` after each resnet and upsampler step, so the pool buffers that one level
   * evicts are freed before the next allocates (a 512² decode: ~1 GiB less process memory on lavapipe).
   * Call it inside `gpu.scopeAsync`.
   */
  forwardAsync(gpu: Gpu, z: Tensor): Promise<Tensor> {
    return runStagesAsync(gpu, z, this.stages(gpu));
  }

  /** Every stage after conv_in gets an intermediate of this decoder (never `z`) and consumes it. */
  private stages(gpu: Gpu): Stage[] {
    return [
      (h) => this.convIn.forward(gpu, h),
      (h) => this.midBlock.forward(gpu, h),
      ...this.upBlocks.flatMap((b) => b.stages(gpu)),
      (h, consume) => this.convNormOut.forward(gpu, h, { silu: true, inPlace: consume }),
      (h) => this.convOut.forward(gpu, h),
    ];
  }
}
