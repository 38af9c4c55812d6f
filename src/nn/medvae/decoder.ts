/**
 * LDM `Decoder` (2D, or 3D with Conv3d): conv_in from z_channels, mid (Resnet, Attn, Resnet), then from the
 * deepest level up `num_res_blocks + 1` ResnetBlocks per level (AttnBlocks where the nominal resolution is
 * in `attn_resolutions`) and an Upsample except at level 0, then GroupNorm-SiLU and conv_out to out_ch.
 * Modules are named by level index (`up.{i}`), as the reference inserts them at the front of its list.
 */
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { GroupNorm } from '../norm.js';
import type { ParamScope } from '../params.js';
import { type Stage, runStages, runStagesAsync } from '../stages.js';
import { AttnBlock } from './attn-block.js';
import { type DdConfig, GROUP_NORM_EPS, GROUP_NORM_GROUPS } from './config.js';
import { MedConv, type ModelBuildContext } from './conv.js';
import { levelStages } from './encoder.js';
import { ResnetBlock } from './resnet-block.js';
import { Upsample } from './resample.js';

interface Level {
  blocks: ResnetBlock[];
  attns: AttnBlock[];
  upsample: Upsample | null;
}

export class Decoder {
  readonly convIn: MedConv;
  readonly mid: { block1: ResnetBlock; attn1: AttnBlock; block2: ResnetBlock };
  /** Indexed by level: `levels[0]` is the full-resolution one, run last. */
  readonly levels: Level[] = [];
  readonly normOut: GroupNorm;
  readonly convOut: MedConv;

  constructor(scope: ParamScope, dd: DdConfig, ctx: ModelBuildContext) {
    const k3 = { kernel: 3, padding: 1 };
    const nLevels = dd.chMult.length;
    let blockIn = dd.ch * (dd.chMult[nLevels - 1] as number);
    let curRes = Math.floor(dd.resolution / 2 ** (nLevels - 1));
    this.convIn = new MedConv(scope.child('conv_in'), dd.zChannels, blockIn, k3, ctx);
    const m = scope.child('mid');
    this.mid = {
      block1: new ResnetBlock(m.child('block_1'), blockIn, blockIn, ctx),
      attn1: new AttnBlock(m.child('attn_1'), blockIn, ctx),
      block2: new ResnetBlock(m.child('block_2'), blockIn, blockIn, ctx),
    };
    const levels: Level[] = [];
    for (let i = nLevels - 1; i >= 0; i--) {
      const s = scope.child('up').child(i);
      const blockOut = dd.ch * (dd.chMult[i] as number);
      const level: Level = { blocks: [], attns: [], upsample: null };
      for (let b = 0; b < dd.numResBlocks + 1; b++) {
        level.blocks.push(new ResnetBlock(s.child('block').child(b), blockIn, blockOut, ctx));
        blockIn = blockOut;
        if (dd.attnResolutions.includes(curRes)) level.attns.push(new AttnBlock(s.child('attn').child(b), blockIn, ctx));
      }
      if (i !== 0) {
        level.upsample = new Upsample(s.child('upsample'), blockIn, ctx);
        curRes *= 2;
      }
      levels[i] = level;
    }
    this.levels = levels;
    this.normOut = new GroupNorm(scope.child('norm_out'), blockIn, GROUP_NORM_GROUPS, GROUP_NORM_EPS);
    this.convOut = new MedConv(scope.child('conv_out'), blockIn, dd.outCh, k3, ctx);
  }

  /** z [N, (d,) h, w, z_channels] (after post_quant_conv) → [N, (d·f,) h·f, w·f, out_ch]. */
  forward(gpu: Gpu, z: Tensor): Tensor {
    return gpu.scope(() => runStages(z, this.stages(gpu)));
  }

  /** `forward` with `gpu.settle()` after each block (see `Encoder.forwardAsync`). Call it inside `gpu.scopeAsync`. */
  forwardAsync(gpu: Gpu, z: Tensor): Promise<Tensor> {
    return runStagesAsync(gpu, z, this.stages(gpu));
  }

  /** conv_in, mid, from the deepest level up its blocks (and attentions) and upsample, norm and conv_out. */
  private stages(gpu: Gpu): Stage[] {
    const stages: Stage[] = [
      (h) => this.convIn.forward(gpu, h),
      (h) => this.mid.block1.forward(gpu, h),
      (h) => this.mid.attn1.forward(gpu, h),
      (h) => this.mid.block2.forward(gpu, h),
    ];
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const level = this.levels[i] as Level;
      stages.push(...levelStages(gpu, level, level.upsample));
    }
    stages.push(
      (h) => this.normOut.forward(gpu, h, { silu: true }),
      (h) => this.convOut.forward(gpu, h),
    );
    return stages;
  }
}
