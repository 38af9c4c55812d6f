/**
 * LDM `Encoder` (2D, or 3D with Conv3d): conv_in, per level `num_res_blocks` ResnetBlocks (each followed by
 * an AttnBlock at the levels whose nominal resolution is in `attn_resolutions`) and a Downsample except at
 * the last level, then mid (Resnet, Attn, Resnet), GroupNorm-SiLU and conv_out to 2·z_channels.
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { GroupNorm } from '../norm.js';
import type { ParamScope } from '../params.js';
import { type Stage, runStages, runStagesAsync } from '../stages.js';
import { AttnBlock } from './attn-block.js';
import { type DdConfig, GROUP_NORM_EPS, GROUP_NORM_GROUPS } from './config.js';
import { MedConv, type ModelBuildContext } from './conv.js';
import { ResnetBlock } from './resnet-block.js';
import { Downsample } from './resample.js';

interface Level {
  blocks: ResnetBlock[];
  attns: AttnBlock[];
  downsample: Downsample | null;
}

/** A level's stages: each ResnetBlock followed by its AttnBlock where the level has one, then the resample. */
export function levelStages(
  gpu: Gpu,
  level: { blocks: ResnetBlock[]; attns: AttnBlock[] },
  resample: { forward(gpu: Gpu, x: Tensor): Tensor } | null,
): Stage[] {
  const stages: Stage[] = [];
  level.blocks.forEach((block, b) => {
    stages.push((h) => block.forward(gpu, h));
    const attn = level.attns[b];
    if (attn) stages.push((h) => attn.forward(gpu, h));
  });
  if (resample) stages.push((h) => resample.forward(gpu, h));
  return stages;
}

export class Encoder {
  readonly convIn: MedConv;
  readonly levels: Level[] = [];
  readonly mid: { block1: ResnetBlock; attn1: AttnBlock; block2: ResnetBlock };
  readonly normOut: GroupNorm;
  readonly convOut: MedConv;

  constructor(scope: ParamScope, dd: DdConfig, ctx: ModelBuildContext) {
    const k3 = { kernel: 3, padding: 1 };
    this.convIn = new MedConv(scope.child('conv_in'), dd.inChannels, dd.ch, k3, ctx);
    let curRes = dd.resolution;
    const inMult = [1, ...dd.chMult];
    let blockIn = dd.ch;
    dd.chMult.forEach((mult, i) => {
      const s = scope.child('down').child(i);
      blockIn = dd.ch * (inMult[i] as number);
      const blockOut = dd.ch * mult;
      const level: Level = { blocks: [], attns: [], downsample: null };
      for (let b = 0; b < dd.numResBlocks; b++) {
        level.blocks.push(new ResnetBlock(s.child('block').child(b), blockIn, blockOut, ctx));
        blockIn = blockOut;
        if (dd.attnResolutions.includes(curRes)) level.attns.push(new AttnBlock(s.child('attn').child(b), blockIn, ctx));
      }
      if (i !== dd.chMult.length - 1) {
        level.downsample = new Downsample(s.child('downsample'), blockIn, ctx);
        curRes = Math.floor(curRes / 2);
      }
      this.levels.push(level);
    });
    const m = scope.child('mid');
    this.mid = {
      block1: new ResnetBlock(m.child('block_1'), blockIn, blockIn, ctx),
      attn1: new AttnBlock(m.child('attn_1'), blockIn, ctx),
      block2: new ResnetBlock(m.child('block_2'), blockIn, blockIn, ctx),
    };
    this.normOut = new GroupNorm(scope.child('norm_out'), blockIn, GROUP_NORM_GROUPS, GROUP_NORM_EPS);
    this.convOut = new MedConv(scope.child('conv_out'), blockIn, 2 * dd.zChannels, k3, ctx);
  }

  /** x [N, (D,) H, W, Cin] → [N, (D/f,) H/f, W/f, 2·z_channels] (before quant_conv). */
  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => runStages(x, this.stages(gpu)));
  }

  /**
   * `forward` with `gpu.settle()` after each block, so Dawn frees the pool buffers one level evicts before
   * the next allocates (see `Gpu.settle`). Call it inside `gpu.scopeAsync`.
   */
  forwardAsync(gpu: Gpu, x: Tensor): Promise<Tensor> {
    return runStagesAsync(gpu, x, this.stages(gpu));
  }

  /** conv_in, each level's blocks (and attentions) and downsample, mid, norm and conv_out, in order. */
  private stages(gpu: Gpu): Stage[] {
    const stages: Stage[] = [(h) => this.convIn.forward(gpu, h)];
    for (const level of this.levels) stages.push(...levelStages(gpu, level, level.downsample));
    stages.push(
      (h) => this.mid.block1.forward(gpu, h),
      (h) => this.mid.attn1.forward(gpu, h),
      (h) => this.mid.block2.forward(gpu, h),
      (h) => this.normOut.forward(gpu, h, { silu: true }),
      (h) => this.convOut.forward(gpu, h),
    );
    return stages;
  }
}
