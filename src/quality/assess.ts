/**
 * The whole quality assessment over lists of images that load on demand (no file system here: the CLI and
 * tests provide the loaders). Memory stays bounded by one prompt's images at full size plus every image's
 * small common-grid copy: prompts are processed one at a time.
 */
import type { MedVAE } from '../pipeline/medvae/medvae.js';
import { type DiversityResult, promptDiversity } from './diversity.js';
import {
  DEFAULT_HISTOGRAM_THRESHOLDS,
  type FlagReason,
  type HistogramThresholds,
  type ReferenceHistogram,
  intensityFlags,
  intensityStats,
  referenceHistogram,
  wasserstein1,
} from './histogram-flags.js';
import {
  DEFAULT_NEAR_COPY_OPTIONS,
  type NearCopyOptions,
  checkGrid,
  meanLatent,
  medvaeLatent,
  nearestByLatent,
  nearestBySsim,
  prepareForNearCopy,
} from './near-copy.js';
import type { Plane } from './plane.js';
import {
  CONVENTIONS,
  type ImageReport,
  type PromptReport,
  QUALITY_REPORT_FORMAT,
  QUALITY_REPORT_VERSION,
  type QualityFlag,
  type QualityReport,
  type ReferenceReport,
} from './report.js';
import type { SsimPrepared } from './ssim.js';

export interface QualityItem {
  /** Path relative to its folder (how the report names it). */
  file: string;
  prompt: string | null;
  seed: string | null;
  load: () => Promise<Plane>;
  /** Flags found before loading (e.g. a manifest checksum that does not match). */
  flags?: FlagReason<QualityFlag>[];
}

export type QualityPhase = 'reference' | 'images';

export interface AssessOptions {
  /** Names for the report. */
  input: string;
  manifest?: string | null;
  referenceFolder?: string;
  histogram?: Partial<HistogramThresholds>;
  nearCopy?: Partial<NearCopyOptions>;
  /** A 2D MedVAE for latent near-copy distances. */
  medvae?: MedVAE;
  /** Called with each loaded image so the caller can write a thumbnail; returns its path for the report. */
  thumbnail?: (kind: QualityPhase, index: number, item: QualityItem, plane: Plane) => Promise<string | null>;
  onProgress?: (phase: QualityPhase, done: number, total: number) => void;
  /** Fixed time stamp (tests); default now. */
  createdAt?: string;
}

interface PreparedReference {
  grids: SsimPrepared[];
  latents: Float32Array[] | null;
  centre: Float32Array | null;
  histogram: ReferenceHistogram;
  report: ReferenceReport;
}

async function prepareReference(items: readonly QualityItem[], o: AssessOptions, t: HistogramThresholds, nc: NearCopyOptions) {
  const grids: SsimPrepared[] = [];
  const latents: Float32Array[] = [];
  const stats = [];
  const thumbnails: Record<string, string> = {};
  for (const [i, item] of items.entries()) {
    const plane = await item.load();
    stats.push(intensityStats(plane));
    grids.push(prepareForNearCopy(plane, nc.grid));
    if (o.medvae) latents.push(await medvaeLatent(o.medvae, plane, nc.grid));
    const thumb = (await o.thumbnail?.('reference', i, item, plane)) ?? null;
    if (thumb) thumbnails[item.file] = thumb;
    o.onProgress?.('reference', i + 1, items.length);
  }
  const histogram = referenceHistogram(stats, t.oodQuantile);
  const report: ReferenceReport = {
    folder: o.referenceFolder ?? '',
    images: items.length,
    files: items.map((x) => x.file),
    leaveOneOutW1: histogram.leaveOneOut,
    oodThreshold: histogram.threshold,
    thumbnails,
  };
  return { grids, latents: o.medvae ? latents : null, centre: o.medvae ? meanLatent(latents) : null, histogram, report };
}

/** Groups items by prompt, in order of first appearance. */
function byPrompt(items: readonly QualityItem[]): { prompt: string | null; indices: number[] }[] {
  const groups = new Map<string | null, number[]>();
  for (const [i, it] of items.entries()) {
    const g = groups.get(it.prompt);
    if (g) g.push(i);
    else groups.set(it.prompt, [i]);
  }
  return [...groups].map(([prompt, indices]) => ({ prompt, indices }));
}

