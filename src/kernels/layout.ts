/**
 * Layout kernels: permute, slice, concat (along any axis, usually channels) and copy, all as one strided-copy
 * kernel `y[oOff + Σ i_k·os_k] = x[iOff + Σ i_k·is_k]` over at most 6 collapsed axes; and GEGLU, the fused
 * `x[..., :F] * gelu(x[..., F:])` that diffusers computes as `proj(x).chunk(2, -1)`.
 */
import type { DType } from '../runtime/dtype.js';
import { MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Shape, type Tensor, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';
import { MATH_HELPERS, activationWgsl } from './elementwise.js';

const WG = 64;
const PER_THREAD = 4;
const MAX_AXES = 6;

const copyParams = defineParams({
  n: 'u32',
  ioff: 'u32',
  ooff: 'u32',
  s0: 'u32',
  s1: 'u32',
  s2: 'u32',
  s3: 'u32',
  s4: 'u32',
  s5: 'u32',
  i0: 'u32',
  i1: 'u32',
  i2: 'u32',
  i3: 'u32',
  i4: 'u32',
  i5: 'u32',
  o0: 'u32',
  o1: 'u32',
  o2: 'u32',
  o3: 'u32',
  o4: 'u32',
  o5: 'u32',
});

function copyKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'y', dtype, 'read_write')}${copyParams.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    // Decompose the linear index over the (collapsed) iteration axes, innermost last.
    let c5 = i % p.s5; let r5 = i / p.s5;
    let c4 = r5 % p.s4; let r4 = r5 / p.s4;
    let c3 = r4 % p.s3; let r3 = r4 / p.s3;
    let c2 = r3 % p.s2; let r2 = r3 / p.s2;
    let c1 = r2 % p.s1; let c0 = r2 / p.s1;
    let src = p.ioff + c0 * p.i0 + c1 * p.i1 + c2 * p.i2 + c3 * p.i3 + c4 * p.i4 + c5 * p.i5;
    let dst = p.ooff + c0 * p.o0 + c1 * p.o1 + c2 * p.o2 + c3 * p.o3 + c4 * p.o4 + c5 * p.o5;
    y[dst] = x[src];
  }
}
`;
}

function contiguousStrides(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i] as number;
  }
  return st;
}

/**
 * Drops size-1 axes and merges neighbours that are contiguous in both source and destination, so a slice
 * or concat along channels becomes a 2-axis copy and most permutes a 3-axis one.
 */
function collapse(sizes: number[], is: number[], os: number[]) {
  const s: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let k = 0; k < sizes.length; k++) {
    const d = sizes[k] as number;
    if (d === 1) continue;
    const last = s.length - 1;
    if (last >= 0 && a[last] === (is[k] as number) * d && b[last] === (os[k] as number) * d) {
      s[last] = (s[last] as number) * d;
      a[last] = is[k] as number;
      b[last] = os[k] as number;
    } else {
      s.push(d);
      a.push(is[k] as number);
      b.push(os[k] as number);
    }
  }
  return { s, a, b };
}

/** Records `y[oOff + Σ i_k·os_k] = x[iOff + Σ i_k·is_k]` over `sizes` (element strides and offsets). */
function stridedCopy(gpu: Gpu, x: Tensor, y: Tensor, sizes: number[], is: number[], os: number[], ioff: number, ooff: number) {
  const n = numel(sizes);
  if (n === 0) return;
  const { s, a, b } = collapse(sizes, is, os);
  if (s.length > MAX_AXES) {
    throw new ShapeError(`layout copy of ${shapeString(x.shape)} needs ${s.length} non-contiguous axes (at most ${MAX_AXES})`);
  }
  while (s.length < MAX_AXES) {
    s.unshift(1);
    a.unshift(0);
    b.unshift(0);
  }
  const [s0, s1, s2, s3, s4, s5] = s as [number, number, number, number, number, number];
  const [i0, i1, i2, i3, i4, i5] = a as [number, number, number, number, number, number];
  const [o0, o1, o2, o3, o4, o5] = b as [number, number, number, number, number, number];
  gpu.dispatch({
    key: `layout.copy:${x.dtype}`,
    code: () => copyKernel(x.dtype),
    bindings: [x, y],
    params: copyParams.pack({ n, ioff, ooff, s0, s1, s2, s3, s4, s5, i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5 }),
    workgroups: grid2d(Math.ceil(n / (WG * PER_THREAD))),
  });
}

function normAxis(axis: number, rank: number, what: string, shape: Shape): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new MedgpuError('BAD_ARGUMENT', `${what}: axis ${axis} out of range for ${shapeString(shape)}`);
  }
  return a;
}

/** A contiguous copy of `x` (a new tensor with the same contents). */
export function copy(gpu: Gpu, x: Tensor): Tensor {
  const y = gpu.empty(x.shape, x.dtype);
  stridedCopy(gpu, x, y, [x.numel], [1], [1], 0, 0);
  return y;
}

/** `y = x.permute(perm)`: `y.shape[k] = x.shape[perm[k]]`. E.g. NCHW→NHWC is `[0, 2, 3, 1]`. */
export function permute(gpu: Gpu, x: Tensor, perm: readonly number[]): Tensor {
  const rank = x.rank;
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) {
    throw new MedgpuError('BAD_ARGUMENT', `permute: [${perm.join(', ')}] is not a permutation of the axes of ${shapeString(x.shape)}`);
  }
  const xs = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p] as number);
  const y = gpu.empty(shape, x.dtype);
  // Iterate in output order so writes are contiguous (lavapipe prefers sequential stores).
  stridedCopy(
    gpu,
    x,
    y,
    shape,
    perm.map((p) => xs[p] as number),
    contiguousStrides(shape),
    0,
    0,
  );
  return y;
}

/** `x[..., start:end, ...]` along `axis` (negative counts from the end), as a new contiguous tensor. */
export function slice(gpu: Gpu, x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis(axis, x.rank, 'slice', x.shape);
  const d = x.shape[ax] as number;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > d || start > end) {
    throw new MedgpuError('BAD_ARGUMENT', `slice: range [${start}, ${end}) is outside axis ${ax} (size ${d}) of ${shapeString(x.shape)}`);
  }
  const shape = x.shape.map((s, k) => (k === ax ? end - start : s));
  const y = gpu.empty(shape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(gpu, x, y, shape, xs, contiguousStrides(shape), start * (xs[ax] as number), 0);
  return y;
}

/** Splits `x` into `parts` equal pieces along `axis` (torch `chunk` when the size divides). */
export function chunk(gpu: Gpu, x: Tensor, parts: number, axis = -1): Tensor[] {
  const ax = normAxis(axis, x.rank, 'chunk', x.shape);
  const d = x.shape[ax] as number;
  if (!Number.isInteger(parts) || parts < 1 || d % parts !== 0) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `chunk: axis ${ax} of ${shapeString(x.shape)} (size ${d}) does not split into ${parts} equal parts`,
    );
  }
  const w = d / parts;
  return Array.from({ length: parts }, (_, i) => slice(gpu, x, ax, i * w, (i + 1) * w));
}

/** Concatenates tensors along `axis` (default: channels, the last axis). All other axes must agree. */
export function concat(gpu: Gpu, xs: readonly Tensor[], axis = -1): Tensor {
  const first = xs[0];
  if (!first) throw new MedgpuError('BAD_ARGUMENT', 'concat: needs at least one tensor');
  const rank = first.rank;
  const ax = normAxis(axis, rank, 'concat', first.shape);
  let total = 0;
  for (const [k, t] of xs.entries()) {
    if (t.dtype !== first.dtype) throw new ShapeError(`concat: tensor ${k} is ${t.dtype}, tensor 0 is ${first.dtype}`);
    if (t.rank !== rank || t.shape.some((s, i) => i !== ax && s !== first.shape[i])) {
      throw new ShapeError(
        `concat along axis ${ax}: tensor ${k} has shape ${shapeString(t.shape)}, tensor 0 has ${shapeString(first.shape)} (only axis ${ax} may differ)`,
      );
    }
    total += t.shape[ax] as number;
  }
  const shape = first.shape.map((s, i) => (i === ax ? total : s));
  const y = gpu.empty(shape, first.dtype);
  const ys = contiguousStrides(shape);
  let at = 0;
  for (const t of xs) {
    stridedCopy(gpu, t, y, [...t.shape], contiguousStrides(t.shape), ys, 0, at * (ys[ax] as number));
    at += t.shape[ax] as number;
  }
  return y;
}

const gegluParams = defineParams({ n: 'u32', f: 'u32' });

function gegluKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'y', dtype, 'read_write')}${gegluParams.declare(2)}
${MATH_HELPERS}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    let row = i / p.f;
    let hidden = f32(x[i + row * p.f]);
    let gate = f32(x[i + row * p.f + p.f]);
    y[i] = ${dtype}(hidden * ${activationWgsl('gelu', 'gate')});
  }
}
`;
}

