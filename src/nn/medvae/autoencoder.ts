/**
 * MedVAE's `AutoencoderKL` (2D `medvae.models.autoencoder_kl`, 3D `autoencoder_kl_3d`): the LDM Encoder and
 * Decoder, the 1×1 `quant_conv` / `post_quant_conv`, the diagonal Gaussian posterior, and the stage-2 head
 * `channel_proj(channel_ds(z) + z)` with `channel_ds` = Conv1×1(E→64)-ReLU-Conv3×3(64→64)-ReLU-Conv1×1(64→E).
 *
 * Weight names are the module's own state-dict keys with no prefix (`encoder.*`, `decoder.*`,
 * `quant_conv.*`, `post_quant_conv.*`, `channel_ds.{0,2,4}.*`, `channel_proj.*`).
 */
import { type PosteriorOutput, diagonalGaussian } from '../../kernels/diagonal-gaussian.js';
import { unary } from '../../kernels/elementwise.js';
import type { DType } from '../../runtime/dtype.js';
import { ShapeError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import { type Tensor, shapeString } from '../../runtime/tensor.js';
import { type LoadOptions, type Param, ParamScope, type WeightReader, loadParams, releaseParams } from '../params.js';
import { type MedVAEConfig, downsamplingFactor } from './config.js';
import { MedConv, type ModelBuildContext } from './conv.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';

/** Channels of the `channel_ds` bottleneck (hard-coded in MedVAE). */
export const CHANNEL_DS_WIDTH = 64;

/**
 * Checkpoint keys that are never part of the autoencoder and that training checkpoints of LDM-style
 * autoencoders carry (the LPIPS / discriminator loss module). They are skipped; any other key the model does
 * not use is an error (see `MedVAEAutoencoder.load`).
 */
export const TRAINING_ONLY_PREFIXES: readonly string[] = ['loss.'];

export class MedVAEAutoencoder {
  readonly registry: Param<unknown>[] = [];
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: MedConv;
  readonly postQuantConv: MedConv;
  readonly channelDs: readonly [MedConv, MedConv, MedConv];
  readonly channelProj: MedConv;
  readonly dims: 2 | 3;
  readonly factor: number;
  readonly latentChannels: number;
  private dtypeLoaded: DType | null = null;

  constructor(
    readonly config: MedVAEConfig,
    readonly ctx: ModelBuildContext,
  ) {
    const root = new ParamScope(this.registry);
    const dd = config.ddconfig;
    const e = config.embedDim;
    this.dims = ctx.dims;
    this.factor = downsamplingFactor(config);
    this.latentChannels = e;
    this.encoder = new Encoder(root.child('encoder'), dd, ctx);
    this.decoder = new Decoder(root.child('decoder'), dd, ctx);
    this.quantConv = new MedConv(root.child('quant_conv'), 2 * dd.zChannels, 2 * e, { kernel: 1 }, ctx);
    this.postQuantConv = new MedConv(root.child('post_quant_conv'), e, dd.zChannels, { kernel: 1 }, ctx);
    const ds = root.child('channel_ds');
    this.channelDs = [
      new MedConv(ds.child(0), e, CHANNEL_DS_WIDTH, { kernel: 1 }, ctx),
      new MedConv(ds.child(2), CHANNEL_DS_WIDTH, CHANNEL_DS_WIDTH, { kernel: 3, padding: 1 }, ctx),
      new MedConv(ds.child(4), CHANNEL_DS_WIDTH, e, { kernel: 1 }, ctx),
    ];
    this.channelProj = new MedConv(root.child('channel_proj'), e, e, { kernel: 1 }, ctx);
  }

  /**
   * Strictly checks `src` against the model (every key present with its shape, LoRA and 2D-kernel layouts
   * as declared at build time, no key left over except `TRAINING_ONLY_PREFIXES`), then streams it in.
   */
  async load(gpu: Gpu, src: WeightReader, opts: LoadOptions = {}): Promise<void> {
    const extra = opts.ignoreUnexpected;
    await loadParams(gpu, this.registry, src, {
      ...opts,
      ignoreUnexpected: (k) => TRAINING_ONLY_PREFIXES.some((p) => k.startsWith(p)) || Boolean(extra?.(k)),
    });
    this.dtypeLoaded = opts.dtype ?? 'f32';
  }

  /** Frees the GPU weights; the model cannot run afterwards. */
  release(): void {
    releaseParams(this.registry);
  }

  /** Storage dtype of the loaded weights (inputs must match). */
  get dtype(): DType {
    return this.dtypeLoaded ?? 'f32';
  }

  private checkInput(x: Tensor, channels: number, what: string): void {
    const rank = this.dims + 2;
    if (x.rank !== rank || x.dim(-1) !== channels) {
      const layout = this.dims === 2 ? '[N, H, W, C]' : '[N, D, H, W, C]';
      throw new ShapeError(`MedVAE ${what}: input ${shapeString(x.shape)} must be channels-last ${layout} with C = ${channels}`);
    }
  }

  /** `quant_conv(encoder(x))`: the posterior parameters [N, (D/f,) H/f, W/f, 2E] (mean then logvar). */
  moments(gpu: Gpu, x: Tensor): Tensor {
    this.checkInput(x, this.config.ddconfig.inChannels, 'encode');
    return gpu.scope(() => {
      const h = this.encoder.forward(gpu, x);
      const m = this.quantConv.forward(gpu, h);
      h.release();
      return m;
    });
  }

  /** `moments` with `gpu.settle()` after each encoder block (see `Encoder.forwardAsync`): the same values. */
  async momentsAsync(gpu: Gpu, x: Tensor): Promise<Tensor> {
    this.checkInput(x, this.config.ddconfig.inChannels, 'encode');
    return gpu.scopeAsync(async () => {
      const h = await this.encoder.forwardAsync(gpu, x);
      const m = this.quantConv.forward(gpu, h);
      h.release();
      return m;
    });
  }

  /** A read-out of `DiagonalGaussianDistribution(moments)`; `sample` with `eps` is `mean + std·eps`. */
  posterior(gpu: Gpu, moments: Tensor, output: PosteriorOutput, eps?: Tensor): Tensor {
    return diagonalGaussian(gpu, moments, output, eps);
  }

  /** `decoder(post_quant_conv(z))`: z [N, (d,) h, w, E] → image [N, (d·f,) h·f, w·f, out_ch]. */
  decode(gpu: Gpu, z: Tensor): Tensor {
    this.checkInput(z, this.latentChannels, 'decode');
    return gpu.scope(() => {
      const h = this.postQuantConv.forward(gpu, z);
      const out = this.decoder.forward(gpu, h);
      h.release();
      return out;
    });
  }

  /** `decode` with `gpu.settle()` after each decoder block (see `Decoder.forwardAsync`): the same image. */
  async decodeAsync(gpu: Gpu, z: Tensor): Promise<Tensor> {
    this.checkInput(z, this.latentChannels, 'decode');
    return gpu.scopeAsync(async () => {
      const h = this.postQuantConv.forward(gpu, z);
      const out = await this.decoder.forwardAsync(gpu, h);
      h.release();
      return out;
    });
  }

  /** The 2D stage-2 latent `channel_proj(channel_ds(z) + z)`. */
  stage2(gpu: Gpu, z: Tensor): Tensor {
    this.checkInput(z, this.latentChannels, 'stage-2 projection');
    return gpu.scope(() => {
      const [c0, c2, c4] = this.channelDs;
      const a = unary(gpu, c0.forward(gpu, z), 'relu');
      const b = unary(gpu, c2.forward(gpu, a), 'relu');
      const sum = c4.forward(gpu, b, { residual: z });
      return this.channelProj.forward(gpu, sum);
    });
  }
}
