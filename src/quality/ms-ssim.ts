/**
 * MS-SSIM (Wang, Simoncelli, Bovik 2003) with the conventions of the reference implementation pytorch_msssim
 * (`ms_ssim`, v1.0), so values compare with the numbers papers report from it:
 *
 * - 5 scales, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
 * - at each scale the SSIM of `ssim.ts` (11×11 Gaussian σ = 1.5, valid region); the mean cs of scales 1…4 and the
 *   mean SSIM (l·cs) of the last scale, each clamped at 0 (pytorch_msssim's ReLU; a negative base would make the
 *   fractional power NaN), combined as Π termᵢ^weightᵢ;
 * - between scales a 2×2 average pooling with stride 2 (`avg_pool2d(kernel_size=2, padding=(H%2, W%2))`): an odd
 *   side is padded by one zero on each end and every output is divided by 4, the zeros included
 *   (`count_include_pad`), so side n becomes ⌈n/2⌉.
 *
 * Images too small for 5 scales (the last scale needs 11 pixels per side, i.e. a smaller side above 160) use the
 * first k scales that fit, with their weights renormalised to sum to 1 (k reported in the result); pytorch_msssim
 * refuses such images instead. Pass `scales` to demand an exact number (an error if it does not fit). A side
 * under 11 pixels fits no scale and is an error.
 */
import { ShapeError } from '../runtime/errors.js';
import type { Plane } from './plane.js';
import { SSIM_WINDOW, type SsimOptions, type SsimPrepared, checkSsimSize, prepareSsim, ssimPrepared } from './ssim.js';

export const MS_SSIM_WEIGHTS: readonly number[] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

export interface MsSsimOptions extends SsimOptions {
  /** Exactly this many scales (1-5); default: as many as fit, at most 5. */
  scales?: number;
}

export interface MsSsimResult {
  value: number;
  /** The scales used (5 unless the images are small). */
  scales: number;
}

/** One image's SSIM statistics at every scale. */
export interface MsSsimPrepared {
  levels: SsimPrepared[];
}

/** pytorch_msssim's between-scale pooling: 2×2 mean, odd sides zero-padded on both ends, divisor always 4. */
export function downsample2x(p: Plane): Plane {
  const padY = p.height % 2;
  const padX = p.width % 2;
  const width = (p.width + padX) / 2;
  const height = (p.height + padY) / 2;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const y0 = 2 * y - padY;
    for (let x = 0; x < width; x++) {
      const x0 = 2 * x - padX;
      let acc = 0;
      for (let dy = 0; dy < 2; dy++) {
        const yy = y0 + dy;
        if (yy < 0 || yy >= p.height) continue;
        for (let dx = 0; dx < 2; dx++) {
          const xx = x0 + dx;
          if (xx >= 0 && xx < p.width) acc += p.data[yy * p.width + xx] as number;
        }
      }
      out[y * width + x] = acc / 4;
    }
  }
  return { width, height, data: out };
}

/** How many scales (at most 5) a width×height image has room for. */
export function msSsimScalesThatFit(width: number, height: number): number {
  let k = 0;
  let w = width;
  let h = height;
  while (k < MS_SSIM_WEIGHTS.length && w >= SSIM_WINDOW && h >= SSIM_WINDOW) {
    k++;
    w = Math.ceil(w / 2);
    h = Math.ceil(h / 2);
  }
  return k;
}

function resolveScales(width: number, height: number, scales: number | undefined): number {
  checkSsimSize(width, height, 'MS-SSIM');
  const fit = msSsimScalesThatFit(width, height);
  if (scales === undefined) return fit;
  if (!Number.isInteger(scales) || scales < 1 || scales > MS_SSIM_WEIGHTS.length) {
    throw new ShapeError(`MS-SSIM: scales must be an integer from 1 to ${MS_SSIM_WEIGHTS.length}, got ${scales}`);
  }
  if (scales > fit) {
    throw new ShapeError(
      `MS-SSIM: a ${width}x${height} image has room for ${fit} scales, not ${scales} (the coarsest needs ${SSIM_WINDOW} pixels per side); use larger images or fewer scales`,
    );
  }
  return scales;
}

/** The image's pyramid with the per-image SSIM statistics of each level. */
export function prepareMsSsim(p: Plane, opts: { scales?: number } = {}): MsSsimPrepared {
  const k = resolveScales(p.width, p.height, opts.scales);
  const levels: SsimPrepared[] = [];
  let cur = p;
  for (let i = 0; i < k; i++) {
    levels.push(prepareSsim(cur));
    if (i < k - 1) cur = downsample2x(cur);
  }
  return { levels };
}

/** MS-SSIM of two prepared images (prepared with the same number of scales). */
export function msSsimPrepared(a: MsSsimPrepared, b: MsSsimPrepared, opts: SsimOptions = {}): MsSsimResult {
  const k = a.levels.length;
  if (b.levels.length !== k) throw new ShapeError(`MS-SSIM: the images were prepared with ${k} and ${b.levels.length} scales`);
  const total = MS_SSIM_WEIGHTS.slice(0, k).reduce((s, w) => s + w, 0);
  let value = 1;
  for (let i = 0; i < k; i++) {
    const r = ssimPrepared(a.levels[i] as SsimPrepared, b.levels[i] as SsimPrepared, opts);
    const term = Math.max(0, i < k - 1 ? r.cs : r.ssim);
    value *= term ** ((MS_SSIM_WEIGHTS[i] as number) / total);
  }
  return { value, scales: k };
}

/** MS-SSIM of two planes of the same size. */
export function msSsim(a: Plane, b: Plane, opts: MsSsimOptions = {}): MsSsimResult {
  if (a.width !== b.width || a.height !== b.height) {
    throw new ShapeError(`MS-SSIM: the images are ${a.width}x${a.height} and ${b.width}x${b.height}; resize them to one size first`);
  }
  const scales = resolveScales(a.width, a.height, opts.scales);
  return msSsimPrepared(prepareMsSsim(a, { scales }), prepareMsSsim(b, { scales }), opts);
}