/** diffusers GEGLU after the projection: `[..., 2F] → x[..., :F] * gelu(x[..., F:])` (exact erf gelu). */
export function geglu(gpu: Gpu, x: Tensor): Tensor {
  const two = x.shape[x.rank - 1] ?? 0;
  if (x.rank === 0 || two % 2 !== 0) {
    throw new ShapeError(`geglu: last axis of ${shapeString(x.shape)} must be even (hidden and gate halves)`);
  }
  const f = two / 2;
  const shape = x.shape.map((s, i) => (i === x.rank - 1 ? f : s));
  const y = gpu.empty(shape, x.dtype);
  const n = numel(shape);
  if (n === 0) return y;
  gpu.dispatch({
    key: `layout.geglu:${x.dtype}`,
    code: () => gegluKernel(x.dtype),
    bindings: [x, y],
    params: gegluParams.pack({ n, f }),
    workgroups: grid2d(Math.ceil(n / (WG * PER_THREAD))),
  });
  return y;
}

/** Pure data movement: every element read once and written once. */
export function layoutCost(numelOut: number, dtype: DType): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  return { flops: 0, bytes: 2 * numelOut * b };
}

export function gegluCost(numelOut: number, dtype: DType): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  return { flops: numelOut * 20, bytes: 3 * numelOut * b };
}
