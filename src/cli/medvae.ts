/**
 * `medgpu medvae encode|decode`: MedVAE over a file or a whole folder, as the reference `medvae_inference`
 * CLI runs it, with progress bars (files, and the sliding windows of a volume), and outputs that are never
 * overwritten unless `--overwrite`.
 */
import { mkdir } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import {
  type DType,
  MEDVAE_MODELS,
  MedVAE,
  type MedVAEModality,
  MedgpuError,
  createGpu,
  decodeFile,
  encodeFile,
  listInputs,
  medvaeModelInfo,
} from '../index.js';

const MODALITIES: readonly MedVAEModality[] = ['xray', 'mammo', 'ct', 'mri'];

interface CommonOpts {
  input: string;
  output: string;
  model: string;
  weights: string;
  config?: string;
  overwrite?: boolean;
  dtype: string;
  gpuDim: string;
}

interface EncodeOpts extends CommonOpts {
  modality: string;
  deterministic?: boolean;
  seed: string;
  recon?: boolean;
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('-i, --input <path>', 'an input file, or a folder: every file of a supported type in it')
    .requiredOption('-o, --output <dir>', 'output folder (created if missing)')
    .requiredOption('--model <name>', `one of ${Object.keys(MEDVAE_MODELS).join(', ')}`)
    .requiredOption('--weights <path>', 'the model weights: the hub .ckpt (its state_dict) or a .safetensors file')
    .option('--config <yaml>', "the model's yaml (default: config.yaml or the hub yaml name next to the weights)")
    .option('--overwrite', 'replace existing output files')
    .option('--dtype <f32|f16>', 'weight and activation storage', 'f32')
    .option('--gpu-dim <n>', "3D window rule: sides above this are split (MedVAE's gpu_dim)", '160');
}

function parseDtype(s: string): DType {
  if (s !== 'f32' && s !== 'f16') throw new MedgpuError('BAD_ARGUMENT', `--dtype must be f32 or f16, got ${s}`);
  return s;
}

function parseInt10(s: string, what: string): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < 0) throw new MedgpuError('BAD_ARGUMENT', `${what} must be a non-negative integer, got ${s}`);
  return v;
}

/** Progress bars on a terminal (stderr); plain result lines otherwise, so logs and pipes stay clean. */
class Progress {
  private readonly multi: cliProgress.MultiBar | null;
  private readonly files: cliProgress.SingleBar | null;
  private readonly windows: cliProgress.SingleBar | null;

