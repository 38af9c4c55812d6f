/**
 * MONAI 1.4 `sliding_window_inference` as MedVAE calls it (`sw_batch_size=1`, `mode="gaussian"`, every other
 * argument at its default: overlap 0.25, sigma_scale 0.125, constant zero padding), with the window size of
 * MedVAE's `roi_size_calc`. Windows run one at a time and their outputs are blended on the host, so only one
 * window's activations ever live on the GPU.
 *
 * Reproduced details: the window grid of `dense_patch_slices` (windows clamped to the end of each axis, in
 * C order); the importance map (a product of float32 1D Gaussians exp(x² / (-2σ²)), σ = 0.125·size, floored
 * at max(min, 1e-3)); outputs at another resolution than the input (the latent): the map is resized to the
 * output window by torch `nearest-exact`, window bounds scale by `int(start·zoom)`, `int(stop·zoom)`, and the
 * output size is `int(size·zoom)`; the count map is built from all windows before the first is added; the
 * blend is `Σ w·p / Σ w` in float32, in window order; padding (window larger than the image) is cut off again.
 */
import { MedgpuError, ShapeError } from '../../runtime/errors.js';
import { contiguousStrides } from '../../runtime/tensor.js';

const f = Math.fround;

/** MedVAE `roi_size_calc`: a side above `gpuDim` is divided by the smallest power of 2 that brings it below. */
export function roiSizeCalc(shape: readonly number[], gpuDim = 160): number[] {
  return shape.map((dim) => {
    if (dim <= gpuDim) return dim;
    for (let power = 1; power <= 128; power *= 2) if (Math.floor(dim / power) < gpuDim) return Math.floor(dim / power);
    throw new MedgpuError('BAD_ARGUMENT', `a side of ${dim} voxels is too large for MedVAE's window rule (more than 128 × ${gpuDim})`);
  });
}

/** MONAI `_get_scan_interval`. */
export function scanInterval(imageSize: readonly number[], roi: readonly number[], overlap: number): number[] {
  return roi.map((r, i) => {
    if (r === imageSize[i]) return r;
    const interval = Math.trunc(r * (1 - overlap));
    return interval > 0 ? interval : 1;
  });
}

/** MONAI `dense_patch_slices`: window start corners, first axis slowest. */
export function windowStarts(imageSize: readonly number[], roi: readonly number[], interval: readonly number[]): number[][] {
  const perAxis = imageSize.map((size, i) => {
    const patch = Math.min(size, roi[i] as number);
    const step = interval[i] as number;
    let count = 1;
    if (step !== 0) {
      const num = Math.ceil(size / step);
      count = 1;
      for (let d = 0; d < num; d++) {
        if (d * step + patch >= size) {
          count = d + 1;
          break;
        }
      }
    }
    return Array.from({ length: count }, (_, k) => k * step - Math.max(k * step + patch - size, 0));
  });
  let out: number[][] = [[]];
  for (const starts of perAxis) out = out.flatMap((prefix) => starts.map((s) => [...prefix, s]));
  return out;
}

/** MONAI `compute_importance_map(mode="gaussian")`, float32, C order over `size`. */
export function gaussianImportanceMap(size: readonly number[], sigmaScale = 0.125): Float32Array {
  const axes = size.map((n) => {
    const sigma = n * sigmaScale;
    const denom = f(-2 * sigma ** 2);
    return Float32Array.from({ length: n }, (_, i) => {
      const x = -(n - 1) / 2 + i;
      return f(Math.exp(f(f(x * x) / denom)));
    });
  });
  let map = axes[0] as Float32Array;
  let shape = [map.length];
  for (let k = 1; k < axes.length; k++) {
    const ax = axes[k] as Float32Array;
    const next = new Float32Array(map.length * ax.length);
    for (let i = 0; i < map.length; i++)
      for (let j = 0; j < ax.length; j++) next[i * ax.length + j] = f((map[i] as number) * (ax[j] as number));
    map = next;
    shape = [...shape, ax.length];
  }
  let mn = Number.POSITIVE_INFINITY;
  for (const v of map) if (v < mn) mn = v;
  const floor = f(Math.max(mn, 1e-3));
  return map.map((v) => Math.max(v, floor));
}

/** torch `F.interpolate(mode="nearest-exact")` of a C-order map to another size (float32 index math). */
export function resizeNearestExact(map: Float32Array, from: readonly number[], to: readonly number[]): Float32Array {
  const idx = to.map((n, a) => {
    const scale = f((from[a] as number) / n);
    return Int32Array.from({ length: n }, (_, o) => Math.min(Math.floor(f(f(o + 0.5) * scale)), (from[a] as number) - 1));
  });
  const out = new Float32Array(to.reduce((x, y) => x * y, 1));
  const strides = contiguousStrides(from);
  forEachIndex(to, (pos, o) => {
    let src = 0;
    for (let a = 0; a < pos.length; a++) src += ((idx[a] as Int32Array)[pos[a] as number] as number) * (strides[a] as number);
    out[o] = map[src] as number;
  });
  return out;
}

