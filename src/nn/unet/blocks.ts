/**
 * The UNet's blocks (diffusers unet_2d_blocks): CrossAttnDownBlock2D / DownBlock2D (resnets, each followed
 * by a transformer when it has attention, then a downsampler), UNetMidBlock2DCrossAttn (resnet,
 * transformer, resnet) and CrossAttnUpBlock2D / UpBlock2D (resnets over [h, skip] concatenations, each
 * followed by a transformer, then an upsampler).
 */
import { concat } from '../../kernels/layout.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { ParamScope } from '../params.js';
import { ResnetBlock2D } from '../resnet.js';
import { Transformer2DModel } from '../transformer.js';
import { Downsample2D, Upsample2D } from '../updown.js';

/** What every block shares: norms, time embedding width and transformer settings. */
export interface BlockCommon {
  groups: number;
  eps: number;
  tembChannels: number;
  resnetOutScaleFactor: number;
  useLinearProjection: boolean;
  upcastAttention: boolean;
}

export interface AttentionSpec {
  heads: number;
  layers: number;
  crossAttentionDim: number;
}

function transformer(scope: ParamScope, channels: number, a: AttentionSpec, c: BlockCommon): Transformer2DModel {
  return new Transformer2DModel(scope, {
    channels,
    layers: a.layers,
    heads: a.heads,
    crossAttentionDim: a.crossAttentionDim,
    groups: c.groups,
    useLinearProjection: c.useLinearProjection,
    upcastAttention: c.upcastAttention,
  });
}

export class DownBlock {
  readonly resnets: ResnetBlock2D[] = [];
  readonly attentions: Transformer2DModel[] = [];
  readonly downsampler: Downsample2D | null;

  constructor(
    scope: ParamScope,
    o: { inChannels: number; outChannels: number; layers: number; attention: AttentionSpec | null; downsamplePadding: number | null },
    c: BlockCommon,
  ) {
    for (let i = 0; i < o.layers; i++) {
      this.resnets.push(
        new ResnetBlock2D(scope.child('resnets').child(i), {
          inChannels: i === 0 ? o.inChannels : o.outChannels,
          outChannels: o.outChannels,
          groups: c.groups,
          eps: c.eps,
          tembChannels: c.tembChannels,
          outputScaleFactor: c.resnetOutScaleFactor,
        }),
      );
      if (o.attention) this.attentions.push(transformer(scope.child('attentions').child(i), o.outChannels, o.attention, c));
    }
    this.downsampler =
      o.downsamplePadding === null ? null : new Downsample2D(scope.child('downsamplers').child(0), o.outChannels, o.downsamplePadding);
  }

  /** Returns the block output and the skip tensors it contributes (one per resnet, plus the downsampled map). */
  forward(gpu: Gpu, x: Tensor, tembAct: Tensor, context: Tensor): { out: Tensor; skips: Tensor[] } {
    const skips: Tensor[] = [];
    let h = x;
    for (const [i, resnet] of this.resnets.entries()) {
      h = resnet.forward(gpu, h, tembAct);
      const attn = this.attentions[i];
      if (attn) {
        const a = attn.forward(gpu, h, context);
        h.release();
        h = a;
      }
      skips.push(h);
    }
    if (this.downsampler) {
      h = this.downsampler.forward(gpu, h);
      skips.push(h);
    }
    return { out: h, skips };
  }
}

export class MidBlockCrossAttn {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];

  constructor(scope: ParamScope, o: { channels: number; attention: AttentionSpec; outputScaleFactor: number }, c: BlockCommon) {
    const resnet = (i: number) =>
      new ResnetBlock2D(scope.child('resnets').child(i), {
        inChannels: o.channels,
        outChannels: o.channels,
        groups: c.groups,
        eps: c.eps,
        tembChannels: c.tembChannels,
        outputScaleFactor: o.outputScaleFactor,
      });
    this.resnets = [resnet(0), resnet(1)];
    this.attentions = [transformer(scope.child('attentions').child(0), o.channels, o.attention, c)];
  }

  forward(gpu: Gpu, x: Tensor, tembAct: Tensor, context: Tensor): Tensor {
    return gpu.scope(() => {
      const [r0, r1] = this.resnets as [ResnetBlock2D, ResnetBlock2D];
      const h = (this.attentions[0] as Transformer2DModel).forward(gpu, r0.forward(gpu, x, tembAct), context);
      // h is this block's own intermediate
      return r1.forward(gpu, h, tembAct, { consume: true });
    });
  }
}

export class UpBlock {
  readonly resnets: ResnetBlock2D[] = [];
  readonly attentions: Transformer2DModel[] = [];
  readonly upsampler: Upsample2D | null;

  /**
   * `inChannels`: the channels of the skip that the last resnet takes (the block below's width);
   * `prevOutputChannels`: the width of the incoming hidden state.
   */
  constructor(
    scope: ParamScope,
    o: {
      inChannels: number;
      prevOutputChannels: number;
      outChannels: number;
      layers: number;
      attention: AttentionSpec | null;
      upsample: boolean;
    },
    c: BlockCommon,
  ) {
    for (let i = 0; i < o.layers; i++) {
      const skipChannels = i === o.layers - 1 ? o.inChannels : o.outChannels;
      const resnetIn = i === 0 ? o.prevOutputChannels : o.outChannels;
      this.resnets.push(
        new ResnetBlock2D(scope.child('resnets').child(i), {
          inChannels: resnetIn + skipChannels,
          outChannels: o.outChannels,
          groups: c.groups,
          eps: c.eps,
          tembChannels: c.tembChannels,
          outputScaleFactor: c.resnetOutScaleFactor,
        }),
      );
      if (o.attention) this.attentions.push(transformer(scope.child('attentions').child(i), o.outChannels, o.attention, c));
    }
    this.upsampler = o.upsample ? new Upsample2D(scope.child('upsamplers').child(0), o.outChannels) : null;
  }

  /**
   * Consumes `skips` from the end (one per resnet) and releases them. `upsampleSize` is the spatial size of
   * the next skip, which the upsampler must produce. Each resnet consumes its concatenation [h, skip] (it
   * has a conv_shortcut: Cin > Cout), and the skip and h are released as soon as they are concatenated.
   */
  forward(gpu: Gpu, x: Tensor, skips: Tensor[], tembAct: Tensor, context: Tensor, upsampleSize?: readonly [number, number]): Tensor {
    let h = x;
    for (const [i, resnet] of this.resnets.entries()) {
      const skip = skips.pop() as Tensor;
      const next = gpu.scope(() => {
        const cat = concat(gpu, [h, skip], -1);
        skip.release();
        if (h !== x) h.release();
        const r = resnet.forward(gpu, cat, tembAct, { consume: true });
        const attn = this.attentions[i];
        return attn ? attn.forward(gpu, r, context) : r;
      });
      h = next;
    }
    if (this.upsampler) {
      const up = this.upsampler.forward(gpu, h, upsampleSize);
      if (h !== x) h.release();
      h = up;
    }
    return h;
  }
}
