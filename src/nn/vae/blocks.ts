/**
 * The AutoencoderKL blocks (diffusers unet_2d_blocks): `DownEncoderBlock2D` (resnets, then a stride-2 conv
 * after a (0, 1) pad), `UpDecoderBlock2D` (resnets, then nearest ×2 and a conv) and `UNetMidBlock2D`
 * without time embedding (resnet, spatial self-attention, resnet). GroupNorm eps is 1e-6 throughout.
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { SpatialSelfAttention } from '../attention-block.js';
import type { ParamScope } from '../params.js';
import { ResnetBlock2D } from '../resnet.js';
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

/** Runs resnets in turn, releasing each intermediate (but never the caller's input). */
function chain(gpu: Gpu, x: Tensor, blocks: readonly ResnetBlock2D[]): Tensor {
  let h = x;
  for (const r of blocks) {
    const next = r.forward(gpu, h);
    if (h !== x) h.release();
    h = next;
  }
  return h;
}

export class DownEncoderBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly downsampler: Downsample2D | null;

  constructor(scope: ParamScope, cin: number, cout: number, layers: number, groups: number, downsample: boolean) {
    this.resnets = resnets(scope, layers, cin, cout, groups);
    this.downsampler = downsample ? new Downsample2D(scope.child('downsamplers').child(0), cout, 0) : null;
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const h = chain(gpu, x, this.resnets);
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

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const h = chain(gpu, x, this.resnets);
      return this.upsampler ? this.upsampler.forward(gpu, h) : h;
    });
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
      return r1.forward(gpu, h);
    });
  }
}
