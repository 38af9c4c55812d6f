/**
 * Elementwise kernels: binary ops with NumPy broadcasting, unary activations, axpby, and a fused
 * `activation(a op b)` epilogue. Each invocation handles 4 elements (lavapipe prefers fewer, fatter lanes).
 */
import type { DType } from '../runtime/dtype.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Shape, type Tensor, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type UnaryOp = 'identity' | 'silu' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'relu' | 'sigmoid' | 'tanh' | 'exp' | 'neg';

const WG = 64;
const PER_THREAD = 4;

/** WGSL for `y = act(x)` on an f32 value. gelu uses an erf with |error| < 1.2e-7 (Numerical Recipes erfc). */
export function activationWgsl(op: UnaryOp, x: string): string {
  switch (op) {
    case 'identity':
      return x;
    case 'silu':
      return `(${x} / (1.0 + exp(-${x})))`;
    case 'gelu':
      return `(0.5 * ${x} * (1.0 + erf_f32(${x} * 0.70710678118654752)))`;
    case 'gelu_tanh':
      return `(0.5 * ${x} * (1.0 + tanh_f32(0.7978845608028654 * (${x} + 0.044715 * ${x} * ${x} * ${x}))))`;
    case 'quick_gelu':
      return `(${x} / (1.0 + exp(-1.702 * ${x})))`;
    case 'relu':
      return `max(${x}, 0.0)`;
    case 'sigmoid':
      return `(1.0 / (1.0 + exp(-${x})))`;
    case 'tanh':
      return `tanh_f32(${x})`;
    case 'exp':
      return `exp(${x})`;
    case 'neg':
      return `(-${x})`;
  }
}

/** Accurate erf/tanh helpers for f32 (WGSL's built-in tanh overflows to NaN for large |x| on some drivers). */
export const MATH_HELPERS = /* wgsl */ `
fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
      t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
      t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, x >= 0.0);
}
fn tanh_f32(x: f32) -> f32 {
  let z = clamp(x, -15.0, 15.0);
  if (abs(z) < 0.02) { return z * (1.0 - z * z / 3.0); }
  let e = exp(2.0 * z);
  return (e - 1.0) / (e + 1.0);
}
`;

function binaryExpr(op: BinaryOp, a: string, b: string): string {
  return { add: `${a} + ${b}`, sub: `${a} - ${b}`, mul: `${a} * ${b}`, div: `${a} / ${b}` }[op];
}

