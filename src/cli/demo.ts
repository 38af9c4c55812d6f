/**
 * `medgpu demo` (`npm run demo`): the main job on a fresh machine, with no weights to download. It prints the
 * adapter, checks a small chain of kernels against the CPU reference, generates a chest X-ray from a prompt
 * with the bundled tiny Stable Diffusion pipeline (or `--model DIR`), compresses a 2D image and a 3D volume
 * with the bundled tiny MedVAE models and decodes them back, and ends with a per-phase time table and peak
 * memory. Every output goes into one folder (see demo-folder.ts for what a re-run may replace); a failed
 * check makes `runDemo` report `ok: false` (the CLI then exits 1).
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readNifti } from '../io/nifti.js';
import { readImage } from '../io/read-image.js';
import { loadSafetensors, openSafetensors } from '../io/safetensors.js';
import { binary, unary } from '../kernels/elementwise.js';
import { binaryRef, unaryRef } from '../kernels/reference/elementwise.js';
import { imageFileNames, saveImages } from '../pipeline/diffusion/files.js';
import { StableDiffusionPipeline } from '../pipeline/diffusion/text-to-image.js';
import { decodeFile, decodeOutputPath, encodeFile, encodeOutputPaths } from '../pipeline/medvae/files.js';
import { decodeLatentMeta, type Modality } from '../pipeline/medvae/latent-file.js';
import { MedVAE } from '../pipeline/medvae/medvae.js';
import { MedgpuError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { DemoFolder } from './demo-folder.js';
import { bundledModel } from './generate.js';
import { formatInfo } from './info.js';

export const DEMO_PROMPT = 'Chest X-ray, PA view: small right pleural effusion, no pneumothorax';
export const DEMO_SEED = 42n;
export const DEMO_STEPS = 4;

export interface DemoOptions {
  /** Output folder (created if missing). */
  out: string;
  /** A diffusers pipeline folder; default the bundled tiny random-weight one. */
  model?: string;
  /** Replace existing files the demo did not write itself. */
  overwrite?: boolean;
  log: (line: string) => void;
}

export interface DemoCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DemoReport {
  ok: boolean;
  checks: DemoCheck[];
  /** Seconds per phase, in run order. */
  phases: { name: string; seconds: number }[];
  /** Every file written (absolute or relative to the working folder, as `out` was given). */
  files: { image: string; medvae2d: string[]; medvae3d: string[] };
  peakGpuBytes: number;
  peakRssBytes: number;
}

/** One MedVAE case of the demo: a bundled fixture model and input. */
interface MedvaeCase {
  label: string;
  model: string;
  input: string;
  weights: string;
  modality: Modality;
  dims: 2 | 3;
}

const MiB = 2 ** 20;
const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The bundled MedVAE fixture folder: it sits beside the bundled pipeline (test/fixtures/{pipelines/sd1,medvae}). */
function bundledMedvaeDir(): string {
  const sd1 = bundledModel();
  if (!sd1) {
    throw new MedgpuError('BAD_ARGUMENT', 'the bundled demo models (test/fixtures) are not installed; run the demo from a clone of medgpu');
  }
  return resolve(sd1, '../../medvae');
}

function medvaeCases(dir: string): MedvaeCase[] {
  return [
    { label: 'MedVAE 2D', model: 'medvae_4_1_2d', input: 'inputs/xray_gray.png', modality: 'xray' as const, dims: 2 as const },
    { label: 'MedVAE 3D', model: 'medvae_4_1_3d', input: 'inputs/ct.nii.gz', modality: 'ct' as const, dims: 3 as const },
  ].map((c) => ({ ...c, input: join(dir, c.input), weights: join(dir, c.model, 'model.safetensors') }));
}

function medvaePaths(c: MedvaeCase, out: string): { all: string[]; latent: string; recon: string; decoded: string } {
  const dir = join(out, c.dims === 2 ? 'medvae-2d' : 'medvae-3d');
  const enc = encodeOutputPaths(c.input, dir, c.dims, true);
  const decoded = decodeOutputPath(enc.latent, dir, c.dims);
  const all = [enc.latent, ...(enc.latentNifti ? [enc.latentNifti] : []), enc.recon as string, decoded];
  return { all, latent: enc.latent, recon: enc.recon as string, decoded };
}