/** Measures diversity, fidelity and authenticity (see the module comments of each metric) and builds the report. */
export async function assessQuality(
  items: readonly QualityItem[],
  reference: readonly QualityItem[] | null,
  o: AssessOptions,
): Promise<QualityReport> {
  const t: HistogramThresholds = { ...DEFAULT_HISTOGRAM_THRESHOLDS, ...o.histogram };
  const nc: NearCopyOptions = { ...DEFAULT_NEAR_COPY_OPTIONS, ...o.nearCopy };
  checkGrid(nc.grid);
  const ref: PreparedReference | null = reference ? await prepareReference(reference, o, t, nc) : null;
  const images: ImageReport[] = new Array(items.length);
  const prompts: PromptReport[] = [];
  let done = 0;
  for (const group of byPrompt(items)) {
    const planes: Plane[] = [];
    for (const i of group.indices) {
      const item = items[i] as QualityItem;
      const plane = await item.load();
      planes.push(plane);
      images[i] = await assessImage(i, item, plane, ref, o, t, nc);
      o.onProgress?.('images', ++done, items.length);
    }
    const diversity: DiversityResult = promptDiversity(planes);
    prompts.push({ prompt: group.prompt, files: group.indices.map((i) => (items[i] as QualityItem).file), diversity });
  }
  return {
    format: QUALITY_REPORT_FORMAT,
    version: QUALITY_REPORT_VERSION,
    createdAt: o.createdAt ?? new Date().toISOString(),
    input: o.input,
    manifest: o.manifest ?? null,
    settings: { histogram: t, nearCopy: { ...nc, medvaeModel: o.medvae?.info.name ?? null }, conventions: CONVENTIONS },
    summary: summarize(images, prompts),
    reference: ref?.report ?? null,
    prompts,
    images,
  };
}

async function assessImage(
  index: number,
  item: QualityItem,
  plane: Plane,
  ref: PreparedReference | null,
  o: AssessOptions,
  t: HistogramThresholds,
  nc: NearCopyOptions,
): Promise<ImageReport> {
  const s = intensityStats(plane);
  const flags: FlagReason<QualityFlag>[] = [...(item.flags ?? []), ...intensityFlags(s, t, ref?.histogram)];
  let nearestSsim: ImageReport['nearestBySsim'] = null;
  let nearestLatent: ImageReport['nearestByLatent'] = null;
  if (ref) {
    const n = nearestBySsim(prepareForNearCopy(plane, nc.grid), ref.grids);
    nearestSsim = { file: ref.report.files[n.index] as string, ssim: n.ssim };
    const why: string[] = [];
    if (n.ssim >= nc.ssimThreshold) why.push(`SSIM ${n.ssim.toFixed(4)} >= ${nc.ssimThreshold} to ${nearestSsim.file}`);
    if (o.medvae && ref.latents && ref.centre) {
      const l = nearestByLatent(await medvaeLatent(o.medvae, plane, nc.grid), ref.latents, ref.centre);
      nearestLatent = { file: ref.report.files[l.index] as string, cosine: l.cosine, rms: l.rms };
      if (l.cosine >= nc.latentCosineThreshold) {
        why.push(`MedVAE latent cosine ${l.cosine.toFixed(4)} >= ${nc.latentCosineThreshold} to ${nearestLatent.file}`);
      }
    }
    if (why.length) flags.push({ flag: 'near-copy', detail: why.join('; ') });
  }
  return {
    file: item.file,
    prompt: item.prompt,
    seed: item.seed,
    width: plane.width,
    height: plane.height,
    intensity: { mean: s.mean, std: s.std, p1: s.p1, p99: s.p99, fractionBlack: s.fractionBlack, fractionWhite: s.fractionWhite },
    w1ToReference: ref ? wasserstein1(s.histogram, ref.histogram.pooled) : null,
    nearestBySsim: nearestSsim,
    nearestByLatent: nearestLatent,
    flags,
    thumbnail: (await o.thumbnail?.('images', index, item, plane)) ?? null,
  };
}

function summarize(images: readonly ImageReport[], prompts: readonly PromptReport[]): QualityReport['summary'] {
  const byFlag: Partial<Record<QualityFlag, number>> = {};
  for (const im of images) for (const f of new Set(im.flags.map((x) => x.flag))) byFlag[f] = (byFlag[f] ?? 0) + 1;
  const scored = prompts.map((p) => p.diversity.meanMsSsim).filter((v): v is number => v !== null);
  return {
    images: images.length,
    flagged: images.filter((im) => im.flags.length > 0).length,
    byFlag,
    prompts: prompts.length,
    meanPromptMsSsim: scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : null,
  };
}