/** A channels-first host array: [C, ...spatial]. */
export interface HostGrid {
  channels: number;
  spatial: number[];
  data: Float32Array;
}

export interface SlidingWindowOptions {
  roiSize: readonly number[];
  overlap?: number;
  sigmaScale?: number;
  mode?: 'gaussian' | 'constant';
  /** Called after each window with (done, total). */
  onWindow?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Runs on one window [C, ...roi]; returns one or more outputs, each [C', ...size'] (size' may differ). */
export type WindowPredictor = (window: HostGrid, index: number) => Promise<HostGrid[]>;

interface Accumulator {
  out: Float32Array;
  count: Float32Array;
  channels: number;
  spatial: number[];
  zoom: number[] | null;
}

/** `sliding_window_inference(inputs, roi, 1, predictor, mode="gaussian")` over one image [C, ...spatial]. */
export async function slidingWindowInference(input: HostGrid, predictor: WindowPredictor, opts: SlidingWindowOptions): Promise<HostGrid[]> {
  const nd = input.spatial.length;
  const overlap = opts.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) throw new MedgpuError('BAD_ARGUMENT', `overlap must be >= 0 and < 1, got ${overlap}`);
  const roi = input.spatial.map((s, i) => {
    const r = opts.roiSize[i];
    return r === undefined || r <= 0 ? s : r;
  });
  const imageSize = input.spatial.map((s, i) => Math.max(s, roi[i] as number));
  const padBefore = input.spatial.map((s, i) => Math.floor(Math.max((roi[i] as number) - s, 0) / 2));
  const padded = imageSize.some((s, i) => s !== input.spatial[i]);
  const src = padded ? padGrid(input, imageSize, padBefore) : input;
  const starts = windowStarts(imageSize, roi, scanInterval(imageSize, roi, overlap));
  const patch = imageSize.map((s, i) => Math.min(s, roi[i] as number));
  const importance =
    opts.mode === 'constant' ? new Float32Array(patch.reduce((a, b) => a * b, 1)).fill(1) : gaussianImportanceMap(patch, opts.sigmaScale);
  const accs: Accumulator[] = [];
  for (const [w, start] of starts.entries()) {
    if (opts.signal?.aborted) throw new MedgpuError('CANCELLED', 'sliding-window inference was cancelled');
    const outs = await predictor(extractWindow(src, start, patch), w);
    let wt = importance;
    let wtShape = patch;
    outs.forEach((o, ss) => {
      if (o.spatial.length !== nd)
        throw new ShapeError(`sliding window: output ${ss} has ${o.spatial.length} spatial axes, the input ${nd}`);
      let zoom: number[] | null = null;
      if (o.spatial.some((s, i) => s !== roi[i])) {
        zoom = o.spatial.map((s, i) => s / (roi[i] as number));
        // MONAI resizes the map it used last (so outputs must come full-resolution first).
        wt = resizeNearestExact(wt, wtShape, o.spatial);
        wtShape = o.spatial;
      } else if (wtShape.some((s, i) => s !== roi[i])) {
        throw new ShapeError(
          `sliding window: output ${ss} has the window's size but comes after a resized output; MONAI cannot blend that order (return full-resolution outputs first)`,
        );
      }
      let acc = accs[ss];
      if (!acc) {
        const spatial = zoom ? imageSize.map((s, i) => Math.trunc(s * (zoom as number[])[i]!)) : [...imageSize];
        const n = spatial.reduce((a, b) => a * b, 1);
        acc = { out: new Float32Array(n * o.channels), count: new Float32Array(n), channels: o.channels, spatial, zoom };
        for (const s of starts) addBox(acc.count, spatial, zoomBox(s, patch, zoom, o.spatial), wt, 0, null);
        accs[ss] = acc;
      }
      if (o.channels !== acc.channels)
        throw new ShapeError(`sliding window: output ${ss} has ${o.channels} channels in window ${w}, ${acc.channels} before`);
      for (let c = 0; c < o.channels; c++) addBox(acc.out, acc.spatial, zoomBox(start, patch, zoom, o.spatial), wt, c, o);
    });
    opts.onWindow?.(w + 1, starts.length);
  }
  return accs.map((acc) => {
    const n = acc.count.length;
    for (let c = 0; c < acc.channels; c++)
      for (let i = 0; i < n; i++) acc.out[c * n + i] = f((acc.out[c * n + i] as number) / (acc.count[i] as number));
    const grid: HostGrid = { channels: acc.channels, spatial: acc.spatial, data: acc.out };
    if (!padded) return grid;
    // MONAI scales by output size / window size (not the window zoom): exact on padded axes, and on the others
    // the upper bound lands past the end, where Python slicing clamps it.
    const zoom = acc.spatial.map((s, i) => s / (roi[i] as number));
    const hi = padBefore.map((p, i) =>
      Math.min(roundHalfEven((p + (input.spatial[i] as number)) * (zoom[i] as number)), acc.spatial[i] as number),
    );
    const lo = padBefore.map((p, i) => Math.min(roundHalfEven(p * (zoom[i] as number)), hi[i] as number));
    return cropGrid(grid, lo, hi);
  });
}

/** The output-resolution box of a window, checked against the output window's size (MONAI would fail to add). */
function zoomBox(
  start: readonly number[],
  patch: readonly number[],
  zoom: number[] | null,
  outSize: readonly number[],
): { lo: number[]; size: number[] } {
  if (!zoom) return { lo: [...start], size: [...patch] };
  const lo = start.map((s, i) => Math.trunc(s * (zoom[i] as number)));
  const hi = start.map((s, i) => Math.trunc((s + (patch[i] as number)) * (zoom[i] as number)));
  hi.forEach((h, i) => {
    if (h - (lo[i] as number) !== outSize[i]) {
      throw new ShapeError(
        `sliding window: a window at ${start[i]} on axis ${i} maps to output [${lo[i]}, ${h}) but the predictor returned ${outSize[i]} values; choose a window size divisible by the model's downsampling factor`,
      );
    }
  });
  return { lo, size: [...outSize] };
}

/** target[c][box] += w · p[c] (or += w when `p` is null), in float32; walks the box in runs along the last axis. */
function addBox(
  target: Float32Array,
  spatial: readonly number[],
  box: { lo: number[]; size: number[] },
  w: Float32Array,
  c: number,
  p: HostGrid | null,
): void {
  const n = spatial.reduce((a, b) => a * b, 1);
  const strides = contiguousStrides(spatial);
  const last = box.size.length - 1;
  const run = box.size[last] as number;
  const pn = box.size.reduce((a, b) => a * b, 1);
  const pdata = p?.data;
  forEachIndex(box.size.slice(0, last), (pos, row) => {
    let t = c * n + (box.lo[last] as number);
    for (let a = 0; a < pos.length; a++) t += ((box.lo[a] as number) + (pos[a] as number)) * (strides[a] as number);
    const wi = row * run;
    if (pdata) {
      const pi = c * pn + wi;
      for (let k = 0; k < run; k++) target[t + k] = f((target[t + k] as number) + f((pdata[pi + k] as number) * (w[wi + k] as number)));
    } else {
      for (let k = 0; k < run; k++) target[t + k] = f((target[t + k] as number) + (w[wi + k] as number));
    }
  });
}

function extractWindow(src: HostGrid, start: readonly number[], size: readonly number[]): HostGrid {
  const n = src.spatial.reduce((a, b) => a * b, 1);
  const wn = size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(wn * src.channels);
  const strides = contiguousStrides(src.spatial);
  const last = size.length - 1;
  const run = size[last] as number;
  for (let c = 0; c < src.channels; c++) {
    forEachIndex(size.slice(0, last), (pos, row) => {
      let s = c * n + (start[last] as number);
      for (let a = 0; a < pos.length; a++) s += ((start[a] as number) + (pos[a] as number)) * (strides[a] as number);
      out.set(src.data.subarray(s, s + run), c * wn + row * run);
    });
  }
  return { channels: src.channels, spatial: [...size], data: out };
}

function padGrid(src: HostGrid, size: readonly number[], before: readonly number[]): HostGrid {
  const n = size.reduce((a, b) => a * b, 1);
  const sn = src.spatial.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * src.channels);
  const strides = contiguousStrides(size);
  for (let c = 0; c < src.channels; c++) {
    forEachIndex(src.spatial, (pos, i) => {
      let t = c * n;
      for (let a = 0; a < pos.length; a++) t += ((pos[a] as number) + (before[a] as number)) * (strides[a] as number);
      out[t] = src.data[c * sn + i] as number;
    });
  }
  return { channels: src.channels, spatial: [...size], data: out };
}

function cropGrid(src: HostGrid, lo: readonly number[], hi: readonly number[]): HostGrid {
  const size = hi.map((h, i) => h - (lo[i] as number));
  return extractWindow(src, lo, size);
}

/** Python's `round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Calls fn(position, linearIndex) for every position of `shape` in C order. */
function forEachIndex(shape: readonly number[], fn: (pos: number[], i: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const pos = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(pos, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      pos[d] = (pos[d] as number) + 1;
      if ((pos[d] as number) < (shape[d] as number)) break;
      pos[d] = 0;
    }
  }
}
