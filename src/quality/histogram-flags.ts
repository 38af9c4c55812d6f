/**
 * Fidelity filters on intensity histograms (planes in [0, 1], 256 equal bins, the value 1 in the last):
 *
 * - blank: the standard deviation of the intensities is below `blankStd` (default 0.01, ~2.5 grey levels);
 * - saturated: the fraction of pixels clipped at black or white (within half an 8-bit step of 0 or 1) is above
 *   `saturatedFraction` (default 0.5);
 * - low contrast: the 1st-99th percentile spread (read from the histogram, so to 1/256) is below
 *   `lowContrastRange` (default 0.1);
 * - out of distribution: the Wasserstein-1 distance between the image's histogram and the pooled histogram of
 *   the reference folder (each reference image weighted equally), W1 = Σ|CDF₁ − CDF₂|·(1/256) in intensity units,
 *   is above a threshold taken from the reference images themselves: each one's distance to the pool of the
 *   others (leave-one-out), and the threshold is the largest of those (quantile `oodQuantile`, default 1) —
 *   "farther from the real images than any real image is from the rest". It needs at least 2 reference images.
 */
import { MedgpuError } from '../runtime/errors.js';
import type { Plane } from './plane.js';

export const HISTOGRAM_BINS = 256;

export interface IntensityStats {
  mean: number;
  std: number;
  /** 1st and 99th percentiles (bin upper edges). */
  p1: number;
  p99: number;
  /** Fractions of pixels clipped at black and at white. */
  fractionBlack: number;
  fractionWhite: number;
  /** Normalised histogram (sums to 1). */
  histogram: Float64Array;
}

export interface HistogramThresholds {
  blankStd: number;
  saturatedFraction: number;
  lowContrastRange: number;
  /** Which leave-one-out quantile of the reference images sets the OOD threshold (1 = the largest). */
  oodQuantile: number;
}

export const DEFAULT_HISTOGRAM_THRESHOLDS: HistogramThresholds = {
  blankStd: 0.01,
  saturatedFraction: 0.5,
  lowContrastRange: 0.1,
  oodQuantile: 1,
};

export type IntensityFlag = 'blank' | 'saturated' | 'low-contrast' | 'out-of-distribution';

export interface FlagReason<F extends string = string> {
  flag: F;
  /** Human-readable: the measured value against its threshold. */
  detail: string;
}

const CLIP = 0.5 / 255;

export function intensityStats(p: Plane): IntensityStats {
  const hist = new Float64Array(HISTOGRAM_BINS);
  let sum = 0;
  let sumSq = 0;
  let black = 0;
  let white = 0;
  const n = p.data.length;
  for (let i = 0; i < n; i++) {
    const v = p.data[i] as number;
    sum += v;
    sumSq += v * v;
    if (v <= CLIP) black++;
    else if (v >= 1 - CLIP) white++;
    const b = Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(v * HISTOGRAM_BINS)));
    hist[b] = (hist[b] as number) + 1;
  }
  const mean = sum / n;
  for (let b = 0; b < HISTOGRAM_BINS; b++) hist[b] = (hist[b] as number) / n;
  return {
    mean,
    std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)),
    p1: quantile(hist, 0.01),
    p99: quantile(hist, 0.99),
    fractionBlack: black / n,
    fractionWhite: white / n,
    histogram: hist,
  };
}

/** The upper edge of the first bin whose cumulative mass reaches q. */
function quantile(hist: Float64Array, q: number): number {
  let c = 0;
  for (let b = 0; b < hist.length; b++) {
    c += hist[b] as number;
    if (c >= q - 1e-12) return (b + 1) / hist.length;
  }
  return 1;
}

/** Wasserstein-1 (earth mover's) distance between two normalised histograms over [0, 1]. */
export function wasserstein1(a: Float64Array, b: Float64Array): number {
  let ca = 0;
  let cb = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    ca += a[i] as number;
    cb += b[i] as number;
    d += Math.abs(ca - cb);
  }
  return d / a.length;
}

function pool(hists: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(HISTOGRAM_BINS);
  for (const h of hists) for (let b = 0; b < HISTOGRAM_BINS; b++) out[b] = (out[b] as number) + (h[b] as number) / hists.length;
  return out;
}

export interface ReferenceHistogram {
  /** Mean of the reference images' normalised histograms. */
  pooled: Float64Array;
  /** Each reference image's W1 distance to the pool of the others. */
  leaveOneOut: number[];
  /** Images farther than this from `pooled` are out of distribution. */
  threshold: number;
}

/** The reference folder's pooled histogram and OOD threshold (see the module comment). */
export function referenceHistogram(
  stats: readonly IntensityStats[],
  oodQuantile = DEFAULT_HISTOGRAM_THRESHOLDS.oodQuantile,
): ReferenceHistogram {
  if (stats.length < 2) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `the out-of-distribution check needs at least 2 reference images (got ${stats.length}): its threshold comes from how far each reference image is from the others`,
    );
  }
  if (!(oodQuantile > 0 && oodQuantile <= 1)) throw new MedgpuError('BAD_ARGUMENT', `oodQuantile must be in (0, 1], got ${oodQuantile}`);
  const hists = stats.map((s) => s.histogram);
  const pooled = pool(hists);
  const leaveOneOut = hists.map((h, i) => wasserstein1(h, pool(hists.filter((_, j) => j !== i))));
  const sorted = [...leaveOneOut].sort((x, y) => x - y);
  const threshold = sorted[Math.ceil(oodQuantile * sorted.length) - 1] as number;
  return { pooled, leaveOneOut, threshold };
}

const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2));

/** The intensity flags an image earns (empty when it passes), each with the value and threshold that decided it. */
export function intensityFlags(
  s: IntensityStats,
  t: HistogramThresholds = DEFAULT_HISTOGRAM_THRESHOLDS,
  reference?: ReferenceHistogram,
): FlagReason<IntensityFlag>[] {
  const flags: FlagReason<IntensityFlag>[] = [];
  if (s.std < t.blankStd) flags.push({ flag: 'blank', detail: `intensity std ${fmt(s.std)} < ${fmt(t.blankStd)}` });
  const clipped = s.fractionBlack + s.fractionWhite;
  if (clipped > t.saturatedFraction) {
    flags.push({
      flag: 'saturated',
      detail: `${(100 * clipped).toFixed(1)}% of pixels clipped (black ${(100 * s.fractionBlack).toFixed(1)}%, white ${(100 * s.fractionWhite).toFixed(1)}%) > ${(100 * t.saturatedFraction).toFixed(1)}%`,
    });
  }
  const spread = s.p99 - s.p1;
  if (spread < t.lowContrastRange) flags.push({ flag: 'low-contrast', detail: `p99 - p1 = ${fmt(spread)} < ${fmt(t.lowContrastRange)}` });
  if (reference) {
    const d = wasserstein1(s.histogram, reference.pooled);
    if (d > reference.threshold) {
      flags.push({
        flag: 'out-of-distribution',
        detail: `histogram W1 to the reference ${fmt(d)} > ${fmt(reference.threshold)} (the reference images' own leave-one-out limit)`,
      });
    }
  }
  return flags;
}
