/**
 * The one representation every quality metric works on: a grayscale plane of `Float32` intensities in [0, 1]
 * (so the SSIM data range is 1 whatever the file's bit depth). Colour images are reduced to luminance with
 * the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B, what PIL's `convert('L')` uses, without its rounding);
 * alpha is ignored. Medical images are grayscale, and Stable Diffusion writes them as RGB with three nearly
 * equal channels, so one luminance plane loses nothing that matters here and costs a third of per-channel SSIM.
 */
import type { Image } from '../io/image.js';
import { ShapeError } from '../runtime/errors.js';

export interface Plane {
  width: number;
  height: number;
  /** Row-major, `width · height` values in [0, 1]. */
  data: Float32Array;
}

export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** The image's luminance as a plane in [0, 1]. */
export function toPlane(img: Image): Plane {
  const { width, height, channels, data } = img;
  const max = img.bitDepth === 16 ? 65535 : 255;
  const n = width * height;
  const out = new Float32Array(n);
  if (channels <= 2) {
    for (let i = 0; i < n; i++) out[i] = (data[i * channels] as number) / max;
  } else {
    const [wr, wg, wb] = LUMA_WEIGHTS;
    for (let i = 0; i < n; i++) {
      const o = i * channels;
      out[i] = (wr * (data[o] as number) + wg * (data[o + 1] as number) + wb * (data[o + 2] as number)) / max;
    }
  }
  return { width, height, data: out };
}

/** A plane from raw values (tests, callers with their own decoding); checks the size. */
export function makePlane(width: number, height: number, data: Float32Array): Plane {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1 || data.length !== width * height) {
    throw new ShapeError(`plane ${width}x${height} needs ${width * height} values, got ${data.length}`);
  }
  return { width, height, data };
}

/**
 * Source spans of a 1D area resampling from `n` to `m` samples: output j averages the input interval
 * [j·n/m, (j+1)·n/m), each input sample weighted by its overlap. Works for shrinking and enlarging alike.
 */
function areaWeights(n: number, m: number): { start: Int32Array; count: Int32Array; weights: Float32Array; stride: number } {
  const scale = n / m;
  const stride = Math.ceil(scale) + 1;
  const start = new Int32Array(m);
  const count = new Int32Array(m);
  const weights = new Float32Array(m * stride);
  for (let j = 0; j < m; j++) {
    const a = j * scale;
    const b = (j + 1) * scale;
    const first = Math.floor(a);
    const last = Math.min(n - 1, Math.ceil(b) - 1);
    start[j] = first;
    count[j] = last - first + 1;
    for (let i = first; i <= last; i++) weights[j * stride + i - first] = (Math.min(b, i + 1) - Math.max(a, i)) / scale;
  }
  return { start, count, weights, stride };
}

/** Area (box-filter) resampling to `width × height`: anti-aliased when shrinking, piecewise constant when enlarging. */
export function resizeArea(p: Plane, width: number, height: number): Plane {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new ShapeError(`resize: target ${width}x${height} is not a positive integer size`);
  }
  if (width === p.width && height === p.height) return p;
  const wx = areaWeights(p.width, width);
  const wy = areaWeights(p.height, height);
  const tmp = new Float32Array(p.height * width);
  for (let y = 0; y < p.height; y++) {
    const row = y * p.width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      const s = wx.start[x] as number;
      const c = wx.count[x] as number;
      for (let k = 0; k < c; k++) acc += (wx.weights[x * wx.stride + k] as number) * (p.data[row + s + k] as number);
      tmp[y * width + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const s = wy.start[y] as number;
    const c = wy.count[y] as number;
    for (let k = 0; k < c; k++) {
      const w = wy.weights[y * wy.stride + k] as number;
      const src = (s + k) * width;
      for (let x = 0; x < width; x++) out[y * width + x] = (out[y * width + x] as number) + w * (tmp[src + x] as number);
    }
  }
  return { width, height, data: out };
}
