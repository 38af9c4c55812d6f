/**
 * The AutoencoderKL blocks (diffusers unet_2d_blocks): `DownEncoderBlock2D` (resnets, then a stride-2 conv
 * after a (0, 1) pad), `UpDecoderBlock2D` (resnets, then nearest ×2 and a conv) and `UNetMidBlock2D`
 * without time embedding (resnet, spatial self-attention, resnet). GroupNorm eps is 1e-6 throughout.
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { upsampleNearest2x } from '../../kernels/resample.js';
import { SpatialSelfAttention } from '../attention-block.js';
import type { ParamScope } from '../params.js';
import { ResnetBlock2D } from '../resnet.js';
import type { Stage } from '../stages.js';
import { Downsample2D, Upsample2D } from '../updown.js';

export const VAE_EPS = 1e-6;

function resnets(scope: ParamScope, count: number, cin: number, cout: number, groups: number): ResnetBlock2D[] {
  return Array.from(
    { length: count },
    (_, i) =>
      new ResnetBlock2D(scope.child('resnets').child(i), {
        inChannels: i === 0 ? cin : cout,
        outChannels: cout,
        groups,
        eps: VAE_EPS,
        tembChannels: null,
      }),
  );
}

/**
 * Runs resnets in turn, each consuming its input (see ResnetBlock2D.forward): every intermediate, and the
 * caller's input too when `consume` (the caller hands it over): at 512² that input is a 128–256 MiB map
 * nobody reads again, and a consumed input with a conv_shortcut is normalised in place.
 */
function chain(gpu: Gpu, x: Tensor, blocks: readonly ResnetBlock2D[], consume = false): Tensor {
  let h = x;
  for (const r of blocks) h = r.forward(gpu, h, undefined, { consume: h !== x || consume });
  return h;
}

export class DownEncoderBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly downsampler: Downsample2D | null;

  constructor(scope: ParamScope, cin: number, cout: number, layers: number, groups: number, downsample: boolean) {
    this.resnets = resnets(scope, layers, cin, cout, groups);
    this.downsampler = downsample ? new Downsample2D(scope.child('downsamplers').child(0), cout, 0) : null;
  }

  /** `consume`: the caller hands `x` over (released once read; its resnets may overwrite it). */
  forward(gpu: Gpu, x: Tensor, opts: { consume?: boolean } = {}): Tensor {
    return gpu.scope(() => {
      const h = chain(gpu, x, this.resnets, opts.consume);
      return this.downsampler ? this.downsampler.forward(gpu, h) : h;
    });
  }
}

export class UpDecoderBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly upsampler: Upsample2D | null;

  constructor(scope: ParamScope, cin: number, cout: number, layers: number, groups: number, upsample: boolean) {
    this.resnets = resnets(scope, layers, cin, cout, groups);
    this.upsampler = upsample ? new Upsample2D(scope.child('upsamplers').child(0), cout) : null;
  }

  /**
   * The block as stages (each resnet's two, then nearest ×2 and the upsampler's conv), for the decoder to run in
   * turn. A consumed input is released as soon as it is no longer needed (the decoder passes its own
   * intermediates), and so is the resnets' output once upsampled, before the upsampler's conv. The 512²
   * decode's peak, 512 MiB of maps, is reached twice: at the last upsampler's conv (its 256-channel input and
   * output) and in the next block's first resnet (see ResnetBlock2D.forward).
   */
  stages(gpu: Gpu): Stage[] {
    const s: Stage[] = this.resnets.flatMap((r) => r.stages(gpu));
    const up = this.upsampler;
    // Upsample2D.forward without a size: nearest ×2, then its conv
    if (up)
      s.push(
        (h) => upsampleNearest2x(gpu, h),
        (h) => up.conv.forward(gpu, h),
      );
    return s;
  }
}

export class VaeMidBlock {
  readonly resnets: ResnetBlock2D[];
  readonly attention: SpatialSelfAttention | null;

  constructor(scope: ParamScope, channels: number, groups: number, addAttention: boolean, names: 'diffusers' | 'legacy') {
    this.resnets = resnets(scope, 2, channels, channels, groups);
    this.attention = addAttention ? new SpatialSelfAttention(scope.child('attentions').child(0), channels, groups, VAE_EPS, names) : null;
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const [r0, r1] = this.resnets as [ResnetBlock2D, ResnetBlock2D];
      let h = r0.forward(gpu, x);
      if (this.attention) h = this.attention.forward(gpu, h);
      // h is this block's own intermediate
      return r1.forward(gpu, h, undefined, { consume: true });
    });
  }
}