/** Output shape of NumPy-style broadcasting, or a ShapeError. */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes ${shapeString(a)} and ${shapeString(b)} do not broadcast (axis ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

const binaryParams = defineParams({
  n: 'u32',
  s0: 'u32',
  s1: 'u32',
  s2: 'u32',
  s3: 'u32',
  a0: 'u32',
  a1: 'u32',
  a2: 'u32',
  a3: 'u32',
  b0: 'u32',
  b1: 'u32',
  b2: 'u32',
  b3: 'u32',
  alpha: 'f32',
  beta: 'f32',
});

export interface BinarySpec {
  op: BinaryOp;
  /** Applied to the result: the fused epilogue. */
  activation?: UnaryOp;
  /** Result is `act(alpha*a op beta*b)`; `axpby` is `add` with both set. */
  alpha?: number;
  beta?: number;
}

function binaryKernel(op: BinaryOp, act: UnaryOp, dtype: DType): string {
  const T = dtype;
  return `${enables(dtype)}${storage(0, 'a', T, 'read')}${storage(1, 'b', T, 'read')}${storage(2, 'y', T, 'read_write')}${binaryParams.declare(3)}
${MATH_HELPERS}
fn offset(i: u32, s0: u32, s1: u32, s2: u32, s3: u32, t0: u32, t1: u32, t2: u32, t3: u32) -> u32 {
  // i = ((i0*s1 + i1)*s2 + i2)*s3 + i3 over the collapsed output axes; t* are the input strides.
  let i3 = i % s3; let r3 = i / s3;
  let i2 = r3 % s2; let r2 = r3 / s2;
  let i1 = r2 % s1; let i0 = r2 / s1;
  return i0 * t0 + i1 * t1 + i2 * t2 + i3 * t3;
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    let x = p.alpha * f32(a[offset(i, p.s0, p.s1, p.s2, p.s3, p.a0, p.a1, p.a2, p.a3)]);
    let z = p.beta * f32(b[offset(i, p.s0, p.s1, p.s2, p.s3, p.b0, p.b1, p.b2, p.b3)]);
    let v = ${binaryExpr(op, 'x', 'z')};
    y[i] = ${T}(${activationWgsl(act, 'v')});
  }
}
`;
}

function groupsFor(n: number): [number, number] {
  return grid2d(Math.ceil(n / (WG * PER_THREAD)));
}

/** `act(alpha·a op beta·b)` with broadcasting. Output dtype is `a`'s. */
export function binary(gpu: Gpu, a: Tensor, b: Tensor, spec: BinarySpec): Tensor {
  if (a.dtype !== b.dtype) throw new ShapeError(`${spec.op}: dtypes differ (${a.dtype} vs ${b.dtype})`);
  const shape = broadcastShape(a.shape, b.shape);
  const y = gpu.empty(shape, a.dtype);
  const n = numel(shape);
  if (n === 0) return y;
  const joint = jointCollapse(a.shape, b.shape, shape);
  const act = spec.activation ?? 'identity';
  const [s0, s1, s2, s3] = joint.sizes;
  const [a0, a1, a2, a3] = joint.aStrides;
  const [b0, b1, b2, b3] = joint.bStrides;
  gpu.dispatch({
    key: `binary:${spec.op}:${act}:${a.dtype}`,
    code: () => binaryKernel(spec.op, act, a.dtype),
    bindings: [a, b, y],
    params: binaryParams.pack({
      n,
      s0,
      s1,
      s2,
      s3,
      a0,
      a1,
      a2,
      a3,
      b0,
      b1,
      b2,
      b3,
      alpha: spec.alpha ?? 1,
      beta: spec.beta ?? 1,
    } as Record<(typeof binaryParams.names)[number], number>),
    workgroups: groupsFor(n),
  });
  return y;
}

/** Collapses axes where both inputs keep the same (broadcast or not) pattern; pads to 4 axes. */
function jointCollapse(a: Shape, b: Shape, out: Shape): { sizes: number[]; aStrides: number[]; bStrides: number[] } {
  const rank = out.length;
  const pa = Array.from({ length: rank }, (_, i) => a[a.length - rank + i] ?? 1);
  const pb = Array.from({ length: rank }, (_, i) => b[b.length - rank + i] ?? 1);
  const sizes: number[] = [];
  const pat: string[] = [];
  for (let i = 0; i < rank; i++) {
    const o = out[i] as number;
    if (o === 1) continue;
    const p = `${pa[i] === 1 ? 'b' : 'f'}${pb[i] === 1 ? 'b' : 'f'}`;
    if (sizes.length > 0 && pat[pat.length - 1] === p) sizes[sizes.length - 1] = (sizes[sizes.length - 1] as number) * o;
    else {
      sizes.push(o);
      pat.push(p);
    }
  }
  if (sizes.length > 4) {
    throw new ShapeError(`broadcast of ${shapeString(a)} with ${shapeString(b)} needs more than 4 alternating axes`);
  }
  const strides = (which: 0 | 1) => {
    const st: number[] = new Array(sizes.length);
    let s = 1;
    for (let i = sizes.length - 1; i >= 0; i--) {
      const isB = (pat[i] as string)[which] === 'b';
      st[i] = isB ? 0 : s;
      if (!isB) s *= sizes[i] as number;
    }
    return st;
  };
  const as = strides(0);
  const bs = strides(1);
  while (sizes.length < 4) {
    sizes.unshift(1);
    as.unshift(0);
    bs.unshift(0);
  }
  return { sizes, aStrides: as, bStrides: bs };
}

export const add = (gpu: Gpu, a: Tensor, b: Tensor, activation?: UnaryOp) => binary(gpu, a, b, { op: 'add', activation });
export const sub = (gpu: Gpu, a: Tensor, b: Tensor) => binary(gpu, a, b, { op: 'sub' });
export const mul = (gpu: Gpu, a: Tensor, b: Tensor) => binary(gpu, a, b, { op: 'mul' });
export const div = (gpu: Gpu, a: Tensor, b: Tensor) => binary(gpu, a, b, { op: 'div' });
/** `alpha·a + beta·b` (same shapes or broadcast). */
export const axpby = (gpu: Gpu, alpha: number, a: Tensor, beta: number, b: Tensor) => binary(gpu, a, b, { op: 'add', alpha, beta });

const unaryParams = defineParams({ n: 'u32', scale: 'f32', shift: 'f32' });

function unaryKernel(op: UnaryOp, dtype: DType): string {
  const T = dtype;
  return `${enables(dtype)}${storage(0, 'x', T, 'read')}${storage(1, 'y', T, 'read_write')}${unaryParams.declare(2)}
${MATH_HELPERS}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    let v = f32(x[i]);
    let r = ${activationWgsl(op, 'v')};
    y[i] = ${T}(r * p.scale + p.shift);
  }
}
`;
}

/** `act(x)·scale + shift`. */
export function unary(gpu: Gpu, x: Tensor, op: UnaryOp, scale = 1, shift = 0): Tensor {
  const y = gpu.empty(x.shape, x.dtype);
  if (x.numel === 0) return y;
  gpu.dispatch({
    key: `unary:${op}:${x.dtype}`,
    code: () => unaryKernel(op, x.dtype),
    bindings: [x, y],
    params: unaryParams.pack({ n: x.numel, scale, shift }),
    workgroups: groupsFor(x.numel),
  });
  return y;
}

export const scale = (gpu: Gpu, x: Tensor, s: number) => unary(gpu, x, 'identity', s, 0);
export const silu = (gpu: Gpu, x: Tensor) => unary(gpu, x, 'silu');
export const gelu = (gpu: Gpu, x: Tensor, approximate: 'none' | 'tanh' = 'none') =>
  unary(gpu, x, approximate === 'tanh' ? 'gelu_tanh' : 'gelu');
export const quickGelu = (gpu: Gpu, x: Tensor) => unary(gpu, x, 'quick_gelu');

export function elementwiseCost(outNumel: number, inputs: number, dtype: DType): Cost {
  const bytesPer = dtype === 'f32' ? 4 : 2;
  return { flops: outNumel * 2, bytes: outNumel * bytesPer * (inputs + 1) };
}
