/**
 * `medgpu generate --prompts FILE`: a resumable batch. The folder is opened first (settings checked, leftovers
 * of a killed run cleaned, finished images verified), the pipeline is loaded once only if images remain, and
 * the images are made one by one, each written atomically and recorded in DIR/manifest.jsonl. Ctrl-C finishes
 * the current image and stops; SIGTERM stops at the next denoising step and drops that image (exit 143);
 * re-running the same command resumes.
 */
import cliProgress from 'cli-progress';
import {
  type BatchProgress,
  type DType,
  type Gpu,
  MedgpuError,
  StableDiffusionPipeline,
  createGpu,
  pipelineRenderer,
  prepareBatch,
  runBatch,
} from '../index.js';

export interface BatchCliOptions {
  model: string;
  prompts: string;
  numImagesPerPrompt?: number;
  negativePrompt?: string;
  steps?: number;
  guidance: number;
  scheduler?: string;
  seed?: bigint;
  width?: number;
  height?: number;
  dtype: DType;
  variant?: string;
  clipSkip?: number;
  tiledDecode: boolean;
  out: string;
  overwrite?: boolean;
  json?: boolean;
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** Images done/total with images/s and ETA: a bar on a terminal, one line per image otherwise. */
class ImageBar {
  private bar: cliProgress.SingleBar | null = null;
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly t0 = performance.now();

  constructor(done: number, total: number) {
    if (!this.tty) return;
    this.bar = new cliProgress.SingleBar(
      { stream: process.stderr, hideCursor: true, format: ' images {bar} {value}/{total} | {rate} img/s | ETA {remaining}' },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, done, { rate: '-', remaining: '?' });
  }

  update(p: BatchProgress): void {
    // The rate of this run (earlier runs' images were not made now), so the ETA holds after a resume.
    const rate = p.generated / ((performance.now() - this.t0) / 1000);
    const eta = seconds((p.total - p.done) / rate);
    if (this.bar) {
      this.bar.update(p.done, { rate: rate.toFixed(2), remaining: eta });
      return;
    }
    console.error(
      `[${p.done}/${p.total}] ${p.job.file} seed ${p.job.seed} in ${(p.elapsedMs / 1000).toFixed(2)} s | ${rate.toFixed(2)} img/s | ETA ${eta}`,
    );
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** Runs a batch; `env.gpu` reuses a device (left open), otherwise one is created and destroyed. */
export async function runGenerateBatch(o: BatchCliOptions, env: { gpu?: Gpu } = {}): Promise<void> {
  const log = o.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
  const batch = await prepareBatch({
    dir: o.out,
    promptsFile: o.prompts,
    model: o.model,
    dtype: o.dtype === 'f16' ? 'f16' : 'f32',
    variant: o.variant,
    steps: o.steps,
    guidance: o.guidance,
    scheduler: o.scheduler,
    width: o.width,
    height: o.height,
    negativePrompt: o.negativePrompt,
    baseSeed: o.seed,
    numImagesPerPrompt: o.numImagesPerPrompt,
    clipSkip: o.clipSkip,
    tiledDecode: o.tiledDecode,
    overwrite: o.overwrite,
  });
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      log('\ninterrupted again: stopping now (the image in progress is discarded; re-run to resume)');
      process.exit(130);
    }
    log('\ninterrupted: finishing the current image, then stopping (Ctrl-C again to stop at once)');
    ac.abort();
  };
  // SIGTERM (a job scheduler, `timeout`, `docker stop`) has a grace period that one image may outlast: stop at
  // the next denoising step, drop that image (a resume makes it again), release the lock and exit 143.
  const cancelImage = new AbortController();
  let terminated = false;
  const onSigterm = () => {
    if (terminated) return;
    terminated = true;
    log('\nterminated: stopping at the next step (the image in progress is discarded; re-run to resume)');
    cancelImage.abort();
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  let gpu: Gpu | null = null;
  let pipe: StableDiffusionPipeline | null = null;
  const bar = { current: null as ImageBar | null };
  try {
    const s = batch.record.settings;
    for (const n of batch.notes) log(n);
    const total = batch.jobs.length;
    const done = total - batch.pending.length;
    log(
      `${batch.resumed ? 'resuming' : 'starting'} batch ${batch.record.id} in ${o.out}: ${total} images of ${batch.prompts.length} prompts, ${done} done, base seed ${s.baseSeed}`,
    );
    const t0 = Date.now();
    let generated = 0;
    let stopped = false;
    if (batch.pending.length > 0) {
      gpu = env.gpu ?? (await createGpu());
      pipe = await StableDiffusionPipeline.fromPretrained(gpu, s.model, {
        dtype: s.dtype,
        variant: s.variant ?? undefined,
        signal: ac.signal,
      });
      log(`loaded ${s.model} (${s.dtype}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; scheduler ${s.scheduler ?? pipe.schedulerClass}`);
      bar.current = new ImageBar(done, total);
      const result = await runBatch(batch, pipelineRenderer(pipe, s, { signal: cancelImage.signal }), {
        signal: ac.signal,
        onImage: (p) => bar.current?.update(p),
      });
      bar.current.stop();
      generated = result.generated;
      stopped = result.stopped;
    }
    const genS = (Date.now() - t0) / 1000;
    const finished = done + generated;
    if (stopped) {
      log(`stopped after ${generated} new images (${finished}/${total} done); run the same command again to resume`);
      process.exitCode = terminated ? 143 : 130;
    } else if (generated === 0) {
      log(`all ${total} images are already in ${o.out} (verified against the manifest); nothing to do`);
    } else {
      log(
        `done: ${generated} new images in ${genS.toFixed(1)} s (${(generated / genS).toFixed(2)} img/s incl. loading); ${total} in ${o.out}`,
      );
    }
    if (o.json) {
      console.log(
        JSON.stringify(
          { out: o.out, batchId: batch.record.id, baseSeed: s.baseSeed, total, done: finished, generated, stopped, seconds: genS },
          null,
          2,
        ),
      );
    }
  } finally {
    bar.current?.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    pipe?.release();
    if (gpu && !env.gpu) gpu.destroy();
    await batch.release();
  }
}

/** Options of a single-prompt run that a batch does not take. */
export function rejectBatchConflicts(o: { initImage?: string; numImages?: string; prompt?: string }): void {
  if (o.prompt !== undefined) throw new MedgpuError('BAD_ARGUMENT', 'give either --prompt or --prompts (a prompt file), not both');
  if (o.initImage) throw new MedgpuError('BAD_ARGUMENT', '--init-image cannot be used with --prompts: batches are text-to-image');
  if (o.numImages !== undefined) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      'with --prompts use --num-images-per-prompt (or "num_images" on a prompt line), not --num-images',
    );
  }
}
