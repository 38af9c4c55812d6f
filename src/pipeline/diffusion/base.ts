/**
 * What text-to-image and image-to-image share: the loaded components, the scheduler choice, argument
 * checks, prompt encoding with classifier-free guidance, the denoising loop and the VAE decode to [0, 1]
 * images (diffusers' `vae.decode(latents / scaling_factor)` then `(x / 2 + 0.5).clamp(0, 1)`).
 */
import type { FileTree } from '../../io/file-tree.js';
import { div } from '../../kernels/elementwise.js';
import { concat } from '../../kernels/layout.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { GpuLatentOps } from '../schedulers/gpu-latent-ops.js';
import { schedulerFromConfig } from '../schedulers/factory.js';
import type { Scheduler } from '../schedulers/scheduler.js';
import { type DiffusionComponents, type PipelineLoadOptions, loadComponents } from './components.js';
import { denoise } from './denoise.js';
import { nhwcToNchw } from './layout.js';
import { type NoiseSource, randomSeed, seededNoise } from './noise.js';
import { type CommonOptions, type GeneratedImages, asList, bad, checkInt, checkNumber, negativeList, throwIfAborted } from './options.js';
import { encodePrompts } from './prompt.js';

/** The arguments every run resolves first. */
export interface ResolvedRun {
  prompts: string[];
  /** One per prompt, or null without guidance. */
  negativePrompts: string[] | null;
  numImagesPerPrompt: number;
  numInferenceSteps: number;
  /** null: guidance off (guidance_scale ≤ 1). */
  guidance: number | null;
  guidanceScale: number;
  seed: bigint | null;
  noise: NoiseSource;
  eta: number;
  scheduler: Scheduler<Tensor>;
}

export abstract class DiffusionPipelineBase {
  /** The scheduler runs use unless they name one: a class name or alias; default the stored config's class. */
  private schedulerName: string | undefined;

  constructor(
    readonly gpu: Gpu,
    readonly components: DiffusionComponents,
  ) {}

  protected static load(gpu: Gpu, dir: string | FileTree, opts: PipelineLoadOptions = {}): Promise<DiffusionComponents> {
    return loadComponents(gpu, dir, opts);
  }

  get tokenizer() {
    return this.components.tokenizer;
  }
  get textEncoder() {
    return this.components.textEncoder;
  }
  get unet() {
    return this.components.unet;
  }
  get vae() {
    return this.components.vae;
  }

  /** Image pixels per latent pixel: 2^(VAE levels − 1), 8 for Stable Diffusion. */
  get vaeScaleFactor(): number {
    return this.vae.downscaleFactor;
  }

  /** The scheduler class runs use by default. */
  get schedulerClass(): string {
    return this.makeScheduler().className;
  }

  /**
   * diffusers `pipe.scheduler = Cls.from_config(pipe.scheduler.config)`: later runs use this scheduler
   * (by class name or alias, e.g. "euler", "dpm++2m"), inheriting the stored config. Checked at once.
   */
  setScheduler(name: string | undefined): void {
    if (name !== undefined) this.makeScheduler(name);
    this.schedulerName = name;
  }

  /** Frees every model's GPU memory (shared with pipelines made by `fromPipeline`). */
  release(): void {
    this.textEncoder.release();
    this.unet.release();
    this.vae.release();
  }

  protected makeScheduler(name = this.schedulerName): Scheduler<Tensor> {
    return schedulerFromConfig(this.components.schedulerConfig, new GpuLatentOps(this.gpu), {
      scheduler: name,
      source: `${this.components.source}/scheduler/scheduler_config.json`,
    });
  }

