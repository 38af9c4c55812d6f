/**
 * diffusers `StableDiffusionPipeline` (0.30.3) text-to-image:
 *   prompt_embeds = encode_prompt(...)                       # [negative; positive] with guidance
 *   scheduler.set_timesteps(num_inference_steps)
 *   latents = randn_tensor([B·n, C, H/8, W/8], generator) · init_noise_sigma   (or the given latents)
 *   latents = denoising loop (denoise.ts)
 *   image = (vae.decode(latents / scaling_factor) / 2 + 0.5).clamp(0, 1)
 */
import type { FileTree } from '../../io/file-tree.js';
import type { Gpu } from '../../runtime/gpu.js';
import { DiffusionPipelineBase } from './base.js';
import type { PipelineLoadOptions } from './components.js';
import { nchwToNhwc } from './layout.js';
import { type GeneratedImages, type TextToImageOptions, bad, checkSize, throwIfAborted } from './options.js';

export class StableDiffusionPipeline extends DiffusionPipelineBase {
  /** `StableDiffusionPipeline.from_pretrained(dir)`: a diffusers pipeline folder (path, or a `FileTree`). */
  static async fromPretrained(gpu: Gpu, dir: string | FileTree, opts: PipelineLoadOptions = {}): Promise<StableDiffusionPipeline> {
    return new StableDiffusionPipeline(gpu, await DiffusionPipelineBase.load(gpu, dir, opts));
  }

  /** A text-to-image pipeline on the models of another pipeline (nothing is loaded twice). */
  static fromPipeline(p: DiffusionPipelineBase): StableDiffusionPipeline {
    return new StableDiffusionPipeline(p.gpu, p.components);
  }

  /** Default image size: the UNet's `sample_size` × the VAE scale factor (512 for SD1.5, 768 for SD2 768-v). */
  get defaultSize(): number {
    return this.components.unetSampleSize * this.vaeScaleFactor;
  }

  /** Generates images: `pipe(prompt, negative_prompt=..., num_inference_steps=..., guidance_scale=..., ...)`. */
  async generate(o: TextToImageOptions): Promise<GeneratedImages> {
    const gpu = this.gpu;
    const width = o.width ?? this.defaultSize;
    const height = o.height ?? this.defaultSize;
    checkSize(width, height);
    const r = this.resolve(o);
    throwIfAborted(o.signal, 'before it started');
    const f = this.vaeScaleFactor;
    const c = this.unet.config.inChannels;
    const [h, w] = [height / f, width / f];
    const batch = r.prompts.length * r.numImagesPerPrompt;
    if (o.latents && o.latents.length !== batch * c * h * w) {
      throw bad(
        `latents have ${o.latents.length} values; expected [${batch}, ${c}, ${h}, ${w}] (NCHW) for ${batch} images of ${width}x${height}`,
      );
    }
    return gpu.scopeAsync(async () => {
      const embeds = await this.encode(r, o);
      r.scheduler.setTimesteps(r.numInferenceSteps);
      const timesteps = r.scheduler.timesteps;
      if (o.trace) await o.trace({ kind: 'timesteps', timesteps });
      // prepare_latents: drawn NCHW from the generator (seed parity), scaled in float32 as torch does.
      const drawn = o.latents ?? r.noise.randn([batch, c, h, w]);
      const sigma = Math.fround(r.scheduler.initNoiseSigma);
      const scaled = sigma === 1 ? drawn : drawn.map((v) => Math.fround(v * sigma));
      const latents = gpu.upload(nchwToNhwc(scaled, batch, c, h, w), [batch, h, w, c], 'f32', 'latents');
      const final = await this.denoise(r, o, embeds, latents, timesteps);
      return this.result(r, await this.decodeImages(final, o), { width, height }, timesteps);
    });
  }
}
