/**
 * diffusers `StableDiffusionImg2ImgPipeline` (0.30.3):
 *   image = 2·image − 1                                       # [0, 1] → [-1, 1]
 *   scheduler.set_timesteps(steps); t_start = steps − int(steps·strength); timesteps = timesteps[t_start:]
 *   init = scaling_factor · vae.encode(image).latent_dist.sample(generator)     # draw 1: posterior noise
 *   init = cat([init] · (B·n / image batch))
 *   latents = scheduler.add_noise(init, randn_tensor(init.shape, generator), timesteps[0])   # draw 2
 *   latents = denoising loop over the remaining timesteps; decode as text-to-image
 */
import { scale } from '../../kernels/elementwise.js';
import { concat } from '../../kernels/layout.js';
import type { FileTree } from '../../io/file-tree.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { img2imgTimesteps } from '../schedulers/img2img.js';
import { DiffusionPipelineBase, type ResolvedRun } from './base.js';
import type { PipelineLoadOptions } from './components.js';
import { nchwToNhwc } from './layout.js';
import { type GeneratedImages, type ImageInput, type ImageToImageOptions, bad, checkNumber, checkSize, throwIfAborted } from './options.js';

export class StableDiffusionImg2ImgPipeline extends DiffusionPipelineBase {
  static async fromPretrained(gpu: Gpu, dir: string | FileTree, opts: PipelineLoadOptions = {}): Promise<StableDiffusionImg2ImgPipeline> {
    return new StableDiffusionImg2ImgPipeline(gpu, await DiffusionPipelineBase.load(gpu, dir, opts));
  }

  /** `StableDiffusionImg2ImgPipeline(**pipe.components)`: the same loaded models. */
  static fromPipeline(p: DiffusionPipelineBase): StableDiffusionImg2ImgPipeline {
    return new StableDiffusionImg2ImgPipeline(p.gpu, p.components);
  }

  async generate(o: ImageToImageOptions): Promise<GeneratedImages> {
    const gpu = this.gpu;
    const img = o.image;
    if (img?.channels !== 3 || img.data.length !== img.batch * 3 * img.height * img.width) {
      throw bad('image must be RGB in [0, 1], NCHW [batch, 3, H, W] (see imageInput() for decoded files)');
    }
    checkSize(img.width, img.height);
    const strength = checkNumber(o.strength ?? 0.8, 'strength', 0, 1);
    const r = this.resolve(o);
    const batch = r.prompts.length * r.numImagesPerPrompt;
    if (batch % img.batch !== 0) {
      throw bad(`cannot duplicate ${img.batch} images for ${batch} prompts × images per prompt; give 1 image or ${batch}`);
    }
    throwIfAborted(o.signal, 'before it started');
    const f = this.vaeScaleFactor;
    const c = this.vae.config.latentChannels;
    const [h, w] = [img.height / f, img.width / f];
    return gpu.scopeAsync(async () => {
      const embeds = await this.encode(r, o);
      r.scheduler.setTimesteps(r.numInferenceSteps);
      if (o.trace) await o.trace({ kind: 'timesteps', timesteps: r.scheduler.timesteps });
      const schedule = img2imgTimesteps(r.scheduler, r.numInferenceSteps, strength);
      if (schedule.numSteps < 1) {
        throw bad(
          `strength ${strength} with ${r.numInferenceSteps} steps runs no denoising step (int(steps·strength) = 0); raise strength or numInferenceSteps`,
        );
      }
      const latents = await gpu.scopeAsync(() => this.initLatents(r, img, batch, [h, w, c], schedule.timesteps[0] as number));
      if (o.trace) await o.trace({ kind: 'init_latents', tensor: latents });
      const final = await this.denoise(r, o, embeds, latents, schedule.timesteps);
      return this.result(r, await this.decodeImages(final, o), { width: img.width, height: img.height }, schedule.timesteps);
    });
  }

  /** prepare_latents: the VAE posterior sample of the image, scaled, repeated to the batch, noised to `t`. */
  private async initLatents(
    r: ResolvedRun,
    img: ImageInput,
    batch: number,
    [h, w, c]: [number, number, number],
    t: number,
  ): Promise<Tensor> {
    const gpu = this.gpu;
    const nb = img.batch;
    const upload = (nchw: Float32Array, n: number, label: string) => gpu.upload(nchwToNhwc(nchw, n, c, h, w), [n, h, w, c], 'f32', label);
    const pixels = nchwToNhwc(img.data, nb, 3, img.height, img.width).map((v) => Math.fround(Math.fround(2 * v) - 1));
    const image = gpu.upload(pixels, [nb, img.height, img.width, 3], 'f32', 'init image');
    const posteriorNoise = upload(r.noise.randn([nb, c, h, w]), nb, 'posterior noise');
    // encodeAsync: Dawn frees the buffers each encoder stage evicts before the next one allocates
    const sample = (await this.vae.encodeAsync(gpu, image, { noise: posteriorNoise })).sample as Tensor;
    let init = scale(gpu, sample, this.vae.scalingFactor);
    if (batch > nb) init = concat(gpu, Array<Tensor>(batch / nb).fill(init), 0);
    const noise = upload(r.noise.randn([batch, c, h, w]), batch, 'add_noise noise');
    return r.scheduler.addNoise(init, noise, t);
  }
}