  constructor(total: number, what: string, withWindows: boolean) {
    const tty = Boolean(process.stderr.isTTY);
    this.multi = tty
      ? new cliProgress.MultiBar(
          { clearOnComplete: false, hideCursor: true, stream: process.stderr, format: ' {bar} {value}/{total} {label}' },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.files = this.multi?.create(total, 0, { label: what }) ?? null;
    this.windows = withWindows ? (this.multi?.create(1, 0, { label: 'windows' }) ?? null) : null;
  }

  startFile(file: string): void {
    this.windows?.setTotal(1);
    this.windows?.update(0, { label: `windows of ${file}` });
  }

  window(done: number, total: number): void {
    this.windows?.setTotal(total);
    this.windows?.update(done);
  }

  fileDone(line: string): void {
    this.files?.increment();
    if (this.multi) this.multi.log(`${line}\n`);
    else console.log(line);
  }

  stop(): void {
    this.multi?.stop();
  }
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(x > 10 ? 2 : 4) : String(x));

async function load(opts: CommonOpts) {
  medvaeModelInfo(opts.model);
  const gpu = await createGpu();
  const mvae = await MedVAE.load(gpu, { model: opts.model, weights: opts.weights, config: opts.config, dtype: parseDtype(opts.dtype) });
  await mkdir(opts.output, { recursive: true });
  return { gpu, mvae };
}

async function runEncode(opts: EncodeOpts): Promise<void> {
  if (!MODALITIES.includes(opts.modality as MedVAEModality)) {
    throw new MedgpuError('BAD_ARGUMENT', `--modality must be one of ${MODALITIES.join(', ')}, got ${opts.modality}`);
  }
  const info = medvaeModelInfo(opts.model);
  const { files, skipped } = await listInputs(opts.input, info.dims);
  if (files.length === 0) throw new MedgpuError('BAD_ARGUMENT', `no ${info.dims === 2 ? 'PNG/JPEG' : 'NIfTI'} files in ${opts.input}`);
  for (const s of skipped) console.error(`skipping ${s}: not a ${info.dims === 2 ? 'PNG/JPEG image' : 'NIfTI volume'}`);
  const { gpu, mvae } = await load(opts);
  const progress = new Progress(files.length, 'files', info.dims === 3);
  try {
    for (const file of files) {
      progress.startFile(file);
      const r = await encodeFile(mvae, file, opts.output, {
        modality: opts.modality as MedVAEModality,
        deterministic: opts.deterministic,
        seed: parseInt10(opts.seed, '--seed'),
        recon: opts.recon,
        gpuDim: parseInt10(opts.gpuDim, '--gpu-dim'),
        overwrite: opts.overwrite,
        onProgress: (done, total) => progress.window(done, total),
      });
      const m = r.metrics ? `  PSNR ${fmt(r.metrics.psnr)} dB  SSIM ${fmt(r.metrics.ssim)}` : '';
      progress.fileDone(`${file} -> ${r.outputs.join(', ')}  latent [${r.latentShape.join(', ')}]${m}`);
    }
  } finally {
    progress.stop();
    await mvae.dispose();
    gpu.destroy();
  }
}

async function runDecode(opts: CommonOpts): Promise<void> {
  const { pathKind } = await import('../io/node-fs.js');
  let files: string[];
  if ((await pathKind(opts.input)) === 'dir') {
    const { readdir } = await import('node:fs/promises');
    files = (await readdir(opts.input))
      .filter((n) => n.endsWith('.safetensors') && !n.startsWith('.'))
      .sort()
      .map((n) => `${opts.input.replace(/\/+$/, '')}/${n}`);
  } else files = [opts.input];
  if (files.length === 0) throw new MedgpuError('BAD_ARGUMENT', `no .safetensors latent files in ${opts.input}`);
  const { gpu, mvae } = await load(opts);
  const progress = new Progress(files.length, 'latents', mvae.dims === 3);
  try {
    for (const file of files) {
      progress.startFile(file);
      const r = await decodeFile(mvae, file, opts.output, {
        overwrite: opts.overwrite,
        gpuDim: parseInt10(opts.gpuDim, '--gpu-dim'),
        onProgress: (done, total) => progress.window(done, total),
      });
      progress.fileDone(`${file} -> ${r.outputs.join(', ')}`);
    }
  } finally {
    progress.stop();
    await mvae.dispose();
    gpu.destroy();
  }
}

/** Adds the `medvae` command group. */
export function registerMedvae(program: Command): void {
  const group = program.command('medvae').description('MedVAE (Stanford MIMI) 2D/3D medical image compression');
  common(group.command('encode'))
    .description('encode images (PNG/JPEG) or volumes (NIfTI) into latents (.safetensors, and .nii.gz for volumes)')
    .requiredOption('--modality <m>', `one of ${MODALITIES.join(', ')} (ct/mri pick the 3D intensity preprocessing)`)
    .option('--deterministic', 'use the posterior mean instead of a sample')
    .option('--seed <n>', 'torch.manual_seed for the posterior sample', '0')
    .option('--recon', 'also write the reconstruction and report PSNR/SSIM against the preprocessed input')
    .action(runEncode);
  common(group.command('decode')).description('decode latent files written by `medvae encode` back to PNG / NIfTI').action(runDecode);
}
