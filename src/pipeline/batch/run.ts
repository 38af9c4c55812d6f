/**
 * The generation loop of a prepared batch: one image at a time, each written atomically and then recorded in
 * the manifest, so a kill at any moment loses at most the image in progress. Aborting the signal stops
 * between images (the current one is finished and recorded first); a renderer that is cancelled mid-image
 * (it throws while the signal is aborted) stops the run without that image, which a resume makes again.
 */
import { encodePng } from '../../io/png.js';
import { metadataText, toRgb8 } from '../diffusion/image.js';
import { MANIFEST_FILE } from './folder.js';
import type { BatchJob } from './jobs.js';
import { formatManifestLine } from './manifest.js';
import { type PreparedBatch, manifestEntry } from './prepare.js';
import { type BatchRecord, sha256Hex } from './settings.js';

/** One generated image: HWC RGB in [0, 1], and the scheduler class that made it. */
export interface BatchImage {
  image: Float32Array;
  width: number;
  height: number;
  scheduler: string;
}

/** Makes the image of a job (pipelineRenderer wraps a StableDiffusionPipeline). */
export type BatchRenderer = (job: BatchJob) => Promise<BatchImage>;

export interface BatchProgress {
  job: BatchJob;
  /** The file written. */
  path: string;
  elapsedMs: number;
  /** Images of the batch finished so far (including earlier runs), and in all. */
  done: number;
  total: number;
  /** Images made by this run so far. */
  generated: number;
}

export interface BatchRunOptions {
  /** Stops the batch between images. */
  signal?: AbortSignal;
  onImage?: (p: BatchProgress) => void;
}

export interface BatchRunResult {
  generated: number;
  done: number;
  total: number;
  /** True when the signal stopped the run before every image was made. */
  stopped: boolean;
}

/** The PNG of a job: 8-bit RGB with the generation parameters, the batch id and the indices as tEXt. */
export function batchPng(img: BatchImage, job: BatchJob, record: BatchRecord): Uint8Array {
  const s = record.settings;
  const text = {
    ...metadataText({
      prompt: job.prompt,
      negativePrompt: job.negativePrompt,
      seed: job.seed,
      steps: s.steps,
      guidance: job.guidance,
      scheduler: img.scheduler,
      model: s.model,
      width: img.width,
      height: img.height,
      index: job.imageIndex,
    }),
    prompt_index: String(job.promptIndex),
    batch_id: record.id,
  };
  return encodePng(toRgb8(img.image, img.width, img.height), { text });
}

/** Makes every pending image of `batch` (see the module comment). */
export async function runBatch(batch: PreparedBatch, render: BatchRenderer, o: BatchRunOptions = {}): Promise<BatchRunResult> {
  const { writeFileAtomic, appendDurable } = await import('./node-batch-fs.js');
  const path = (name: string) => `${batch.dir.replace(/\/+$/, '')}/${name}`;
  const total = batch.jobs.length;
  let done = total - batch.pending.length;
  let generated = 0;
  for (const job of batch.pending) {
    if (o.signal?.aborted) return { generated, done, total, stopped: true };
    const t0 = performance.now();
    let img: BatchImage;
    try {
      img = await render(job);
    } catch (e) {
      if (o.signal?.aborted) return { generated, done, total, stopped: true };
      throw e;
    }
    const png = batchPng(img, job, batch.record);
    const sha256 = await sha256Hex(png);
    await writeFileAtomic(path(job.file), png);
    const elapsedMs = Math.round(performance.now() - t0);
    const entry = manifestEntry(job, batch.record, { sha256, scheduler: img.scheduler, width: img.width, height: img.height, elapsedMs });
    await appendDurable(path(MANIFEST_FILE), formatManifestLine(entry));
    done++;
    generated++;
    o.onImage?.({ job, path: path(job.file), elapsedMs, done, total, generated });
  }
  return { generated, done, total, stopped: false };
}