/** silu(gelu(a + b)) with broadcasting on the GPU against the plain-TS reference. */
async function kernelCheck(gpu: Gpu): Promise<DemoCheck> {
  const shapeA = [2, 64, 40];
  const shapeB = [40];
  const a = Float32Array.from({ length: 2 * 64 * 40 }, (_, i) => Math.sin(i * 0.37) * 3);
  const b = Float32Array.from({ length: 40 }, (_, i) => Math.cos(i) * 0.5);
  const got = await gpu.scopeAsync(async () => {
    const y = binary(gpu, gpu.upload(a, shapeA), gpu.upload(b, shapeB), { op: 'add', activation: 'gelu' });
    return gpu.read(unary(gpu, y, 'silu'));
  });
  const ref = unaryRef('silu', binaryRef('add', a, shapeA, b, shapeB, { activation: 'gelu' }).data);
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs((got[i] as number) - (ref[i] as number)));
  return {
    name: 'kernel check',
    ok: maxAbs <= 1e-5,
    detail: `silu(gelu(a + b)) on [2, 64, 40] with broadcasting: max |gpu - cpu| = ${maxAbs.toExponential(2)} (bound 1e-5)`,
  };
}

/** Runs the demo (see the module comment) on `gpu`, which stays open. */
export async function runDemo(gpu: Gpu, o: DemoOptions): Promise<DemoReport> {
  const { log } = o;
  const model = o.model ?? bundledModel();
  if (!model) throw new MedgpuError('BAD_ARGUMENT', 'the bundled demo pipeline is not installed; pass --model <diffusers pipeline folder>');
  const cases = medvaeCases(bundledMedvaeDir());
  const imagePath = join(o.out, 'text-to-image', imageFileNames(DEMO_PROMPT, DEMO_SEED, 1)[0] as string);
  const mv = cases.map((c) => medvaePaths(c, o.out));
  // Every target is known up front, so a file that is not ours stops the run before any work.
  const folder = await DemoFolder.claim(o.out, [imagePath, ...mv.flatMap((p) => p.all)], o.overwrite);

  const checks: DemoCheck[] = [];
  const phases: { name: string; seconds: number }[] = [];
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      phases.push({ name, seconds: (performance.now() - t0) / 1000 });
    }
  };
  const check = (c: DemoCheck) => {
    checks.push(c);
    log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  };
  // A section that throws is a failed check; the demo goes on with the next one.
  const section = async (name: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      check({ name, ok: false, detail: e instanceof Error ? e.message : String(e) });
    }
  };

  log(formatInfo(gpu));
  log('');
  await section('kernel check', async () => check(await timed('kernel check vs CPU reference', () => kernelCheck(gpu))));

  log('');
  log(`== text-to-image: "${DEMO_PROMPT}", seed ${DEMO_SEED}, ${DEMO_STEPS} steps`);
  if (!o.model) {
    log(`model: the bundled tiny random-weight pipeline (${model}).`);
    log('Its weights are random, so the image is noise, not an X-ray: this shows the engine runs here. Use --model for a real one.');
  } else log(`model: ${model}`);
  await section('text-to-image', async () => {
    const pipe = await timed('text-to-image: load', () => StableDiffusionPipeline.fromPretrained(gpu, model));
    try {
      const result = await timed('text-to-image: generate', () =>
        pipe.generate({
          prompt: DEMO_PROMPT,
          seed: DEMO_SEED,
          numInferenceSteps: DEMO_STEPS,
          callback: (p) => log(`  step ${p.step}/${p.numSteps}  t=${Math.round(p.timestep)}  ${(p.elapsedMs / 1000).toFixed(1)} s elapsed`),
        }),
      );
      const [path] = await timed('text-to-image: write PNG', () =>
        saveImages(result, {
          dir: join(o.out, 'text-to-image'),
          names: [imagePath.split('/').pop() as string],
          overwrite: true,
          metadata: () => ({
            prompt: DEMO_PROMPT,
            negativePrompt: '',
            seed: result.seed,
            steps: DEMO_STEPS,
            guidance: 7.5,
            scheduler: result.scheduler,
            model,
            width: result.width,
            height: result.height,
          }),
        }),
      );
      log(`wrote ${path} (${result.width}×${result.height}, ${result.scheduler}, parameters in the PNG text chunks)`);
      const back = await readImage(path as string);
      check({
        name: 'text-to-image PNG',
        ok: back.width === result.width && back.height === result.height && back.channels === 3,
        detail: `reads back as ${back.width}×${back.height}×${back.channels}, want ${result.width}×${result.height}×3`,
      });
    } finally {
      pipe.release();
    }
  });

  for (const [i, c] of cases.entries()) {
    const p = mv[i] as (typeof mv)[number];
    log('');
    log(`== ${c.label}: ${c.model} on ${c.input}`);
    await section(c.label, async () => {
      const mvae = await timed(`${c.label}: load`, () => MedVAE.load(gpu, { model: c.model, weights: c.weights }));
      try {
        const outDir = join(p.latent, '..');
        const enc = await timed(`${c.label}: encode + reconstruct`, () =>
          encodeFile(mvae, c.input, outDir, { modality: c.modality, seed: 0, recon: true, overwrite: true }),
        );
        const dec = await timed(`${c.label}: decode latent file`, () => decodeFile(mvae, p.latent, outDir, { overwrite: true }));
        for (const f of [...enc.outputs, ...dec.outputs]) log(`wrote ${f}`);
        await medvaeChecks(c, p, enc.metrics, check, log);
      } finally {
        await mvae.dispose();
      }
    });
  }

  const mem = gpu.memory();
  const report: DemoReport = {
    ok: checks.length > 0 && checks.every((c) => c.ok),
    checks,
    phases,
    files: { image: imagePath, medvae2d: mv[0]?.all ?? [], medvae3d: mv[1]?.all ?? [] },
    peakGpuBytes: mem.peakAllocatedBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  log('');
  log(formatSummary(report));
  await folder.writeManifest({
    ok: report.ok,
    checks,
    phases,
    peakGpuBytes: report.peakGpuBytes,
    peakRssBytes: report.peakRssBytes,
  });
  return report;
}

