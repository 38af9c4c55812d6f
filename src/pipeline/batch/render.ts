/** A `BatchRenderer` on a loaded text-to-image pipeline: one image per call, seeded with the job's seed. */
import type { StepProgress } from '../diffusion/options.js';
import type { StableDiffusionPipeline } from '../diffusion/text-to-image.js';
import type { BatchRenderer } from './run.js';
import type { BatchSettings } from './settings.js';

/**
 * Each image is its own generation with `seed: job.seed` and one image, so it equals
 * `medgpu generate -p <prompt> --seed <seed>` with the same settings (and diffusers with that generator seed).
 */
export function pipelineRenderer(
  pipe: StableDiffusionPipeline,
  s: BatchSettings,
  o: { callback?: (p: StepProgress) => void } = {},
): BatchRenderer {
  return async (job) => {
    const r = await pipe.generate({
      prompt: job.prompt,
      negativePrompt: job.negativePrompt,
      numInferenceSteps: s.steps,
      guidanceScale: job.guidance,
      scheduler: s.scheduler ?? undefined,
      seed: job.seed,
      numImagesPerPrompt: 1,
      width: s.width ?? undefined,
      height: s.height ?? undefined,
      clipSkip: s.clipSkip ?? undefined,
      vaeTiling: s.tiledDecode,
      callback: o.callback,
    });
    return { image: r.images[0] as Float32Array, width: r.width, height: r.height, scheduler: r.scheduler };
  };
}
