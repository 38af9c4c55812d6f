/**
 * MedVAE inference as `medvae.medvae_main.MVAE` does it, on host arrays in the reference's channels-first
 * layout ([C, H, W] / [C, D, H, W], already preprocessed to [-1, 1]):
 *
 * - 2D `forward`: z = mean + std·eps (eps = `torch.randn(mean.shape)` from a seeded torch-compatible
 *   generator, or the mean with `deterministic`), latent = `channel_proj(channel_ds(z) + z)` (stage 2);
 *   with `recon`, also `decode(z)`.
 * - 3D `forward`: MONAI sliding-window inference (window from `roi_size_calc(shape, 160)`, Gaussian blending)
 *   whose per-window predictor returns the sampled z (each window draws its own eps, in window order), so the
 *   latent is the blended stage-1 z; with `recon` the predictor also returns `decode(z)` and the
 *   reconstruction is the blend of the decoded windows (the reference's `forward(decode=True)`).
 * - `decode`: 2D `model.decode(z)`; 3D sliding-window decoding with the window of `roi_size_calc(latent·f)/f`.
 */
import type { WeightSource } from '../../io/weights.js';
import type { DType } from '../../runtime/dtype.js';
import { ConfigError, MedgpuError, ShapeError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { MedVAEAutoencoder } from '../../nn/medvae/autoencoder.js';
import {
  type MedVAEConfig,
  type MedVAEModelInfo,
  checkConfigForModel,
  medvaeConfigFrom,
  medvaeModelInfo,
  parseMedVAEConfigText,
} from '../../nn/medvae/config.js';
import { TorchGenerator } from '../rng.js';
import { toChannelsFirst, toChannelsLast } from './layout.js';
import { type HostGrid, roiSizeCalc, slidingWindowInference } from './sliding-window.js';

export type { HostGrid } from './sliding-window.js';

/** Where a config comes from: a yaml path (Node), yaml text, a parsed yaml object, or a parsed config. */
export type MedVAEConfigInput = string | { yaml: string; source?: string } | { object: unknown; source?: string } | MedVAEConfig;

export interface MedVAELoadOptions {
  /** One of the seven MedVAE model names (`medvae_4_1_2d` ...). */
  model: string;
  /** `.ckpt` (its `state_dict`), `.safetensors`, or an open weight source (closed by `dispose()` if opened here). */
  weights: string | WeightSource;
  /** The model's yaml. Default (Node, weights given as a path): `config.yaml` or the hub yaml name next to the weights. */
  config?: MedVAEConfigInput;
  /** Storage dtype of weights and activations (f16 needs the 'shader-f16' feature). Default f32. */
  dtype?: DType;
  /** Extra checkpoint keys to skip (the model otherwise rejects every key it does not use). */
  ignoreUnexpected?: (key: string) => boolean;
  onLoadProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface EncodeOptions {
  /** Use the posterior mean instead of a sample (no random draw). */
  deterministic?: boolean;
  /** `torch.manual_seed(seed)` before sampling. Default 0. Ignored when `generator` is given. */
  seed?: number | bigint;
  /** Draw eps from this generator (continuing its stream) instead of a freshly seeded one. */
  generator?: TorchGenerator;
  /** Also decode z (2D) / blend the decoded windows (3D). */
  recon?: boolean;
  /** The 3D window rule's limit (MVAE `gpu_dim`). Default 160. */
  gpuDim?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EncodeResult {
  /** What the reference returns: 2D the stage-2 latent, 3D the blended sampled z. [E, ...latent spatial]. */
  latent: HostGrid;
  /** The stage-1 z the latent came from (2D; for 3D it is `latent`): what `decode` takes. */
  z: HostGrid;
  /** The reconstruction [out_ch, ...spatial] in [-1, 1]-ish model space, when `recon` was asked for. */
  recon?: HostGrid;
}

export interface DecodeOptions {
  gpuDim?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export class MedVAE {
  private constructor(
    readonly gpu: Gpu,
    readonly info: MedVAEModelInfo,
    readonly config: MedVAEConfig,
    readonly model: MedVAEAutoencoder,
    private readonly ownedSource: WeightSource | null,
  ) {}

  /** Builds the model from its config and loads (strictly checked, LoRA merged, 2D kernels inflated) weights. */
  static async load(gpu: Gpu, opts: MedVAELoadOptions): Promise<MedVAE> {
    const info = medvaeModelInfo(opts.model);
    let src: WeightSource;
    let owned: WeightSource | null = null;
    if (typeof opts.weights === 'string') {
      const { openWeights } = await import('../../io/weights.js');
      src = await openWeights(opts.weights);
      owned = src;
    } else src = opts.weights;
    try {
      const config = await resolveConfig(opts.config, typeof opts.weights === 'string' ? opts.weights : null, info);
      checkConfigForModel(config, info);
      const model = new MedVAEAutoencoder(config, {
        dims: info.dims,
        fileShape: (k) => src.info(k)?.shape,
        loraDefault: info.lora,
      });
      await model.load(gpu, src, { dtype: opts.dtype, ignoreUnexpected: opts.ignoreUnexpected, onProgress: opts.onLoadProgress });
      return new MedVAE(gpu, info, config, model, owned);
    } catch (e) {
      await owned?.close();
      throw e;
    }
  }

  get dims(): 2 | 3 {
    return this.info.dims;
  }

  /** Downsampling per spatial axis. */
  get factor(): number {
    return this.model.factor;
  }

  get inChannels(): number {
    return this.config.ddconfig.inChannels;
  }

  get latentChannels(): number {
    return this.model.latentChannels;
  }

  /** Encodes one preprocessed image or volume [C, ...spatial] (see the module comment for the semantics). */
  async encode(input: HostGrid, opts: EncodeOptions = {}): Promise<EncodeResult> {
    this.checkGrid(input, this.inChannels, 'encode');
    const gen = opts.deterministic ? null : (opts.generator ?? new TorchGenerator(opts.seed ?? 0));
    if (this.dims === 2) {
      const [z, latent, recon] = await this.runWindow(input, gen, { stage2: true, recon: Boolean(opts.recon) });
      opts.onProgress?.(1, 1);
      return { latent: latent as HostGrid, z: z as HostGrid, recon };
    }
    const roi = roiSizeCalc(input.spatial, opts.gpuDim ?? 160);
    const outs = await slidingWindowInference(
      input,
      async (win) => {
        const [z, , recon] = await this.runWindow(win, gen, { stage2: false, recon: Boolean(opts.recon) });
        // The reference predictor returns (dec, z) with decode=True, else z: the output order decides how the
        // importance map is resized, so keep it.
        return recon ? [recon, z as HostGrid] : [z as HostGrid];
      },
      { roiSize: roi, onWindow: opts.onProgress, signal: opts.signal },
    );
    const z = (opts.recon ? outs[1] : outs[0]) as HostGrid;
    return { latent: z, z, recon: opts.recon ? outs[0] : undefined };
  }

  /** Decodes a stage-1 latent z [E, ...latent spatial] to an image/volume [out_ch, ...spatial]. */
  async decode(z: HostGrid, opts: DecodeOptions = {}): Promise<HostGrid> {
    this.checkGrid(z, this.latentChannels, 'decode');
    if (this.dims === 2) {
      const out = await this.decodeWindow(z);
      opts.onProgress?.(1, 1);
      return out;
    }
    const f = this.factor;
    const roi = roiSizeCalc(
      z.spatial.map((s) => s * f),
      opts.gpuDim ?? 160,
    ).map((r) => Math.floor(r / f));
    const [out] = await slidingWindowInference(z, async (win) => [await this.decodeWindow(win)], {
      roiSize: roi,
      onWindow: opts.onProgress,
      signal: opts.signal,
    });
    return out as HostGrid;
  }

  /** Wraps an already loaded autoencoder (e.g. one shared with other code) under a model name. */
  static fromModel(gpu: Gpu, model: string, autoencoder: MedVAEAutoencoder): MedVAE {
    const info = medvaeModelInfo(model);
    if (info.dims !== autoencoder.dims) {
      throw new ConfigError('BAD_CONFIG', `${model} is a ${info.dims}D model but the autoencoder was built ${autoencoder.dims}D`);
    }
    return new MedVAE(gpu, info, autoencoder.config, autoencoder, null);
  }

  /** Releases the weights (and closes the weight file if `load` opened it). */
  async dispose(): Promise<void> {
    this.model.release();
    await this.ownedSource?.close();
  }

  private checkGrid(g: HostGrid, channels: number, what: string): void {
    const n = g.spatial.reduce((a, b) => a * b, 1);
    if (g.spatial.length !== this.dims || g.channels !== channels || g.data.length !== n * channels || n === 0) {
      throw new ShapeError(
        `${this.info.name} ${what}: input [${g.channels}, ${g.spatial.join(', ')}] (${g.data.length} values) must be channels-first [${channels}, ${this.dims === 2 ? 'H, W' : 'D, H, W'}]`,
      );
    }
  }

  private upload(g: HostGrid, label: string): Tensor {
    return this.gpu.upload(toChannelsLast(g.data, g.channels), [1, ...g.spatial, g.channels], this.model.dtype, label);
  }

  private async readGrid(t: Tensor): Promise<HostGrid> {
    const channels = t.dim(-1);
    const data = await this.gpu.read(t);
    return { channels, spatial: t.shape.slice(1, -1), data: toChannelsFirst(new Float32Array(data), channels) };
  }

  /**
   * One forward pass: encode, z (eps from `gen` in the reference's NCHW order, or the mean), and optionally the
   * stage-2 latent and the decoded z. Returns [z, latent?, recon?] on the host; only this window's tensors
   * live on the GPU, all released before returning.
   */
  private async runWindow(
    x: HostGrid,
    gen: TorchGenerator | null,
    want: { stage2: boolean; recon: boolean },
  ): Promise<[HostGrid, HostGrid?, HostGrid?]> {
    const gpu = this.gpu;
    return gpu.scopeAsync(async () => {
      const xt = this.upload(x, 'medvae input');
      // The async forms settle after each block: Dawn frees what a block evicted before the next allocates.
      const moments = await this.model.momentsAsync(gpu, xt);
      xt.release();
      const latentSpatial = moments.shape.slice(1, -1);
      let eps: Tensor | undefined;
      if (gen) {
        const e = this.latentChannels;
        const n = latentSpatial.reduce((a, b) => a * b, 1);
        eps = this.upload({ channels: e, spatial: latentSpatial, data: gen.randn(e * n) }, 'medvae eps');
      }
      const z = this.model.posterior(gpu, moments, 'sample', eps);
      moments.release();
      eps?.release();
      const latent = want.stage2 ? this.model.stage2(gpu, z) : undefined;
      const recon = want.recon ? await this.model.decodeAsync(gpu, z) : undefined;
      return [await this.readGrid(z), latent && (await this.readGrid(latent)), recon && (await this.readGrid(recon))];
    });
  }

  private async decodeWindow(z: HostGrid): Promise<HostGrid> {
    const gpu = this.gpu;
    return gpu.scopeAsync(async () => {
      const zt = this.upload(z, 'medvae latent');
      return this.readGrid(await this.model.decodeAsync(gpu, zt));
    });
  }
}

/** The model's config from the option, or (Node) from a yaml next to the weight file. */
async function resolveConfig(
  input: MedVAEConfigInput | undefined,
  weightsPath: string | null,
  info: MedVAEModelInfo,
): Promise<MedVAEConfig> {
  if (input !== undefined && typeof input !== 'string') {
    if ('ddconfig' in input) return input;
    if ('yaml' in input) return parseMedVAEConfigText(input.yaml, input.source ?? '<yaml>');
    return medvaeConfigFrom(input.object, input.source ?? '<config object>');
  }
  const fs = await import('../../io/node-fs.js');
  if (typeof input === 'string') return parseMedVAEConfigText(await fs.readTextFile(input), input);
  if (!weightsPath) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${info.name}: no config given; pass the model's yaml (${info.hubConfig} from stanfordmimi/MedVAE)`,
    );
  }
  const { dirname, join, basename } = fs;
  const dir = (await fs.pathKind(weightsPath)) === 'dir' ? weightsPath : dirname(weightsPath);
  const candidates = [join(dir, 'config.yaml'), join(dir, basename(info.hubConfig))];
  for (const c of candidates) {
    if ((await fs.pathKind(c)) === 'file') return parseMedVAEConfigText(await fs.readTextFile(c), c);
  }
  throw new MedgpuError(
    'BAD_CONFIG',
    `${info.name}: no config found next to ${weightsPath} (looked for ${candidates.join(', ')}); pass --config with the model's yaml (${info.hubConfig} from stanfordmimi/MedVAE)`,
  );
}
