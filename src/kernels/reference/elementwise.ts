/** Naive CPU references for the elementwise kernels, in float64. */
import type { Shape } from '../../runtime/tensor.js';
import { type BinaryOp, type UnaryOp, broadcastShape } from '../elementwise.js';

export function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse; use a series/continued-fraction split accurate to ~1e-15.
  const z = Math.abs(x);
  let r: number;
  if (z < 2.5) {
    let sum = z;
    let term = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz).
    let f = 0;
    for (let n = 60; n >= 1; n--) f = n / 2 / (z + f);
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  }
  return x < 0 ? -r : r;
}

export function activation(op: UnaryOp, x: number): number {
  switch (op) {
    case 'identity':
      return x;
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'quick_gelu':
      return x / (1 + Math.exp(-1.702 * x));
    case 'relu':
      return Math.max(x, 0);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'tanh':
      return Math.tanh(x);
    case 'exp':
      return Math.exp(x);
    case 'neg':
      return -x;
  }
}

export function binaryRef(
  op: BinaryOp,
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  opts: { alpha?: number; beta?: number; activation?: UnaryOp } = {},
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  const rank = shape.length;
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Float64Array(n);
  const idx = new Array<number>(rank).fill(0);
  const flat = (s: Shape) => {
    let o = 0;
    for (let i = 0; i < s.length; i++) {
      const d = s[i] as number;
      const k = idx[rank - s.length + i] as number;
      o = o * d + (d === 1 ? 0 : k);
    }
    return o;
  };
  for (let i = 0; i < n; i++) {
    let r = i;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax] = r % (shape[ax] as number);
      r = Math.floor(r / (shape[ax] as number));
    }
    const x = (opts.alpha ?? 1) * (a[flat(aShape)] as number);
    const y = (opts.beta ?? 1) * (b[flat(bShape)] as number);
    const v = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y;
    out[i] = activation(opts.activation ?? 'identity', v);
  }
  return { data: out, shape };
}

export function unaryRef(op: UnaryOp, x: ArrayLike<number>, scale = 1, shift = 0): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = activation(op, x[i] as number) * scale + shift;
  return out;
}
