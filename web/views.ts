/**
 * Pictures of host arrays: a generated RGB image, and gray views of channels-first grids (`HostGrid`: 2D
 * images, and for 3D volumes, which medgpu holds in RAS order [R, A, S], the three middle slices shown the
 * radiological way: patient's right on the left, anterior / superior at the top).
 */
import type { HostGrid } from '../src/browser.js';

/** Draws an HWC RGB image in [0, 1] onto `canvas` (resized to it). */
export function drawRgb(canvas: HTMLCanvasElement, hwc: Float32Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const img = ctx.createImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) img.data[p * 4 + c] = Math.round(Math.min(1, Math.max(0, hwc[p * 3 + c] as number)) * 255);
    img.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** A rows × cols gray picture; `at(row, col)` gives a value mapped from [lo, hi] to black..white. */
function grayCanvas(rows: number, cols: number, at: (r: number, c: number) => number, lo: number, hi: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const img = ctx.createImageData(cols, rows);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.round(Math.min(255, Math.max(0, (at(r, c) - lo) * scale)));
      const o = (r * cols + c) * 4;
      img.data[o] = v;
      img.data[o + 1] = v;
      img.data[o + 2] = v;
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

export function channelRange(g: HostGrid, channel: number): [number, number] {
  const n = g.spatial.reduce((a, b) => a * b, 1);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = channel * n; i < (channel + 1) * n; i++) {
    const v = g.data[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export interface View {
  canvas: HTMLCanvasElement;
  label: string;
}

/**
 * The pictures of one channel: the image itself (2D), or the axial, coronal and sagittal middle slices (3D).
 * Values in [lo, hi] span black to white (default: the channel's own range).
 */
export function channelViews(g: HostGrid, channel: number, range: [number, number] = channelRange(g, channel)): View[] {
  const [lo, hi] = range;
  const n = g.spatial.reduce((a, b) => a * b, 1);
  const base = channel * n;
  if (g.spatial.length === 2) {
    const [h, w] = g.spatial as [number, number];
    return [{ canvas: grayCanvas(h, w, (r, c) => g.data[base + r * w + c] as number, lo, hi), label: `${w}×${h}` }];
  }
  const [R, A, S] = g.spatial as [number, number, number];
  const v = (r: number, a: number, s: number) => g.data[base + (r * A + a) * S + s] as number;
  const [mr, ma, ms] = [R >> 1, A >> 1, S >> 1];
  return [
    { canvas: grayCanvas(A, R, (row, col) => v(R - 1 - col, A - 1 - row, ms), lo, hi), label: `axial ${ms + 1}/${S}` },
    { canvas: grayCanvas(S, R, (row, col) => v(R - 1 - col, ma, S - 1 - row), lo, hi), label: `coronal ${ma + 1}/${A}` },
    { canvas: grayCanvas(S, A, (row, col) => v(mr, A - 1 - col, S - 1 - row), lo, hi), label: `sagittal ${mr + 1}/${R}` },
  ];
}

/**
 * The pictures of a whole input or reconstruction on the model's [-1, 1] scale: a 3-channel 2D image in colour,
 * otherwise channel 0 (the one channel of the gray and 3D models).
 */
export function imageViews(g: HostGrid): View[] {
  if (g.channels !== 3 || g.spatial.length !== 2) return channelViews(g, 0, [-1, 1]);
  const [h, w] = g.spatial as [number, number];
  const n = h * w;
  const hwc = new Float32Array(n * 3);
  for (let c = 0; c < 3; c++) for (let p = 0; p < n; p++) hwc[p * 3 + c] = ((g.data[c * n + p] as number) + 1) / 2;
  const canvas = document.createElement('canvas');
  drawRgb(canvas, hwc, w, h);
  return [{ canvas, label: `${w}×${h} RGB` }];
}

/**
 * Replaces the children of `host` with the views, each titled by its label, all at one scale: the longest side
 * among them is shown `size` CSS pixels long (so the slices of a volume keep their proportions to each other).
 */
export function showViews(host: HTMLElement, views: readonly View[], size: number): void {
  const longest = Math.max(1, ...views.map((v) => Math.max(v.canvas.width, v.canvas.height)));
  const scale = size / longest;
  host.replaceChildren(
    ...views.map((v) => {
      v.canvas.title = v.label;
      v.canvas.style.width = `${Math.round(v.canvas.width * scale)}px`;
      return v.canvas;
    }),
  );
}