/** Compression ratio, PSNR/SSIM, and the checks: the latent file loads back with the expected shape, and
 * decoding it gives the encode's reconstruction again. */
async function medvaeChecks(
  c: MedvaeCase,
  p: { latent: string; recon: string; decoded: string },
  metrics: { psnr: number; ssim: number } | undefined,
  check: (c: DemoCheck) => void,
  log: (s: string) => void,
): Promise<void> {
  const f = await openSafetensors(p.latent);
  const meta = decodeLatentMeta(f.metadata, p.latent);
  await f.close();
  const latent = (await loadSafetensors(p.latent)).get('latent');
  // The encoder downsamples each side by the factor (rounding down); the channel count is the model's.
  const want = meta.inputShape.slice(1).map((s) => Math.floor(s / meta.factor));
  const shapeOk = latent !== undefined && JSON.stringify(latent.shape.slice(1)) === JSON.stringify(want);
  check({
    name: `${c.label} latent file`,
    ok: shapeOk,
    detail: `latent [${latent?.shape.join(', ')}] for input [${meta.inputShape.join(', ')}] (factor ${meta.factor})`,
  });
  if (latent) {
    const ratio = product(meta.inputShape) / product(latent.shape);
    const bytes = statSync(c.input).size;
    log(
      `compression: ${ratio.toFixed(0)}× fewer values (input [${meta.inputShape.join(', ')}] → latent [${latent.shape.join(', ')}]); files: input ${(bytes / 1024).toFixed(1)} KiB, latent ${(statSync(p.latent).size / 1024).toFixed(1)} KiB (F32 + metadata)`,
    );
  }
  if (metrics) {
    log(
      `reconstruction vs preprocessed input: PSNR ${metrics.psnr.toFixed(2)} dB, SSIM ${metrics.ssim.toFixed(4)} (random fixture weights: these numbers say nothing about MedVAE's quality)`,
    );
  }
  // Decoding the saved latent must reproduce the reconstruction the encode wrote (same z, same decoder).
  // PNGs: equal up to 1 level of rounding; volumes: the saved 3D z went through the sliding-window blend
  // w·z/w (~1 ulp), which the decoder amplifies: allow 1e-4 of the intensity window.
  let maxAbs: number;
  let bound: number;
  if (c.dims === 2) {
    const [a, b] = [await readImage(p.recon), await readImage(p.decoded)];
    maxAbs = maxAbsDiff(a.data, b.data);
    bound = 1;
  } else {
    const [a, b] = [await readNifti(p.recon), await readNifti(p.decoded)];
    maxAbs = maxAbsDiff(a.data, b.data);
    const w = meta.volume?.intensity;
    bound = w ? 1e-4 * (w.max - w.min) : 0;
  }
  check({
    name: `${c.label} decode`,
    ok: maxAbs <= bound,
    detail: `decoding the latent file reproduces the encode's reconstruction: max |Δ| = ${maxAbs.toPrecision(3)} (bound ${bound.toPrecision(3)})`,
  });
}

function maxAbsDiff(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(Number(a[i]) - Number(b[i])));
  return m;
}

/** The closing table: seconds per phase, peak memory, and the verdict. */
export function formatSummary(r: DemoReport): string {
  const width = Math.max(...r.phases.map((p) => p.name.length), 5);
  const total = r.phases.reduce((s, p) => s + p.seconds, 0);
  const lines = [
    `${'phase'.padEnd(width)}  seconds`,
    ...r.phases.map((p) => `${p.name.padEnd(width)}  ${p.seconds.toFixed(2).padStart(7)}`),
  ];
  lines.push(`${'total'.padEnd(width)}  ${total.toFixed(2).padStart(7)}`);
  lines.push(`peak GPU memory (pool) ${(r.peakGpuBytes / MiB).toFixed(1)} MiB, peak process RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB`);
  const failed = r.checks.filter((c) => !c.ok);
  lines.push(
    r.ok
      ? `all ${r.checks.length} checks passed`
      : `${failed.length} of ${r.checks.length} checks FAILED: ${failed.map((c) => c.name).join(', ')}`,
  );
  return lines.join('\n');
}
