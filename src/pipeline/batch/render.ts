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
  /** `signal` cancels the image in progress at its next step (the batch run then stops without it). */
  o: { callback?: (p: StepProgress) => void; signal?: AbortSignal } = {},
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
      signal: o.signal,
    });
    return { image: r.images[0] as Float32Array, width: r.width, height: r.height, scheduler: r.scheduler };
  };
}
