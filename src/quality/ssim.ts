/**
 * SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) on grayscale planes:
 *
 * - local statistics under an 11×11 Gaussian window, σ = 1.5 (taps exp(-k²/2σ²), k = -5…5, normalised), applied
 *   separably and only where the window fits inside the image ("valid"), so the map is (W-10)×(H-10);
 * - population (not sample) covariances, K1 = 0.01, K2 = 0.03, C = (K·L)² with data range L (default 1: planes
 *   are in [0, 1]);
 * - SSIM = mean over the map of l·cs, and cs = mean of the contrast-structure term alone (for MS-SSIM).
 *
 * This is exactly scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=L)` (it filters with reflected borders and then averages only the
 * positions 5 pixels from every border, which never read a reflected pixel) and pytorch_msssim's `ssim`
 * (valid convolution). Accumulation is in float64.
 *
 * Comparing one image with many (nearest neighbours, all pairs of a prompt) repeats the per-image work, so it is
 * split out: `prepareSsim` filters x and x² once per image; a pair then filters only x·y.
 */
import { ShapeError } from '../runtime/errors.js';
import type { Plane } from './plane.js';

export const SSIM_SIGMA = 1.5;
export const SSIM_RADIUS = 5;
export const SSIM_WINDOW = 2 * SSIM_RADIUS + 1;
export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;

export const GAUSSIAN_TAPS: Float64Array = (() => {
  const w = Float64Array.from({ length: SSIM_WINDOW }, (_, i) => Math.exp(-((i - SSIM_RADIUS) ** 2) / (2 * SSIM_SIGMA * SSIM_SIGMA)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
})();

export interface SsimOptions {
  /** The intensity range L of the planes. Default 1. */
  dataRange?: number;
}

export interface SsimResult {
  /** Mean of the SSIM map (luminance × contrast-structure). */
  ssim: number;
  /** Mean of the contrast-structure map. */
  cs: number;
}

/** A plane with its Gaussian-filtered mean and mean of squares (valid region). */
export interface SsimPrepared {
  plane: Plane;
  mu: Float64Array;
  meanSq: Float64Array;
}

export function checkSsimSize(width: number, height: number, what = 'SSIM'): void {
  if (width < SSIM_WINDOW || height < SSIM_WINDOW) {
    throw new ShapeError(
      `${what}: a ${width}x${height} image is smaller than SSIM's ${SSIM_WINDOW}x${SSIM_WINDOW} Gaussian window; use images of at least ${SSIM_WINDOW} pixels per side`,
    );
  }
}

// Scratch buffers reused across calls (the metrics are synchronous, so one set is enough): no per-pair allocation.
let scratchProduct: Float64Array = new Float64Array(0);
let scratchRows: Float64Array = new Float64Array(0);

function grow(buf: Float64Array, n: number): Float64Array {
  return buf.length >= n ? buf : new Float64Array(Math.max(n, buf.length * 2));
}

/**
 * Valid separable Gaussian filtering of a width×height array: rows first (into `scratchRows`), then columns,
 * into `out` ((width-10)·(height-10) values).
 */
function filterValid(src: ArrayLike<number>, width: number, height: number, out: Float64Array): Float64Array {
  const ow = width - 2 * SSIM_RADIUS;
  const oh = height - 2 * SSIM_RADIUS;
  scratchRows = grow(scratchRows, ow * height);
  const rows = scratchRows;
  const t = GAUSSIAN_TAPS;
  for (let y = 0; y < height; y++) {
    const r = y * width;
    const o = y * ow;
    for (let x = 0; x < ow; x++) {
      let acc = 0;
      for (let k = 0; k < SSIM_WINDOW; k++) acc += (t[k] as number) * (src[r + x + k] as number);
      rows[o + x] = acc;
    }
  }
  out.fill(0, 0, ow * oh);
  for (let y = 0; y < oh; y++) {
    const o = y * ow;
    for (let k = 0; k < SSIM_WINDOW; k++) {
      const w = t[k] as number;
      const s = (y + k) * ow;
      for (let x = 0; x < ow; x++) out[o + x] = (out[o + x] as number) + w * (rows[s + x] as number);
    }
  }
  return out;
}

/** Filters the plane and its square once, for any number of comparisons. */
export function prepareSsim(p: Plane): SsimPrepared {
  checkSsimSize(p.width, p.height);
  const n = (p.width - 2 * SSIM_RADIUS) * (p.height - 2 * SSIM_RADIUS);
  const mu = filterValid(p.data, p.width, p.height, new Float64Array(n));
  scratchProduct = grow(scratchProduct, p.data.length);
  for (let i = 0; i < p.data.length; i++) scratchProduct[i] = (p.data[i] as number) * (p.data[i] as number);
  const meanSq = filterValid(scratchProduct, p.width, p.height, new Float64Array(n));
  return { plane: p, mu, meanSq };
}

let scratchCross: Float64Array = new Float64Array(0);

/** SSIM and mean cs of two prepared planes of the same size. */
export function ssimPrepared(a: SsimPrepared, b: SsimPrepared, opts: SsimOptions = {}): SsimResult {
  const { width, height } = a.plane;
  if (b.plane.width !== width || b.plane.height !== height) {
    throw new ShapeError(`SSIM: the images are ${width}x${height} and ${b.plane.width}x${b.plane.height}; resize them to one size first`);
  }
  const range = opts.dataRange ?? 1;
  const c1 = (SSIM_K1 * range) ** 2;
  const c2 = (SSIM_K2 * range) ** 2;
  const n = a.mu.length;
  const x = a.plane.data;
  const y = b.plane.data;
  scratchProduct = grow(scratchProduct, x.length);
  for (let i = 0; i < x.length; i++) scratchProduct[i] = (x[i] as number) * (y[i] as number);
  scratchCross = grow(scratchCross, n);
  const cross = filterValid(scratchProduct, width, height, scratchCross);
  let sumSsim = 0;
  let sumCs = 0;
  for (let i = 0; i < n; i++) {
    const ux = a.mu[i] as number;
    const uy = b.mu[i] as number;
    const vx = (a.meanSq[i] as number) - ux * ux;
    const vy = (b.meanSq[i] as number) - uy * uy;
    const vxy = (cross[i] as number) - ux * uy;
    const cs = (2 * vxy + c2) / (vx + vy + c2);
    sumCs += cs;
    sumSsim += ((2 * ux * uy + c1) / (ux * ux + uy * uy + c1)) * cs;
  }
  return { ssim: sumSsim / n, cs: sumCs / n };
}

/** SSIM and mean cs of two planes of the same size. */
export function ssimAndCs(a: Plane, b: Plane, opts: SsimOptions = {}): SsimResult {
  if (a.width !== b.width || a.height !== b.height) {
    throw new ShapeError(`SSIM: the images are ${a.width}x${a.height} and ${b.width}x${b.height}; resize them to one size first`);
  }
  return ssimPrepared(prepareSsim(a), prepareSsim(b), opts);
}

/** Mean SSIM of two planes of the same size (1 for identical planes). */
export function ssimPlanes(a: Plane, b: Plane, opts: SsimOptions = {}): number {
  return ssimAndCs(a, b, opts).ssim;
}
