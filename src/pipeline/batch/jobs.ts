/**
 * A batch as a list of jobs, one per image, in a fixed order (prompt by prompt, image by image). Each job's
 * seed and file name depend only on the command (prompt file, base seed, counts), so a re-run maps every image
 * to the same file and can tell which are done.
 */
import { MedgpuError } from '../../runtime/errors.js';
import { promptSlug } from '../diffusion/files.js';
import type { PromptEntry } from './prompt-file.js';
import { deriveSeed, promptOwnSeed } from './seeds.js';

/** One image to make. */
export interface BatchJob {
  promptIndex: number;
  imageIndex: number;
  prompt: string;
  negativePrompt: string;
  guidance: number;
  seed: bigint;
  /** File name inside the output folder: `<prompt index>-<image index>-<prompt slug>-<seed>.png`. */
  file: string;
}

export interface JobDefaults {
  baseSeed: bigint;
  numImagesPerPrompt: number;
  negativePrompt: string;
  guidance: number;
}

/** A batch larger than this is refused (it would be a typo, and its job list alone would fill memory). */
export const MAX_BATCH_IMAGES = 10_000_000;

/** The jobs of a batch, in generation order. */
export function planJobs(prompts: readonly PromptEntry[], d: JobDefaults): BatchJob[] {
  const total = prompts.reduce((n, p) => n + (p.numImages ?? d.numImagesPerPrompt), 0);
  if (total > MAX_BATCH_IMAGES) {
    throw new MedgpuError('BAD_ARGUMENT', `the batch has ${total} images, more than ${MAX_BATCH_IMAGES}; split the prompt file`);
  }
  // Index widths grow with the batch (never below 5 and 3 digits) so names sort in generation order.
  const promptWidth = Math.max(5, String(prompts.length - 1).length);
  const imageWidth = Math.max(3, String(prompts.reduce((m, p) => Math.max(m, p.numImages ?? 0), d.numImagesPerPrompt) - 1).length);
  const jobs: BatchJob[] = [];
  for (const [p, entry] of prompts.entries()) {
    const count = entry.numImages ?? d.numImagesPerPrompt;
    for (let j = 0; j < count; j++) {
      const seed = entry.seed === undefined ? deriveSeed(d.baseSeed, p, j) : promptOwnSeed(entry.seed, j);
      jobs.push({
        promptIndex: p,
        imageIndex: j,
        prompt: entry.prompt,
        negativePrompt: entry.negativePrompt ?? d.negativePrompt,
        guidance: entry.guidance ?? d.guidance,
        seed,
        file: `${String(p).padStart(promptWidth, '0')}-${String(j).padStart(imageWidth, '0')}-${promptSlug(entry.prompt, 40)}-${seed}.png`,
      });
    }
  }
  return jobs;
}
