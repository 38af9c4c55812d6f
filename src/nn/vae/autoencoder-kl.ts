/**
 * diffusers `AutoencoderKL` (the Stable Diffusion VAE), built from its `config.json` with strict loading of
 * the upstream weight names, on channels-last tensors:
 *   encode: moments = quant_conv(Encoder(image)); mean, logvar = split(moments); logvar clamped to
 *           [-30, 20]; std = exp(logvar/2); sample = mean + std·noise (noise given by the caller)
 *   decode: image = Decoder(post_quant_conv(latents)), optionally tile by tile (tiled-decode.ts)
 * The pipelines scale latents by `scalingFactor` (encode: ×, decode: ÷) themselves, as diffusers does.
 */
import { cast } from '../../kernels/cast.js';
import { diagonalGaussian } from '../../kernels/diagonal-gaussian.js';
import type { DType } from '../../runtime/dtype.js';
import { CheckpointError, MedgpuError, ShapeError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import { type Tensor, shapeString } from '../../runtime/tensor.js';
import type { ConfigObject } from '../config.js';
import { Conv } from '../conv.js';
import { type LoadOptions, type Param, ParamScope, type WeightReader, loadParams, releaseParams } from '../params.js';
import { type FileTreeLike, readComponent } from '../pretrained.js';
import { Decoder, Encoder } from './coders.js';
import { type AutoencoderKLConfig, parseAutoencoderKLConfig } from './config.js';
import { type TileOptions, tiledDecode, tilePlan } from './tiled-decode.js';

export type AttentionNames = 'diffusers' | 'legacy';

export interface LatentDistribution {
  mean: Tensor;
  /** Clamped to [-30, 20]. */
  logvar: Tensor;
  std: Tensor;
  /** mean + std·noise, when noise was given. */
  sample?: Tensor;
}

export interface VaePretrainedOptions extends LoadOptions {
  variant?: string;
}

export interface DecodeOptions {
  /** Decode tile by tile (diffusers `enable_tiling`) when the latent is larger than one tile. */
  tiling?: boolean | TileOptions;
  /** dtype of the image (default: the latents'). */
  outputDtype?: DType;
}

const LEGACY_KEY = /\.attentions\.0\.(query|key|value|proj_attn)\.weight$/;

export class AutoencoderKL {
  readonly params: Param<unknown>[] = [];
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv | null;
  readonly postQuantConv: Conv | null;
  private loadedDtype: DType | null = null;

  constructor(
    readonly config: AutoencoderKLConfig,
    /** Which key names the mid-block attentions use in the weight file (see `attentionNamesOf`). */
    readonly attentionNames: AttentionNames = 'diffusers',
  ) {
    const root = new ParamScope(this.params);
    const L = config.latentChannels;
    this.encoder = new Encoder(root.child('encoder'), config, attentionNames);
    this.decoder = new Decoder(root.child('decoder'), config, attentionNames);
    this.quantConv = config.useQuantConv ? new Conv(root.child('quant_conv'), 2 * L, 2 * L, { dims: 2, kernel: 1 }) : null;
    this.postQuantConv = config.usePostQuantConv ? new Conv(root.child('post_quant_conv'), L, L, { dims: 2, kernel: 1 }) : null;
  }

  /** Whether a weight file uses the pre-0.14 attention names query/key/value/proj_attn. */
  static attentionNamesOf(weights: Pick<WeightReader, 'keys'>): AttentionNames {
    return weights.keys().some((k) => LEGACY_KEY.test(k)) ? 'legacy' : 'diffusers';
  }

  static fromConfig(raw: ConfigObject, source?: string, attentionNames: AttentionNames = 'diffusers'): AutoencoderKL {
    return new AutoencoderKL(parseAutoencoderKLConfig(raw, source), attentionNames);
  }

  /** Builds the model for a parsed config and a weight source (any layout, e.g. in a browser) and loads it. */
  static async fromWeights(
    gpu: Gpu,
    raw: ConfigObject,
    weights: WeightReader,
    opts: LoadOptions & { source?: string } = {},
  ): Promise<AutoencoderKL> {
    return AutoencoderKL.fromConfig(raw, opts.source, AutoencoderKL.attentionNamesOf(weights)).load(gpu, weights, opts);
  }

  /** Reads `config.json` and the weights of a component folder (a path in Node, or a `FileTree`). */
  static async fromPretrained(gpu: Gpu, dir: string | FileTreeLike, opts: VaePretrainedOptions = {}): Promise<AutoencoderKL> {
    const { config, source, weights } = await readComponent(dir, opts.variant);
    try {
      return await AutoencoderKL.fromWeights(gpu, config, weights, { ...opts, source });
    } finally {
      await weights.close();
    }
  }

  /** Strictly checks `weights` against the config, then uploads them in `opts.dtype`. */
  async load(gpu: Gpu, weights: WeightReader, opts: LoadOptions = {}): Promise<this> {
    const names = AutoencoderKL.attentionNamesOf(weights);
    if (this.config.midBlockAddAttention && names !== this.attentionNames) {
      throw new CheckpointError(
        'CHECKPOINT_KEYS',
        `${weights.path} names the VAE attention weights the ${names} way (${names === 'legacy' ? 'query/key/value/proj_attn' : 'to_q/to_k/to_v/to_out.0'}) but the model was built for ${this.attentionNames} names; build it with AutoencoderKL.fromWeights or fromPretrained, which detect this`,
      );
    }
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

  get dtype(): DType {
    if (!this.loadedDtype) throw new MedgpuError('BAD_ARGUMENT', 'AutoencoderKL: load the weights before using the model');
    return this.loadedDtype;
  }

  /** Image pixels per latent pixel (8 for SD). */
  get downscaleFactor(): number {
    return 2 ** (this.config.blockOutChannels.length - 1);
  }

  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  /**
   * The posterior of `image` [B, H, W, in_channels] (channels-last, values in [-1, 1], H and W multiples of
   * the downscale factor), and a sample when `noise` [B, H/f, W/f, latent_channels] is given. Outputs have
   * the image's dtype.
   */
  encode(gpu: Gpu, image: Tensor, opts: { noise?: Tensor } = {}): LatentDistribution {
    this.checkEncodeInputs(image, opts.noise);
    return gpu.scope(() => this.posterior(gpu, this.encoder.forward(gpu, this.castIn(gpu, image)), image.dtype, opts.noise));
  }

  /**
   * `encode` that awaits `gpu.settle()` between the encoder's stages (see `Encoder.forwardAsync`): the same
   * posterior, with process memory near the pool's peak at large sizes (image-to-image uses it).
   */
  async encodeAsync(gpu: Gpu, image: Tensor, opts: { noise?: Tensor } = {}): Promise<LatentDistribution> {
    this.checkEncodeInputs(image, opts.noise);
    return gpu.scopeAsync(async () => {
      const h = await this.encoder.forwardAsync(gpu, this.castIn(gpu, image));
      return this.posterior(gpu, h, image.dtype, opts.noise);
    });
  }

  private checkEncodeInputs(image: Tensor, noise: Tensor | undefined): void {
    const cfg = this.config;
    if (image.rank !== 4 || image.dim(3) !== cfg.inChannels) {
      throw new ShapeError(
        `AutoencoderKL.encode: image must be channels-last [B, H, W, ${cfg.inChannels}], got ${shapeString(image.shape)}`,
      );
    }
    // Each downsampler (pad (0, 1), 3×3, stride 2) halves a side, rounding down.
    const levels = cfg.blockOutChannels.length - 1;
    const latentShape = [image.dim(0), image.dim(1) >> levels, image.dim(2) >> levels, cfg.latentChannels];
    if (noise && shapeString(noise.shape) !== shapeString(latentShape)) {
      throw new ShapeError(`AutoencoderKL.encode: noise ${shapeString(noise.shape)} must be ${shapeString(latentShape)}`);
    }
  }

  /** quant_conv and the diagonal Gaussian of the encoder's output `h`, in dtype `out`. Run inside a scope. */
  private posterior(gpu: Gpu, h: Tensor, out: DType, noise: Tensor | undefined): LatentDistribution {
    const dtype = this.dtype;
    const moments = this.quantConv ? this.quantConv.forward(gpu, h) : h;
    const read = (what: 'mean' | 'logvar' | 'std') => {
      const t = diagonalGaussian(gpu, moments, what);
      return t.dtype === out ? t : cast(gpu, t, out);
    };
    const result: LatentDistribution = { mean: read('mean'), logvar: read('logvar'), std: read('std') };
    if (noise) {
      const n = noise.dtype === dtype ? noise : cast(gpu, noise, dtype);
      const s = diagonalGaussian(gpu, moments, 'sample', n);
      result.sample = s.dtype === out ? s : cast(gpu, s, out);
    }
    return result;
  }

  /** latents [B, h, w, latent_channels] → image [B, h·f, w·f, out_channels] (values around [-1, 1]). */
  decode(gpu: Gpu, latents: Tensor, opts: DecodeOptions = {}): Tensor {
    this.checkLatents(latents);
    const cfg = this.config;
    const outDtype = opts.outputDtype ?? latents.dtype;
    return gpu.scope(() => {
      const z = this.castIn(gpu, latents);
      const decodeTile = (t: Tensor) => this.decoder.forward(gpu, this.postQuant(gpu, t));
      const tiling = opts.tiling === true ? {} : opts.tiling || null;
      let image: Tensor;
      if (tiling) {
        const plan = tilePlan(tiling.tileSampleSize ?? cfg.sampleSize, this.downscaleFactor, tiling.overlapFactor ?? 0.25);
        const big = z.dim(1) > plan.tileLatent || z.dim(2) > plan.tileLatent;
        image = big ? tiledDecode(gpu, z, plan, decodeTile) : decodeTile(z);
      } else image = decodeTile(z);
      return image.dtype === outDtype ? image : cast(gpu, image, outDtype);
    });
  }

  /**
   * `decode` that awaits `gpu.settle()` between the decoder's stages (see `Decoder.forwardAsync`): the same
   * image, with process memory near the pool's peak at large sizes. Tiled decoding runs as `decode` (its
   * tiles are small).
   */
  async decodeAsync(gpu: Gpu, latents: Tensor, opts: DecodeOptions = {}): Promise<Tensor> {
    if (opts.tiling) return this.decode(gpu, latents, opts);
    this.checkLatents(latents);
    const outDtype = opts.outputDtype ?? latents.dtype;
    return gpu.scopeAsync(async () => {
      const image = await this.decoder.forwardAsync(gpu, this.postQuant(gpu, this.castIn(gpu, latents)));
      return image.dtype === outDtype ? image : cast(gpu, image, outDtype);
    });
  }

  private checkLatents(latents: Tensor): void {
    const c = this.config.latentChannels;
    if (latents.rank !== 4 || latents.dim(3) !== c) {
      throw new ShapeError(`AutoencoderKL.decode: latents must be channels-last [B, h, w, ${c}], got ${shapeString(latents.shape)}`);
    }
  }

  /** An input (image or latents) in the weights' dtype. */
  private castIn(gpu: Gpu, x: Tensor): Tensor {
    return x.dtype === this.dtype ? x : cast(gpu, x, this.dtype);
  }

  private postQuant(gpu: Gpu, z: Tensor): Tensor {
    return this.postQuantConv ? this.postQuantConv.forward(gpu, z) : z;
  }
}
