/**
 * `medgpu generate`: Stable Diffusion / RoentGen text-to-image (and image-to-image with --init-image) from a
 * diffusers pipeline folder, with a per-step progress bar and PNGs that carry their generation parameters.
 * Without --model it runs the small bundled random-weight pipeline, whose output is noise: a check that
 * the whole engine runs on this machine, not a model.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { rejectBatchConflicts, runGenerateBatch } from './generate-batch.js';
import {
  type DType,
  type GeneratedImages,
  type Gpu,
  MedgpuError,
  StableDiffusionImg2ImgPipeline,
  StableDiffusionPipeline,
  type StepProgress,
  assertCanWrite,
  createGpu,
  imageFileNames,
  randomSeed,
  readImageInput,
  saveImages,
} from '../index.js';

export interface GenerateCliOptions {
  model?: string;
  prompt?: string;
  /** A .txt/.jsonl prompt file: a resumable batch (generate-batch.ts). */
  prompts?: string;
  numImagesPerPrompt?: string;
  negativePrompt?: string;
  steps?: string;
  guidance: string;
  scheduler?: string;
  seed?: string;
  width?: string;
  height?: string;
  numImages?: string;
  initImage?: string;
  strength: string;
  dtype: string;
  variant?: string;
  clipSkip?: string;
  tiledDecode?: boolean;
  out: string;
  overwrite?: boolean;
  json?: boolean;
}

