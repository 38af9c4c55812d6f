/** Naive CPU references for the layout kernels (permute, slice, concat, GEGLU), in float64. */
import { type Shape, contiguousStrides } from '../../runtime/tensor.js';
import { activation } from './elementwise.js';

/** Multi-index of linear index `i` in `shape`. */
function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % (shape[k] as number);
    i = Math.floor(i / (shape[k] as number));
  }
  return idx;
}

export function permuteRef(x: ArrayLike<number>, shape: Shape, perm: readonly number[]): { data: Float64Array; shape: number[] } {
  const out = perm.map((p) => shape[p] as number);
  const xs = contiguousStrides(shape);
  const n = out.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out);
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += (idx[k] as number) * (xs[perm[k] as number] as number);
    data[i] = x[src] as number;
  }
  return { data, shape: out };
}

export function sliceRef(x: ArrayLike<number>, shape: Shape, axis: number, start: number, end: number) {
  const out = shape.map((s, k) => (k === axis ? end - start : s));
  const xs = contiguousStrides(shape);
  const n = out.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out);
    idx[axis] = (idx[axis] as number) + start;
    data[i] = x[idx.reduce((a, v, k) => a + v * (xs[k] as number), 0)] as number;
  }
  return { data, shape: out };
}

export function concatRef(xs: ReadonlyArray<{ data: ArrayLike<number>; shape: Shape }>, axis: number) {
  const first = xs[0] as { shape: Shape };
  const total = xs.reduce((a, t) => a + (t.shape[axis] as number), 0);
  const out = first.shape.map((s, k) => (k === axis ? total : s));
  const n = out.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out);
    let a = idx[axis] as number;
    let t = 0;
    while (a >= ((xs[t] as { shape: Shape }).shape[axis] as number)) a -= (xs[t++] as { shape: Shape }).shape[axis] as number;
    const src = xs[t] as { data: ArrayLike<number>; shape: Shape };
    idx[axis] = a;
    const st = contiguousStrides(src.shape);
    data[i] = src.data[idx.reduce((acc, v, k) => acc + v * (st[k] as number), 0)] as number;
  }
  return { data, shape: out };
}

/** `x[..., :F] * gelu(x[..., F:])` (exact erf gelu) for rows of width 2F. */
export function gegluRef(x: ArrayLike<number>, twoF: number): Float64Array {
  const f = twoF / 2;
  const rows = x.length / twoF;
  const out = new Float64Array(rows * f);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < f; j++) out[r * f + j] = (x[r * twoF + j] as number) * activation('gelu', x[r * twoF + f + j] as number);
  }
  return out;
}
