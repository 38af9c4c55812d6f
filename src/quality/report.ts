/**
 * The `quality.json` schema: what `medgpu quality` measured, per prompt and per image, with the settings that
 * decided every flag, so a report can be read (or re-filtered) without re-running anything.
 */
import type { DiversityResult } from './diversity.js';
import type { FlagReason, HistogramThresholds, IntensityFlag } from './histogram-flags.js';
import type { NearCopyOptions } from './near-copy.js';

export const QUALITY_REPORT_FORMAT = 'medgpu-quality-report';
export const QUALITY_REPORT_VERSION = 1;

export type QualityFlag = IntensityFlag | 'near-copy' | 'checksum-mismatch';

export interface ImageReport {
  /** Path relative to the input folder (as in the manifest). */
  file: string;
  prompt: string | null;
  seed: string | null;
  width: number;
  height: number;
  intensity: { mean: number; std: number; p1: number; p99: number; fractionBlack: number; fractionWhite: number };
  /** Histogram W1 distance to the pooled reference histogram (null without a reference folder). */
  w1ToReference: number | null;
  /** The nearest reference image by SSIM on the common grid, and by MedVAE latent when a model was given. */
  nearestBySsim: { file: string; ssim: number } | null;
  nearestByLatent: { file: string; cosine: number; rms: number } | null;
  flags: FlagReason<QualityFlag>[];
  /** Thumbnail path relative to the report folder (when thumbnails were written). */
  thumbnail: string | null;
}

export interface PromptReport {
  prompt: string | null;
  files: string[];
  diversity: DiversityResult;
}

export interface ReferenceReport {
  folder: string;
  images: number;
  files: string[];
  /** Each reference image's histogram W1 to the pool of the others, and the OOD threshold taken from them. */
  leaveOneOutW1: number[];
  oodThreshold: number;
  thumbnails: Record<string, string>;
}

export interface QualityReport {
  format: typeof QUALITY_REPORT_FORMAT;
  version: typeof QUALITY_REPORT_VERSION;
  createdAt: string;
  input: string;
  /** The manifest the images came from (null: every image file in the folder). */
  manifest: string | null;
  settings: {
    histogram: HistogramThresholds;
    nearCopy: NearCopyOptions & { medvaeModel: string | null };
    conventions: string;
  };
  summary: {
    images: number;
    flagged: number;
    byFlag: Partial<Record<QualityFlag, number>>;
    prompts: number;
    /** Mean over prompts with at least 2 images of their mean pairwise MS-SSIM. */
    meanPromptMsSsim: number | null;
  };
  reference: ReferenceReport | null;
  prompts: PromptReport[];
  images: ImageReport[];
}

export const CONVENTIONS =
  'Planes: BT.601 luminance in [0, 1]. SSIM: 11x11 Gaussian sigma 1.5, valid region, K1 0.01, K2 0.03, L 1 (= scikit-image ' +
  'gaussian_weights, use_sample_covariance=False). MS-SSIM: pytorch_msssim v1.0 (5 scales, weights 0.0448/0.2856/0.3001/0.2363/0.1333, ' +
  'zero-padded 2x2 average pooling, relu), fewer scales with renormalised weights under 161 px. Histograms: 256 bins, W1 in intensity units.';

/** quality.json text (stable key order, 2-space indent). */
export function qualityReportJson(r: QualityReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
