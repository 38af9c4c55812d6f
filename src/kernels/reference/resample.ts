/** Naive CPU references for nearest ×2 upsampling and zero padding (channels-last). */
import type { Shape } from '../../runtime/tensor.js';

function offsetOf(idx: readonly number[], shape: Shape): number {
  let o = 0;
  for (let k = 0; k < shape.length; k++) o = o * (shape[k] as number) + (idx[k] as number);
  return o;
}

function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % (shape[k] as number);
    i = Math.floor(i / (shape[k] as number));
  }
  return idx;
}

/** torch `interpolate(scale_factor=2, mode="nearest")` on every axis but the first (batch) and last (channels). */
export function upsampleNearest2xRef(x: ArrayLike<number>, shape: Shape): { data: Float64Array; shape: number[] } {
  const last = shape.length - 1;
  const out = shape.map((s, k) => (k === 0 || k === last ? s : 2 * s));
  const n = out.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out).map((v, k) => (k === 0 || k === last ? v : Math.floor(v / 2)));
    data[i] = x[offsetOf(idx, shape)] as number;
  }
  return { data, shape: out };
}

/** Constant-zero padding with `[before, after]` per axis. */
export function padRef(x: ArrayLike<number>, shape: Shape, pads: ReadonlyArray<readonly [number, number]>) {
  const out = shape.map((s, k) => s + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0));
  const n = out.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out).map((v, k) => v - (pads[k]?.[0] ?? 0));
    const inside = idx.every((v, k) => v >= 0 && v < (shape[k] as number));
    data[i] = inside ? (x[offsetOf(idx, shape)] as number) : 0;
  }
  return { data, shape: out };
}