/** The bundled tiny SD1-style pipeline (random weights) that runs when no --model is given. */
export function bundledModel(): string | null {
  for (const rel of ['../../test/fixtures/pipelines/sd1', '../../../test/fixtures/pipelines/sd1']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}/model_index.json`)) return dir;
  }
  return null;
}

function int(s: string | undefined, what: string, min: number): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min)
    throw new MedgpuError('BAD_ARGUMENT', `${what} must be an integer ≥ ${min}, got ${JSON.stringify(s)}`);
  return v;
}

function num(s: string, what: string): number {
  const v = Number(s);
  if (s.trim() === '' || !Number.isFinite(v)) throw new MedgpuError('BAD_ARGUMENT', `${what} must be a number, got ${JSON.stringify(s)}`);
  return v;
}

function seedOf(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new MedgpuError('BAD_ARGUMENT', `--seed must be a non-negative integer, got ${JSON.stringify(s)}`);
  return BigInt(s);
}

/** A progress bar on a terminal (stderr); one line per step otherwise, so logs and pipes stay readable. */
class StepBar {
  private bar: cliProgress.SingleBar | null = null;
  private label = '';
  private readonly tty = Boolean(process.stderr.isTTY);

  /** Weight loading, per component (a bar on a terminal; silent otherwise). */
  loading(component: string, done: number, total: number): void {
    if (!this.tty) return;
    if (this.label !== component) {
      this.stop();
      this.label = component;
      this.bar = new cliProgress.SingleBar(
        { stream: process.stderr, hideCursor: true, format: ` loading {component} {bar} {percentage}% of {mib} MiB` },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { component: component.padEnd(12), mib: (total / 2 ** 20).toFixed(0) });
    }
    this.bar?.update(done);
  }

  update(p: StepProgress): void {
    const perStep = p.elapsedMs / p.step / 1000;
    if (!this.tty) {
      console.error(`step ${p.step}/${p.numSteps}  t=${p.timestep}  ${perStep.toFixed(2)} s/step`);
      return;
    }
    if (this.label !== 'steps' || !this.bar) {
      this.stop();
      this.label = 'steps';
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          hideCursor: true,
          format: ' denoising {bar} {value}/{total} steps | t={t} | {rate} s/step | ETA {eta_formatted}',
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(p.numSteps, 0, { t: '', rate: '' });
    }
    this.bar?.update(p.step, { t: String(Math.round(p.timestep * 100) / 100), rate: perStep.toFixed(2) });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** `--model`, or the bundled demo pipeline (saying that its output is noise). */
function modelOrBundled(model: string | undefined, log: (s: string) => void): string {
  if (model) return model;
  const bundled = bundledModel();
  if (!bundled) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      'no --model given and the bundled demo pipeline is not installed; pass --model <diffusers pipeline folder>',
    );
  }
  log(`No --model given: using the bundled tiny random-weight pipeline (${bundled}).`);
  log('Its weights are random, so the output is noise, not an image of anything: this run only shows that the engine works here.');
  return bundled;
}

/** Runs `generate`; `env.gpu` reuses a device (it is then left open), otherwise one is created and destroyed. */
export async function runGenerate(o: GenerateCliOptions, env: { gpu?: Gpu } = {}): Promise<void> {
  const log = o.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
  if (o.dtype !== 'f32' && o.dtype !== 'f16') throw new MedgpuError('BAD_ARGUMENT', `--dtype must be f32 or f16, got ${o.dtype}`);
  if (o.prompts !== undefined) {
    rejectBatchConflicts(o);
    return runGenerateBatch(
      {
        model: modelOrBundled(o.model, log),
        prompts: o.prompts,
        numImagesPerPrompt: int(o.numImagesPerPrompt, '--num-images-per-prompt', 1),
        negativePrompt: o.negativePrompt,
        steps: int(o.steps, '--steps', 1),
        guidance: num(o.guidance, '--guidance'),
        scheduler: o.scheduler,
        seed: seedOf(o.seed),
        width: int(o.width, '--width', 8),
        height: int(o.height, '--height', 8),
        dtype: o.dtype as DType,
        variant: o.variant,
        clipSkip: int(o.clipSkip, '--clip-skip', 0),
        tiledDecode: o.tiledDecode ?? false,
        out: o.out,
        overwrite: o.overwrite,
        json: o.json,
      },
      env,
    );
  }
  if (o.prompt === undefined) throw new MedgpuError('BAD_ARGUMENT', 'give a prompt (--prompt "...") or a prompt file (--prompts FILE)');
  if (o.numImagesPerPrompt !== undefined)
    throw new MedgpuError('BAD_ARGUMENT', '--num-images-per-prompt goes with --prompts; for one prompt use --num-images');
  const prompt = o.prompt;
  if (o.initImage && (o.width || o.height)) {
    throw new MedgpuError('BAD_ARGUMENT', '--width/--height cannot be used with --init-image: the output has the init image size');
  }
  const common = {
    prompt,
    negativePrompt: o.negativePrompt,
    numInferenceSteps: int(o.steps, '--steps', 1),
    guidanceScale: num(o.guidance, '--guidance'),
    scheduler: o.scheduler,
    seed: seedOf(o.seed) ?? BigInt(randomSeed()),
    numImagesPerPrompt: int(o.numImages ?? '1', '--num-images', 1),
    clipSkip: int(o.clipSkip, '--clip-skip', 0),
    vaeTiling: o.tiledDecode ?? false,
  };
  const model = modelOrBundled(o.model, log);
  const strength = o.initImage ? num(o.strength, '--strength') : undefined;
  // The file names are known before generating, so an existing file stops the run before any work.
  const names = imageFileNames(prompt, common.seed, common.numImagesPerPrompt ?? 1);
  await assertCanWrite(
    names.map((n) => join(o.out, n)),
    o.overwrite,
  );
  const init = o.initImage ? await readImageInput(o.initImage) : undefined;

  const gpu = env.gpu ?? (await createGpu());
  const bar = new StepBar();
  const ac = new AbortController();
  const onSigint = () => {
    log('\ninterrupted: stopping after the current step');
    ac.abort();
  };
  process.once('SIGINT', onSigint);
  const t0 = Date.now();
  let pipe: StableDiffusionPipeline | null = null;
  try {
    pipe = await StableDiffusionPipeline.fromPretrained(gpu, model, {
      dtype: o.dtype as DType,
      variant: o.variant,
      signal: ac.signal,
      onProgress: (component, done, total) => bar.loading(component, done, total),
    });
    bar.stop();
    const loadS = (Date.now() - t0) / 1000;
    log(`loaded ${model} (${o.dtype}) in ${loadS.toFixed(1)} s; scheduler ${o.scheduler ?? pipe.schedulerClass}`);
    const t1 = Date.now();
    const callback = (p: StepProgress) => bar.update(p);
    let result: GeneratedImages;
    if (init) {
      result = await StableDiffusionImg2ImgPipeline.fromPipeline(pipe).generate({
        ...common,
        image: init,
        strength,
        callback,
        signal: ac.signal,
      });
    } else {
      result = await pipe.generate({
        ...common,
        width: int(o.width, '--width', 8),
        height: int(o.height, '--height', 8),
        callback,
        signal: ac.signal,
      });
    }
    bar.stop();
    const genS = (Date.now() - t1) / 1000;
    const steps = result.timesteps.length;
    const paths = await saveImages(result, {
      dir: o.out,
      names,
      overwrite: o.overwrite,
      metadata: (i) => ({
        prompt,
        negativePrompt: o.negativePrompt ?? '',
        seed: result.seed,
        steps: common.numInferenceSteps ?? 50,
        guidance: common.guidanceScale,
        scheduler: result.scheduler,
        model,
        width: result.width,
        height: result.height,
        strength,
        index: i,
      }),
    });
    for (const p of paths) log(`wrote ${p}`);
    const mem = gpu.memory();
    const summary = {
      model,
      images: paths,
      seed: result.seed === null ? null : String(result.seed),
      scheduler: result.scheduler,
      steps,
      width: result.width,
      height: result.height,
      seconds: { load: loadS, generate: genS, perStep: genS / Math.max(1, steps) },
      peakGpuBytes: mem.peakAllocatedBytes,
    };
    log(
      `seed ${summary.seed}, ${steps} steps in ${genS.toFixed(1)} s (${summary.seconds.perStep.toFixed(2)} s/step incl. decode), peak GPU memory ${(mem.peakAllocatedBytes / 2 ** 20).toFixed(1)} MiB`,
    );
    if (o.json) console.log(JSON.stringify(summary, null, 2));
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
    pipe?.release();
    if (!env.gpu) gpu.destroy();
  }
}

/** Adds `generate`. */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('text-to-image (or image-to-image with --init-image) with a Stable Diffusion 1.x/2.x diffusers pipeline, e.g. RoentGen')
    .option('--model <dir>', 'diffusers pipeline folder (model_index.json, unet/, vae/, ...); default: the bundled tiny random-weight demo')
    .option('-p, --prompt <text>', 'the prompt (or --prompts FILE for a batch)')
    .option(
      '--prompts <file>',
      'a resumable batch: .txt (one prompt per line; blank and # lines skipped) or .jsonl (one {"prompt", "negative_prompt"?, "seed"?, "guidance"?, "num_images"?} per line); images go to --out with manifest.jsonl and batch.json, and re-running the same command resumes',
    )
    .option('--num-images-per-prompt <n>', 'with --prompts: images per prompt (default 1)')
    .option('-n, --negative-prompt <text>', 'what to steer away from (used when --guidance > 1)')
    .option('--steps <n>', 'num_inference_steps (default 50)')
    .option('--guidance <g>', 'classifier-free guidance scale; <= 1 turns guidance off', '7.5')
    .option('--scheduler <name>', "ddim, pndm, euler, euler_a, dpm++2m, lms or a diffusers class name (default: the model's)")
    .option(
      '--seed <n>',
      'seed of the torch CPU generator (same seed, same latents as diffusers); default random. With --prompts: the base seed each image seed derives from (recorded in batch.json, reused on resume)',
    )
    .option('--width <px>', 'multiple of 8 (default: the model sample size)')
    .option('--height <px>', 'multiple of 8 (default: the model sample size)')
    .option('--num-images <n>', 'images for the prompt (default 1)')
    .option('--init-image <file>', 'PNG/JPEG to start from (image-to-image); its sides must be multiples of 8')
    .option('--strength <s>', 'image-to-image: how much of the schedule runs, 0..1', '0.8')
    .option('--clip-skip <k>', 'use the (k+1)-th last text encoder layer (diffusers clip_skip)')
    .option('--tiled-decode', 'decode the image in overlapping tiles (for sizes too large to decode at once)')
    .option('--dtype <f32|f16>', 'weight and activation storage (f16 needs shader-f16)', 'f32')
    .option('--variant <name>', 'weight file variant, e.g. fp16')
    .option('-o, --out <dir>', 'output folder (created if missing)', '.')
    .option(
      '--overwrite',
      "replace existing files of the same name (with --prompts: files at the batch's names that are not in its manifest)",
    )
    .option('--json', 'print a JSON summary on stdout (messages go to stderr)')
    .addHelpText(
      'after',
      `
Batches (--prompts): each image's seed derives from (--seed, prompt index, image index), or is the prompt
line's own "seed" + image index; its PNG is written atomically and then recorded in DIR/manifest.jsonl (file,
sha256, prompt, seed, settings, time). Re-running the same command resumes: finished images are verified and
skipped, partial files of a killed run are removed. Resuming with other settings is refused.
  medgpu generate --model ./roentgen --prompts prompts.jsonl --num-images-per-prompt 4 --steps 30 --seed 1 --out dataset/`,
    )
    .action(runGenerate);
}
