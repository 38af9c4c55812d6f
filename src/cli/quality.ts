/**
 * `medgpu quality DIR [--reference REAL_DIR]`: diversity (MS-SSIM between the images of each prompt), fidelity
 * (blank / saturated / low-contrast / out-of-distribution histograms) and authenticity (near copies of real
 * images by SSIM and, with a MedVAE model, latent similarity) of a folder of generated images; writes
 * `quality.json`, `index.html` and thumbnails, and with `--filter` a manifest of the images that passed.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import {
  DEFAULT_HISTOGRAM_THRESHOLDS,
  DEFAULT_NEAR_COPY_OPTIONS,
  type Gpu,
  MedVAE,
  MedgpuError,
  type QualityPhase,
  createGpu,
  medvaeModelInfo,
  qualityReportJson,
  runQuality,
} from '../index.js';

interface QualityOpts {
  reference?: string;
  out?: string;
  filter?: boolean;
  filterOut?: string;
  overwrite?: boolean;
  json?: boolean;
  nearCopySsim: string;
  nearCopyLatent: string;
  grid: string;
  medvaeModel?: string;
  medvaeWeights?: string;
  medvaeConfig?: string;
  blankStd: string;
  saturatedFraction: string;
  lowContrast: string;
  oodQuantile: string;
}

function fraction(s: string, what: string, lo = 0, hi = 1): number {
  const v = Number(s);
  if (!Number.isFinite(v) || v < lo || v > hi)
    throw new MedgpuError('BAD_ARGUMENT', `${what} must be a number from ${lo} to ${hi}, got ${s}`);
  return v;
}

/** One bar per phase on a terminal (stderr); silent otherwise so `--json` output stays clean. */
function progressBar(): { update: (phase: QualityPhase, done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const multi = new cliProgress.MultiBar(
    { clearOnComplete: false, hideCursor: true, stream: process.stderr, format: ' {bar} {value}/{total} {label}' },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<QualityPhase, cliProgress.SingleBar>();
  return {
    update: (phase, done, total) => {
      let b = bars.get(phase);
      if (!b) {
        b = multi.create(total, 0, { label: phase === 'reference' ? 'reference images' : 'images' });
        bars.set(phase, b);
      }
      b.update(done);
    },
    stop: () => multi.stop(),
  };
}

async function run(dir: string, o: QualityOpts): Promise<void> {
  if (Boolean(o.medvaeModel) !== Boolean(o.medvaeWeights)) {
    throw new MedgpuError('BAD_ARGUMENT', '--medvae-model and --medvae-weights go together (a 2D model name and its weights)');
  }
  if (o.medvaeModel && !o.reference)
    throw new MedgpuError('BAD_ARGUMENT', 'MedVAE latent distances compare with real images: also pass --reference REAL_DIR');
  const grid = Number(o.grid);
  let gpu: Gpu | null = null;
  let mvae: MedVAE | null = null;
  const bar = progressBar();
  try {
    if (o.medvaeModel && o.medvaeWeights) {
      if (medvaeModelInfo(o.medvaeModel).dims !== 2)
        throw new MedgpuError('BAD_ARGUMENT', `--medvae-model must be a 2D model, got ${o.medvaeModel}`);
      gpu = await createGpu();
      mvae = await MedVAE.load(gpu, { model: o.medvaeModel, weights: o.medvaeWeights, config: o.medvaeConfig });
    }
    const r = await runQuality({
      input: dir,
      reference: o.reference,
      out: o.out,
      filter: o.filter,
      filterOut: o.filterOut,
      overwrite: o.overwrite,
      medvae: mvae ?? undefined,
      nearCopy: {
        grid,
        ssimThreshold: fraction(o.nearCopySsim, '--near-copy-ssim', -1, 1),
        latentCosineThreshold: fraction(o.nearCopyLatent, '--near-copy-latent', -1, 1),
      },
      histogram: {
        blankStd: fraction(o.blankStd, '--blank-std'),
        saturatedFraction: fraction(o.saturatedFraction, '--saturated-fraction'),
        lowContrastRange: fraction(o.lowContrast, '--low-contrast'),
        oodQuantile: fraction(o.oodQuantile, '--ood-quantile'),
      },
      onProgress: bar.update,
    });
    bar.stop();
    if (o.json) {
      console.log(qualityReportJson(r.report).trimEnd());
      return;
    }
    const s = r.report.summary;
    const flags = Object.entries(s.byFlag)
      .map(([f, n]) => `${f} ${n}`)
      .join(', ');
    console.log(`${s.images} images, ${s.prompts} prompts, ${s.flagged} flagged${flags ? ` (${flags})` : ''}`);
    if (s.meanPromptMsSsim !== null) console.log(`mean per-prompt MS-SSIM ${s.meanPromptMsSsim.toFixed(4)} (lower = more diverse)`);
    for (const im of r.report.images) for (const f of im.flags) console.log(`  ${im.file}: ${f.flag}: ${f.detail}`);
    console.log(`wrote ${r.json}\nwrote ${r.html}${r.filteredManifest ? `\nwrote ${r.filteredManifest}` : ''}`);
  } finally {
    bar.stop();
    await mvae?.dispose();
    gpu?.destroy();
  }
}

export function registerQuality(program: Command): void {
  const h = DEFAULT_HISTOGRAM_THRESHOLDS;
  const n = DEFAULT_NEAR_COPY_OPTIONS;
  program
    .command('quality')
    .description('diversity, fidelity and near-copy checks of a folder of generated images; writes quality.json and an HTML report')
    .argument('<dir>', 'folder of generated PNG/JPEG images (listed by its manifest.jsonl when it has one)')
    .option('--reference <dir>', 'folder of real images: enables near-copy and out-of-distribution checks')
    .option('-o, --out <dir>', 'report folder (default: <dir>/quality)')
    .option('--filter', 'also write <dir>/manifest.filtered.jsonl listing the images that earned no flag')
    .option('--filter-out <path>', 'where --filter writes the filtered manifest')
    .option('--near-copy-ssim <x>', 'flag a near copy at or above this SSIM to a real image', String(n.ssimThreshold))
    .option('--near-copy-latent <x>', 'flag a near copy at or above this MedVAE latent cosine similarity', String(n.latentCosineThreshold))
    .option('--grid <n>', 'side of the common grid near copies are compared on', String(n.grid))
    .option('--medvae-model <name>', 'a 2D MedVAE model (e.g. medvae_4_1_2d) for latent near-copy distances')
    .option('--medvae-weights <path>', "that model's weights (.ckpt or .safetensors)")
    .option('--medvae-config <yaml>', "that model's yaml (default: next to the weights)")
    .option('--blank-std <x>', 'blank below this intensity std (intensities in [0, 1])', String(h.blankStd))
    .option('--saturated-fraction <x>', 'saturated above this fraction of clipped pixels', String(h.saturatedFraction))
    .option('--low-contrast <x>', 'low contrast below this p99 - p1 spread', String(h.lowContrastRange))
    .option(
      '--ood-quantile <q>',
      "out of distribution beyond this quantile of the reference images' leave-one-out distances",
      String(h.oodQuantile),
    )
    .option('--overwrite', 'replace an existing report (and filtered manifest)')
    .option('--json', 'print quality.json on stdout instead of the summary')
    .action(run);
}
