/**
 * The few torch/numpy numerics that scheduler tables are built with, reproduced exactly enough that the
 * tables match diffusers bit for bit (or within a float32 ulp where noted). Everything here is plain double
 * arithmetic on host numbers; `f32` marks the places where torch or numpy store a float32.
 */

export const f32 = Math.fround;

/** fma(a, b, c) rounded once to float32: `a·b` is exact in double when `a` is a float32 and `b` a small int. */
function fmaF32(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU, as torch 1.13's AVX2 kernel computes
 * it: `step = (end - start) / (steps - 1)` in float32; blocks of 8 lanes whose base is
 * `start + step·i` (first half) or `end - step·(steps-1-i)` (second half), each contracted into one fma by the
 * compiler, then `base + k·step` per lane; the tail past the last 16-element chunk is computed per element.
 * This matters: the betas of `scaled_linear` schedules differ by one ulp from a naive linspace in about 13%
 * of entries, and diffusers' alphas_cumprod inherits them (checked against the reference fixtures).
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 0) return out;
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const at = (i: number) => (i < halfway ? fmaF32(step, i, s) : fmaF32(-step, steps - i - 1, e));
  const lanes = 8;
  const vectorEnd = Math.floor(steps / (2 * lanes)) * 2 * lanes;
  for (let i0 = 0; i0 < vectorEnd; i0 += lanes) {
    const base = at(i0);
    for (let k = 0; k < lanes; k++) out[i0 + k] = fmaF32(k, step, base);
  }
  for (let i = vectorEnd; i < steps; i++) out[i] = at(i);
  return out;
}

/** `np.linspace(start, stop, num)` in float64: `arange(num)·step + start`, last element exactly `stop`. */
export function npLinspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` for float arguments: length `ceil((stop - start) / step)`, and numpy fills
 * it as `start + i·delta` with `delta = (start + step) - start` recomputed from the first two values.
 */
export function npArange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  if (len === 0) return [];
  const out = [start];
  if (len > 1) out.push(start + step);
  const delta = start + step - start;
  for (let i = 2; i < len; i++) out.push(start + i * delta);
  return out;
}

/** `np.round`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `np.interp(x, arange(len(fp)), fp)` in float64 (numpy's slope form, exact at the knots). */
export function interpUniform(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (Number.isNaN(x)) return x;
  if (x <= 0) return fp[0] as number;
  if (x >= last) return fp[last] as number;
  const j = Math.floor(x);
  const y0 = fp[j] as number;
  const y1 = fp[j + 1] as number;
  const slope = y1 - y0; // (dy[j+1] - dy[j]) / (dx[j+1] - dx[j]) with dx = 1
  const v = slope * (x - j) + y0;
  return Number.isNaN(v) ? slope * (x - (j + 1)) + y1 : v;
}

/** The n-point Gauss–Legendre rule on [-1, 1] (nodes and weights by Newton iteration on P_n). */
export function gaussLegendre(n: number): { nodes: number[]; weights: number[] } {
  const nodes: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let iter = 0; iter < 100; iter++) {
      // Legendre recurrence for P_n(x) and its derivative.
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      const pn = n === 0 ? 1 : p1;
      const pnm1 = n === 1 ? 1 : p0;
      dp = (n * (x * pn - pnm1)) / (x * x - 1);
      const dx = pn / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    nodes.push(x);
    weights.push(2 / ((1 - x * x) * dp * dp));
  }
  return { nodes, weights };
}

/** ∫ₐᵇ f by an n-point Gauss–Legendre rule (exact for polynomials of degree < 2n). */
export function integrate(f: (x: number) => number, a: number, b: number, n = 8): number {
  const { nodes, weights } = gaussLegendre(n);
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (weights[i] as number) * f(mid + half * (nodes[i] as number));
  return sum * half;
}
