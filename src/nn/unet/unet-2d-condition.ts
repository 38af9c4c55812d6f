/**
 * diffusers `UNet2DConditionModel` for Stable Diffusion 1.x / 2.x, built from its `config.json` with every
 * parameter under its upstream name (strict loading), computing on channels-last tensors:
 *   emb = TimestepEmbedding(Timesteps(t));  h = conv_in(sample)
 *   down blocks (skips kept) → mid block → up blocks (skips concatenated) → conv_out(silu(norm(h)))
 */
import { cast } from '../../kernels/cast.js';
import { silu, unary } from '../../kernels/elementwise.js';
import type { DType } from '../../runtime/dtype.js';
import { MedgpuError, ShapeError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import { type Tensor, shapeString } from '../../runtime/tensor.js';
import type { ConfigObject } from '../config.js';
import { Conv } from '../conv.js';
import { GroupNorm } from '../norm.js';
import { type LoadOptions, type Param, ParamScope, type WeightReader, loadParams, releaseParams } from '../params.js';
import { type FileTreeLike, readComponent } from '../pretrained.js';
import { TimeEmbedding, type Timesteps, timestepsTensor } from '../timestep.js';
import { type BlockCommon, DownBlock, MidBlockCrossAttn, UpBlock } from './blocks.js';
import { type UNetConfig, parseUNetConfig } from './config.js';

export interface UNetForwardOptions {
  /** dtype of the returned prediction (default: the sample's). */
  outputDtype?: DType;
}

export interface UNetPretrainedOptions extends LoadOptions {
  /** Weight file variant, e.g. 'fp16' for `diffusion_pytorch_model.fp16.safetensors` (falls back to the standard file). */
  variant?: string;
}

export class UNet2DConditionModel {
  readonly params: Param<unknown>[] = [];
  readonly timeEmbedding: TimeEmbedding;
  readonly convIn: Conv;
  readonly downBlocks: DownBlock[] = [];
  readonly midBlock: MidBlockCrossAttn | null;
  readonly upBlocks: UpBlock[] = [];
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv;
  private loadedDtype: DType | null = null;

  constructor(readonly config: UNetConfig) {
    const root = new ParamScope(this.params);
    const cfg = config;
    const boc = cfg.blockOutChannels;
    const n = boc.length;
    const c0 = boc[0] as number;
    this.convIn = new Conv(root.child('conv_in'), cfg.inChannels, c0, {
      dims: 2,
      kernel: cfg.convInKernel,
      padding: (cfg.convInKernel - 1) / 2,
    });
    this.timeEmbedding = new TimeEmbedding(root.child('time_embedding'), c0, cfg.timeEmbedDim, cfg.flipSinToCos, cfg.freqShift);
    const common: BlockCommon = {
      groups: cfg.normNumGroups,
      eps: cfg.normEps,
      tembChannels: cfg.timeEmbedDim,
      resnetOutScaleFactor: cfg.resnetOutScaleFactor,
      useLinearProjection: cfg.useLinearProjection,
      upcastAttention: cfg.upcastAttention,
    };
    const attention = (i: number) => ({
      heads: cfg.heads[i] as number,
      layers: cfg.transformerLayersPerBlock[i] as number,
      crossAttentionDim: cfg.crossAttentionDim[i] as number,
    });
    let out = c0;
    for (let i = 0; i < n; i++) {
      const inCh = out;
      out = boc[i] as number;
      this.downBlocks.push(
        new DownBlock(
          root.child('down_blocks').child(i),
          {
            inChannels: inCh,
            outChannels: out,
            layers: cfg.layersPerBlock[i] as number,
            attention: cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D' ? attention(i) : null,
            downsamplePadding: i < n - 1 ? cfg.downsamplePadding : null,
          },
          common,
        ),
      );
    }
    this.midBlock =
      cfg.midBlockType === null
        ? null
        : new MidBlockCrossAttn(
            root.child('mid_block'),
            { channels: boc[n - 1] as number, attention: attention(n - 1), outputScaleFactor: cfg.midBlockScaleFactor },
            common,
          );
    // Up block i mirrors down block n-1-i; diffusers reverses the per-block lists.
    out = boc[n - 1] as number;
    for (let i = 0; i < n; i++) {
      const j = n - 1 - i;
      const prev = out;
      out = boc[j] as number;
      this.upBlocks.push(
        new UpBlock(
          root.child('up_blocks').child(i),
          {
            inChannels: boc[Math.max(j - 1, 0)] as number,
            prevOutputChannels: prev,
            outChannels: out,
            layers: (cfg.layersPerBlock[j] as number) + 1,
            attention: cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D' ? attention(j) : null,
            upsample: i < n - 1,
          },
          common,
        ),
      );
    }
    this.convNormOut = new GroupNorm(root.child('conv_norm_out'), c0, cfg.normNumGroups, cfg.normEps);
    this.convOut = new Conv(root.child('conv_out'), c0, cfg.outChannels, {
      dims: 2,
      kernel: cfg.convOutKernel,
      padding: (cfg.convOutKernel - 1) / 2,
    });
  }

  /** Builds the model from a parsed `config.json` object (no weights yet: call `load`). */
  static fromConfig(raw: ConfigObject, source?: string): UNet2DConditionModel {
    return new UNet2DConditionModel(parseUNetConfig(raw, source));
  }

  /**
   * Reads `config.json` and the weights of a component folder: a path (Node) or a `FileTree` (browser,
   * in-memory), e.g. `pipeline/unet`.
   */
  static async fromPretrained(gpu: Gpu, dir: string | FileTreeLike, opts: UNetPretrainedOptions = {}): Promise<UNet2DConditionModel> {
    const { config, source, weights } = await readComponent(dir, opts.variant);
    try {
      return await UNet2DConditionModel.fromWeights(gpu, config, weights, { ...opts, source });
    } finally {
      await weights.close();
    }
  }

  /** Builds the model for a parsed `config.json` and any weight source (e.g. files picked in a browser) and loads it. */
  static async fromWeights(
    gpu: Gpu,
    raw: ConfigObject,
    weights: WeightReader,
    opts: LoadOptions & { source?: string } = {},
  ): Promise<UNet2DConditionModel> {
    return UNet2DConditionModel.fromConfig(raw, opts.source).load(gpu, weights, opts);
  }

  /** Strictly checks `weights` against the config (every key and shape), then uploads them in `opts.dtype`. */
  async load(gpu: Gpu, weights: WeightReader, opts: LoadOptions = {}): Promise<this> {
    // exact-size buffers: size-class rounding would add ~12% to the weights (issue 7's memory target)
    await gpu.pool.exactSizes(() => loadParams(gpu, this.params, weights, opts));
    this.loadedDtype = opts.dtype ?? 'f32';
    return this;
  }

  /** Frees the weights' GPU memory; the model cannot be used afterwards. */
  release(): void {
    releaseParams(this.params);
    this.loadedDtype = null;
  }

  /** Storage dtype of the weights and activations. */
  get dtype(): DType {
    if (!this.loadedDtype) throw new MedgpuError('BAD_ARGUMENT', 'UNet2DConditionModel: load the weights before using the model');
    return this.loadedDtype;
  }

  /** Number of parameters (elements of every checkpoint tensor the model reads). */
  get parameterCount(): number {
    return this.params.reduce((s, p) => s + p.keys.reduce((t, k) => t + k.shape.reduce((a, b) => a * b, 1), 0), 0);
  }

  /**
   * The noise (or v) prediction. `sample` [B, h, w, in_channels] channels-last, `timesteps` one for all or
   * one per sample, `encoderHiddenStates` [B, M, cross_attention_dim]. Returns [B, h, w, out_channels].
   */
  forward(gpu: Gpu, sample: Tensor, timesteps: Timesteps, encoderHiddenStates: Tensor, opts: UNetForwardOptions = {}): Tensor {
    this.checkInputs(sample, encoderHiddenStates);
    return gpu.scope(() => {
      const run = this.run(gpu, sample, timesteps, encoderHiddenStates, opts);
      for (;;) {
        const r = run.next();
        if (r.done) return r.value;
      }
    });
  }

  /**
   * `forward` that awaits `gpu.settle({ trim: false })` after conv_in and after every block. The first call
   * at a size grows the pool and evicts idle buffers at each new high-water mark, which Dawn would otherwise
   * keep until the call ends (~0.5 GiB above the pool in the first 512² SD1.5 step on lavapipe); later calls
   * reuse the pool's buffers, destroy nothing and do not wait. The same result as `forward`.
   */
  async forwardAsync(
    gpu: Gpu,
    sample: Tensor,
    timesteps: Timesteps,
    encoderHiddenStates: Tensor,
    opts: UNetForwardOptions = {},
  ): Promise<Tensor> {
    this.checkInputs(sample, encoderHiddenStates);
    return gpu.scopeAsync(async () => {
      const run = this.run(gpu, sample, timesteps, encoderHiddenStates, opts);
      for (;;) {
        const r = run.next();
        if (r.done) return r.value;
        await gpu.settle({ trim: false });
      }
    });
  }

  /** The forward pass, pausing (yield) after conv_in and every block; run inside a scope. */
  private *run(
    gpu: Gpu,
    sample: Tensor,
    timesteps: Timesteps,
    encoderHiddenStates: Tensor,
    opts: UNetForwardOptions,
  ): Generator<undefined, Tensor, undefined> {
    const cfg = this.config;
    const dtype = this.dtype;
    const b = sample.dim(0);
    let x = sample.dtype === dtype ? sample : cast(gpu, sample, dtype);
    const context = encoderHiddenStates.dtype === dtype ? encoderHiddenStates : cast(gpu, encoderHiddenStates, dtype);
    if (cfg.centerInputSample) x = unary(gpu, x, 'identity', 2, -1);
    const emb = this.timeEmbedding.forward(gpu, timestepsTensor(gpu, timesteps, b), dtype);
    // Every resnet applies SiLU to the same embedding before its own projection: do it once.
    const tembAct = silu(gpu, emb);
    let h = this.convIn.forward(gpu, x);
    const skips: Tensor[] = [h];
    yield;
    for (const block of this.downBlocks) {
      const r = block.forward(gpu, h, tembAct, context);
      skips.push(...r.skips);
      h = r.out;
      yield;
    }
    if (this.midBlock) {
      h = this.midBlock.forward(gpu, h, tembAct, context);
      yield;
    }
    for (const [i, block] of this.upBlocks.entries()) {
      // The upsampler must produce the size of the skip the next block starts with (diffusers'
      // upsample_size); it is 2× unless the latent is not a multiple of the total downsampling.
      const nextSkip = skips[skips.length - block.resnets.length - 1];
      const size = i < this.upBlocks.length - 1 && nextSkip ? ([nextSkip.dim(1), nextSkip.dim(2)] as const) : undefined;
      const next = block.forward(gpu, h, skips, tembAct, context, size);
      h.release();
      h = next;
      yield;
    }
    // h is this forward's own intermediate (nothing reads it again): normalise it in place
    let y = this.convOut.forward(gpu, this.convNormOut.forward(gpu, h, { silu: true, inPlace: true }));
    const outDtype = opts.outputDtype ?? sample.dtype;
    if (y.dtype !== outDtype) y = cast(gpu, y, outDtype);
    return y;
  }

  private checkInputs(sample: Tensor, ehs: Tensor): void {
    const cfg = this.config;
    if (sample.rank !== 4 || sample.dim(3) !== cfg.inChannels) {
      throw new ShapeError(
        `UNet2DConditionModel: sample must be channels-last [B, h, w, ${cfg.inChannels}], got ${shapeString(sample.shape)}`,
      );
    }
    if (ehs.rank !== 3 || ehs.dim(0) !== sample.dim(0)) {
      throw new ShapeError(
        `UNet2DConditionModel: encoder_hidden_states must be [${sample.dim(0)}, tokens, dim] for a batch of ${sample.dim(0)}, got ${shapeString(ehs.shape)}`,
      );
    }
    const used = cfg.crossAttentionDim.filter(
      (_, i) =>
        cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D' || cfg.upBlockTypes[cfg.blockOutChannels.length - 1 - i] === 'CrossAttnUpBlock2D',
    );
    if (cfg.midBlockType) used.push(cfg.crossAttentionDim.at(-1) as number);
    for (const d of used) {
      if (ehs.dim(2) !== d) {
        throw new ShapeError(
          `UNet2DConditionModel: encoder_hidden_states have width ${ehs.dim(2)} but ${cfg.source} has cross_attention_dim ${d}; use the text encoder that belongs to this UNet`,
        );
      }
    }
  }
}