  protected resolve(o: CommonOptions): ResolvedRun {
    const prompts = asList(o.prompt, 'prompt');
    const numImagesPerPrompt = checkInt(o.numImagesPerPrompt ?? 1, 'numImagesPerPrompt', 1, 64);
    const numInferenceSteps = checkInt(o.numInferenceSteps ?? 50, 'numInferenceSteps', 1, 1000);
    const guidanceScale = checkNumber(o.guidanceScale ?? 7.5, 'guidanceScale', -1e6, 1e6);
    // diffusers: do_classifier_free_guidance = guidance_scale > 1 (and no time_cond_proj_dim, which we reject).
    const guidance = guidanceScale > 1 ? guidanceScale : null;
    if (o.seed !== undefined && o.noise) throw bad('give either seed or noise, not both');
    const seed = o.noise ? null : BigInt(o.seed ?? randomSeed());
    const eta = checkNumber(o.eta ?? 0, 'eta', 0, 1);
    if (o.clipSkip !== undefined) checkInt(o.clipSkip, 'clipSkip', 0, this.textEncoder.numLayers - 1);
    return {
      prompts,
      negativePrompts: guidance !== null ? negativeList(o.negativePrompt, prompts.length) : null,
      numImagesPerPrompt,
      numInferenceSteps,
      guidance,
      guidanceScale,
      seed,
      noise: o.noise ?? seededNoise(seed as bigint),
      eta,
      scheduler: this.makeScheduler(o.scheduler ?? this.schedulerName),
    };
  }

  /** Prompt embeddings as the UNet gets them: [negative; positive] with guidance. Traced as diffusers names them. */
  protected async encode(r: ResolvedRun, o: CommonOptions): Promise<Tensor> {
    const enc = encodePrompts(this.gpu, this.tokenizer, this.textEncoder, {
      prompts: r.prompts,
      negativePrompts: r.negativePrompts,
      numImagesPerPrompt: r.numImagesPerPrompt,
      clipSkip: o.clipSkip,
    });
    if (o.trace) {
      await o.trace({ kind: 'prompt_embeds', tensor: enc.promptEmbeds });
      if (enc.negativePromptEmbeds) await o.trace({ kind: 'negative_prompt_embeds', tensor: enc.negativePromptEmbeds });
    }
    if (!enc.negativePromptEmbeds) return enc.promptEmbeds;
    return concat(this.gpu, [enc.negativePromptEmbeds, enc.promptEmbeds], 0);
  }

  protected denoise(
    r: ResolvedRun,
    o: CommonOptions,
    promptEmbeds: Tensor,
    latents: Tensor,
    timesteps: readonly number[],
  ): Promise<Tensor> {
    return denoise(
      {
        gpu: this.gpu,
        unet: this.unet,
        scheduler: r.scheduler,
        promptEmbeds,
        guidanceScale: r.guidance,
        noise: r.noise,
        eta: r.eta,
        callback: o.callback,
        signal: o.signal,
        trace: o.trace,
      },
      latents,
      timesteps,
    );
  }

  /** `vae.decode(latents / scaling_factor)` → `(x / 2 + 0.5).clamp(0, 1)`, one HWC image per batch item. */
  protected async decodeImages(latents: Tensor, o: CommonOptions): Promise<{ images: Float32Array[]; latents: Float32Array }> {
    throwIfAborted(o.signal, 'before the VAE decode');
    const gpu = this.gpu;
    const [b, h, w, c] = latents.shape as [number, number, number, number];
    // decodeAsync: Dawn frees the buffers each decoder stage evicts before the next one allocates
    const image = await gpu.scopeAsync(async () => {
      const sf = gpu.upload([this.vae.scalingFactor], [1], latents.dtype, 'scaling_factor');
      return this.vae.decodeAsync(gpu, div(gpu, latents, sf), { outputDtype: 'f32', tiling: o.vaeTiling ?? false });
    });
    try {
      const [, H, W, C] = image.shape as [number, number, number, number];
      const pixels = await gpu.read(image);
      const f = Math.fround;
      const per = H * W * C;
      const images = Array.from({ length: b }, (_, i) => {
        const out = new Float32Array(per);
        for (let k = 0; k < per; k++) out[k] = Math.min(1, Math.max(0, f(f((pixels[i * per + k] as number) / 2) + 0.5)));
        return out;
      });
      return { images, latents: nhwcToNchw(await gpu.read(latents), b, h, w, c) };
    } finally {
      image.release();
    }
  }

  protected result(
    r: ResolvedRun,
    decoded: { images: Float32Array[]; latents: Float32Array },
    size: { width: number; height: number },
    timesteps: readonly number[],
  ): GeneratedImages {
    return {
      images: decoded.images,
      width: size.width,
      height: size.height,
      seed: r.seed,
      scheduler: r.scheduler.className,
      timesteps: [...timesteps],
      latents: decoded.latents,
    };
  }
}
