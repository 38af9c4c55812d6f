/**
 * Reconstruction quality of a MedVAE round trip, measured in the model's [-1, 1] space against the
 * preprocessed input (so the data range is 2 whatever the file's bit depth or modality):
 *
 * - PSNR = 10·log10(range² / MSE);
 * - SSIM as scikit-image `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 *   data_range=2)`: Gaussian-weighted local statistics (11 taps per axis: truncate 3.5σ, scipy's `reflect`
 *   borders), K1 = 0.01, K2 = 0.03, averaged over the positions at least 5 voxels from every border. Works in
 *   2D and 3D alike; channels are averaged.
 */
import { ShapeError } from '../../runtime/errors.js';
import { contiguousStrides } from '../../runtime/tensor.js';
import type { HostGrid } from './sliding-window.js';

export const DATA_RANGE = 2;

function sameShape(a: HostGrid, b: HostGrid, what: string): void {
  if (a.channels !== b.channels || a.spatial.length !== b.spatial.length || a.spatial.some((s, i) => s !== b.spatial[i])) {
    throw new ShapeError(`${what}: [${a.channels}, ${a.spatial}] and [${b.channels}, ${b.spatial}] differ`);
  }
}

export function psnr(recon: HostGrid, ref: HostGrid, range = DATA_RANGE): number {
  sameShape(recon, ref, 'PSNR');
  let se = 0;
  for (let i = 0; i < ref.data.length; i++) se += ((recon.data[i] as number) - (ref.data[i] as number)) ** 2;
  const mse = se / ref.data.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((range * range) / mse);
}

function gaussianTaps(sigma: number): Float64Array {
  const radius = Math.trunc(3.5 * sigma + 0.5);
  const w = Float64Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/** scipy.ndimage 'reflect' (d c b a | a b c d | d c b a) index. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/** Separable correlation of a C-order array with `taps` along every axis. */
function gaussianFilter(data: Float64Array, shape: readonly number[], taps: Float64Array): Float64Array {
  let cur = data;
  const r = (taps.length - 1) / 2;
  const strides = contiguousStrides(shape);
  for (let a = 0; a < shape.length; a++) {
    const n = shape[a] as number;
    const st = strides[a] as number;
    const out = new Float64Array(cur.length);
    for (let i = 0; i < cur.length; i++) {
      const pos = Math.floor(i / st) % n;
      const base = i - pos * st;
      let acc = 0;
      for (let k = -r; k <= r; k++) acc += (taps[k + r] as number) * (cur[base + reflect(pos + k, n) * st] as number);
      out[i] = acc;
    }
    cur = out;
  }
  return cur;
}

export function ssim(recon: HostGrid, ref: HostGrid, range = DATA_RANGE, sigma = 1.5): number {
  sameShape(recon, ref, 'SSIM');
  const taps = gaussianTaps(sigma);
  const pad = (taps.length - 1) / 2;
  const shape = ref.spatial;
  const n = shape.reduce((a, b) => a * b, 1);
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  let total = 0;
  let count = 0;
  for (let c = 0; c < ref.channels; c++) {
    const x = Float64Array.from(recon.data.subarray(c * n, (c + 1) * n));
    const y = Float64Array.from(ref.data.subarray(c * n, (c + 1) * n));
    const mx = gaussianFilter(x, shape, taps);
    const my = gaussianFilter(y, shape, taps);
    const mxx = gaussianFilter(
      x.map((v) => v * v),
      shape,
      taps,
    );
    const myy = gaussianFilter(
      y.map((v) => v * v),
      shape,
      taps,
    );
    const mxy = gaussianFilter(
      x.map((v, i) => v * (y[i] as number)),
      shape,
      taps,
    );
    const strides = contiguousStrides(shape);
    for (let i = 0; i < n; i++) {
      let inside = true;
      for (let a = 0; a < shape.length && inside; a++) {
        const pos = Math.floor(i / (strides[a] as number)) % (shape[a] as number);
        inside = pos >= pad && pos < (shape[a] as number) - pad;
      }
      if (!inside) continue;
      const ux = mx[i] as number;
      const uy = my[i] as number;
      const vx = (mxx[i] as number) - ux * ux;
      const vy = (myy[i] as number) - uy * uy;
      const vxy = (mxy[i] as number) - ux * uy;
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  }
  if (count === 0) throw new ShapeError(`SSIM: the image [${shape}] is too small for an ${taps.length}-tap window`);
  return total / count;
}
