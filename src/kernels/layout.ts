/**
 * Layout kernels: permute, slice, chunk, concat (along any axis, usually channels) and copy, all as one
 * strided row copy, and GEGLU, the fused `x[..., :F] * gelu(x[..., F:])` that diffusers computes as
 * `proj(x).chunk(2, -1)`.
 *
 * The row copy: the iteration space (in destination order, with neighbouring axes merged where both sides
 * are contiguous) is split into an inner axis and up to 7 outer axes. Each invocation copies a run of one
 * inner row, so the integer divisions that locate the row (which lavapipe runs one lane at a time) are
 * spent on a run, not on every element. When the inner axis is contiguous on both sides and every offset
 * and stride is a multiple of 4 (channels-last tensors with C % 4 == 0), rows move as vec4s: a quarter of
 * the per-lane loads and stores. Launches whose bindings would exceed `maxStorageBufferBindingSize` are
 * split along the outer axes and bound at offsets.
 */
import { type DType, bytesPerElement } from '../runtime/dtype.js';
import { LimitError, MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import { type Shape, type Tensor, contiguousStrides, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import { MATH_HELPERS, activationWgsl } from './activation.js';
import type { Cost } from './cost.js';

const WG = 64;
/** Outer axes of a row copy (upsampling a 3D volume needs 7: N, D, 2, H, 2, W, 2). */
export const MAX_OUTER_AXES = 7;
const OUTER = [...Array(MAX_OUTER_AXES).keys()];

/** Inner units (scalars or vec4s) one invocation copies: enough to amortise locating its row. */
const SEG = 32;

const rowParams = defineParams({
  n: 'u32',
  nseg: 'u32',
  total: 'u32',
  is0: 'u32',
  os0: 'u32',
  ioff: 'u32',
  ooff: 'u32',
  ...Object.fromEntries(
    OUTER.flatMap((k) => [[`s${k + 1}`, 'u32'] as const, [`i${k + 1}`, 'u32'] as const, [`o${k + 1}`, 'u32'] as const]),
  ),
} as Record<string, 'u32'>);

/**
 * y[ooff + Σ c_k·o_k + i·os0] = x[ioff + Σ c_k·i_k + i·is0] for every row (c_1..c_7) and inner i < n, in
 * units of `vec` elements. Each invocation copies one segment of SEG units of one row: lavapipe loads and
 * stores one lane at a time whatever the addresses, so giving a lane a run of a row costs nothing and
 * spends the row's divisions on SEG units.
 */
function rowCopyKernel(dtype: DType, vec: 1 | 4): string {
  const T = vec === 4 ? `vec4<${dtype}>` : dtype;
  const decompose = OUTER.map((k) => `  let c${k + 1} = r % p.s${k + 1}; r = r / p.s${k + 1};`).join('\n');
  const src = OUTER.map((k) => ` + c${k + 1} * p.i${k + 1}`).join('');
  const dst = OUTER.map((k) => ` + c${k + 1} * p.o${k + 1}`).join('');
  return `${enables(dtype)}${storage(0, 'x', T, 'read')}${storage(1, 'y', T, 'read_write')}${rowParams.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = ${linearWorkgroup} * ${WG}u + lid;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  var r = tc / p.nseg;
${decompose}
  let src = p.ioff${src};
  let dst = p.ooff${dst};
  // Invocations past the end (the last workgroup may be partial) copy nothing.
  let end = select(0u, min(p.n, (seg + 1u) * ${SEG}u), t < p.total);
  for (var i = seg * ${SEG}u; i < end; i++) { y[dst + i * p.os0] = x[src + i * p.is0]; }
}
`;
}

/** A strided copy over `sizes` (destination order): element strides and offsets of source and destination. */
export interface StridedCopy {
  sizes: number[];
  srcStrides: number[];
  dstStrides: number[];
  srcOffset: number;
  dstOffset: number;
}

/**
 * Drops size-1 axes and merges neighbours that are contiguous in both source and destination, so a slice
 * or concat along channels becomes a 2-axis copy and most permutes a 3-axis one.
 */
function collapse(c: StridedCopy): StridedCopy {
  const sizes: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  c.sizes.forEach((d, k) => {
    if (d === 1) return;
    const last = sizes.length - 1;
    if (last >= 0 && a[last] === c.srcStrides[k]! * d && b[last] === c.dstStrides[k]! * d) {
      sizes[last] = sizes[last]! * d;
      a[last] = c.srcStrides[k]!;
      b[last] = c.dstStrides[k]!;
    } else {
      sizes.push(d);
      a.push(c.srcStrides[k]!);
      b.push(c.dstStrides[k]!);
    }
  });
  if (sizes.length === 0) return { ...c, sizes: [1], srcStrides: [1], dstStrides: [1] };
  return { ...c, sizes, srcStrides: a, dstStrides: b };
}

/** [lo, hi) of the elements a copy touches on one side (strides are non-negative). */
function span(sizes: number[], strides: number[], offset: number): [number, number] {
  let hi = offset;
  sizes.forEach((d, k) => {
    hi += (d - 1) * strides[k]!;
  });
  return [offset, hi + 1];
}

/**
 * Splits a copy into pieces whose source and destination spans each fit `limit` elements: ranges of the
 * outermost axis, recursing into the next axis when one index of it is already too large.
 */
export function splitCopy(c: StridedCopy, limit: number): StridedCopy[] {
  const fits = (s: StridedCopy) => span(s.sizes, s.srcStrides, 0)[1] <= limit && span(s.sizes, s.dstStrides, 0)[1] <= limit;
  if (fits(c)) return [c];
  const [d0, ...restSizes] = c.sizes as [number, ...number[]];
  const [is0, ...restSrc] = c.srcStrides as [number, ...number[]];
  const [os0, ...restDst] = c.dstStrides as [number, ...number[]];
  if (restSizes.length === 0) {
    // A single (inner) axis: pieces of it.
    const per = Math.max(1, Math.floor((limit - 1) / Math.max(is0, os0)) + 1);
    const out: StridedCopy[] = [];
    for (let a = 0; a < d0; a += per) {
      out.push({
        sizes: [Math.min(per, d0 - a)],
        srcStrides: [is0],
        dstStrides: [os0],
        srcOffset: c.srcOffset + a * is0,
        dstOffset: c.dstOffset + a * os0,
      });
    }
    return out;
  }
  const one = { sizes: [1, ...restSizes], srcStrides: c.srcStrides, dstStrides: c.dstStrides, srcOffset: 0, dstOffset: 0 };
  if (!fits(one)) {
    const sub = { sizes: restSizes, srcStrides: restSrc, dstStrides: restDst, srcOffset: 0, dstOffset: 0 };
    const pieces = splitCopy(sub, limit);
    const out: StridedCopy[] = [];
    for (let a = 0; a < d0; a++) {
      for (const p of pieces) {
        out.push({
          ...p,
          sizes: [1, ...p.sizes],
          srcStrides: [is0, ...p.srcStrides],
          dstStrides: [os0, ...p.dstStrides],
          srcOffset: c.srcOffset + a * is0 + p.srcOffset,
          dstOffset: c.dstOffset + a * os0 + p.dstOffset,
        });
      }
    }
    return out;
  }
  // How many indices of the outer axis fit: the span grows by the stride per index.
  const [, srcOne] = span(restSizes, restSrc, 0);
  const [, dstOne] = span(restSizes, restDst, 0);
  const per = Math.max(
    1,
    Math.min(is0 > 0 ? Math.floor((limit - srcOne) / is0) + 1 : d0, os0 > 0 ? Math.floor((limit - dstOne) / os0) + 1 : d0),
  );
  const out: StridedCopy[] = [];
  for (let a = 0; a < d0; a += per) {
    out.push({
      sizes: [Math.min(per, d0 - a), ...restSizes],
      srcStrides: c.srcStrides,
      dstStrides: c.dstStrides,
      srcOffset: c.srcOffset + a * is0,
      dstOffset: c.dstOffset + a * os0,
    });
  }
  return out;
}

/** Binds elements [lo, hi) of `t`: offset aligned down, size rounded up to `unitBytes`. */
function bindRange(gpu: Gpu, t: Tensor, lo: number, hi: number, unitBytes: number): { binding: BufferBinding; base: number } {
  const es = bytesPerElement(t.dtype);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  const off = Math.floor((lo * es) / align) * align;
  const end = Math.min(t.buffer.size, Math.ceil((hi * es) / unitBytes) * unitBytes);
  return { binding: { buffer: t.buffer, offset: off, size: Math.max(unitBytes, end - off) }, base: off / es };
}

/** The binding budget a launcher splits against, in bytes (the device limit, or a smaller test override). */
function bindingLimit(gpu: Gpu, override?: number): number {
  const device = Number(gpu.limits.maxStorageBufferBindingSize);
  return Math.min(override ?? device, device) - Number(gpu.limits.minStorageBufferOffsetAlignment) - 16;
}

/** Records `y[...] = x[...]` over a strided iteration space; splits it when bindings would be too large. */
export function stridedCopy(gpu: Gpu, x: Tensor, y: Tensor, copy: StridedCopy, maxBindingBytes?: number): void {
  if (numel(copy.sizes) === 0) return;
  if (x.dtype !== y.dtype) throw new ShapeError(`layout copy: source is ${x.dtype}, destination ${y.dtype}`);
  const c = collapse(copy);
  if (c.sizes.length > MAX_OUTER_AXES + 1) {
    throw new ShapeError(
      `layout copy of ${shapeString(x.shape)} into ${shapeString(y.shape)} needs ${c.sizes.length} non-mergeable axes (at most ${MAX_OUTER_AXES + 1})`,
    );
  }
  const es = bytesPerElement(x.dtype);
  // One contiguous run (copy, or slice/concat/chunk along the first axis): a buffer-to-buffer copy, which is
  // a plain memcpy and not bound by the storage binding limit.
  const bytes = c.sizes[0]! * es;
  if (
    c.sizes.length === 1 &&
    c.srcStrides[0] === 1 &&
    c.dstStrides[0] === 1 &&
    bytes % 4 === 0 &&
    (c.srcOffset * es) % 4 === 0 &&
    (c.dstOffset * es) % 4 === 0
  ) {
    gpu.recorder.copy(x.buffer, c.srcOffset * es, y.buffer, c.dstOffset * es, bytes);
    return;
  }
  const limitEl = Math.floor(bindingLimit(gpu, maxBindingBytes) / es);
  const pieces = splitCopy(c, limitEl);
  const whole = pieces.length === 1 && x.byteLength <= limitEl * es && y.byteLength <= limitEl * es;
  for (const piece of pieces) launchRows(gpu, x, y, piece, whole);
}

function launchRows(gpu: Gpu, x: Tensor, y: Tensor, c: StridedCopy, whole: boolean): void {
  const inner = c.sizes.length - 1;
  const n0 = c.sizes[inner]!;
  const is0 = c.srcStrides[inner]!;
  const os0 = c.dstStrides[inner]!;
  const [sLo, sHi] = span(c.sizes, c.srcStrides, c.srcOffset);
  const [dLo, dHi] = span(c.sizes, c.dstStrides, c.dstOffset);
  const all = [...c.srcStrides.slice(0, inner), ...c.dstStrides.slice(0, inner), n0];
  // vec4 rows: inner axis contiguous on both sides, everything else a multiple of 4 elements.
  const vec: 1 | 4 = is0 === 1 && os0 === 1 && all.every((v) => v % 4 === 0) && sLo % 4 === 0 && dLo % 4 === 0 ? 4 : 1;
  const es = bytesPerElement(x.dtype);
  const unitBytes = Math.max(4, vec * es);
  const xb = whole ? { binding: x, base: 0 } : bindRange(gpu, x, sLo, sHi, unitBytes);
  const yb = whole ? { binding: y, base: 0 } : bindRange(gpu, y, dLo, dHi, unitBytes);
  const n = n0 / vec;
  const nseg = Math.ceil(n / SEG);
  const total = numel(c.sizes.slice(0, inner)) * nseg;
  const values: Record<string, number> = {
    n,
    nseg,
    total,
    is0: vec === 4 ? 1 : is0,
    os0: vec === 4 ? 1 : os0,
    ioff: (c.srcOffset - xb.base) / vec,
    ooff: (c.dstOffset - yb.base) / vec,
  };
  // Outer axes innermost first; missing ones have size 1.
  for (const k of OUTER) {
    const axis = inner - 1 - k;
    values[`s${k + 1}`] = axis >= 0 ? c.sizes[axis]! : 1;
    values[`i${k + 1}`] = axis >= 0 ? c.srcStrides[axis]! / vec : 0;
    values[`o${k + 1}`] = axis >= 0 ? c.dstStrides[axis]! / vec : 0;
  }
  gpu.dispatch({
    key: `layout.rows:${x.dtype}:v${vec}`,
    code: () => rowCopyKernel(x.dtype, vec),
    bindings: [xb.binding, yb.binding],
    params: rowParams.pack(values),
    workgroups: grid2d(Math.ceil(total / WG)),
  });
}

const fillParams = defineParams({ n: 'u32', off: 'u32', value: 'f32' });

function fillKernel(dtype: DType, vec: 1 | 4): string {
  const T = vec === 4 ? `vec4<${dtype}>` : dtype;
  return `${enables(dtype)}${storage(0, 'y', T, 'read_write')}${fillParams.declare(1)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = ${linearWorkgroup} * ${WG}u + lid;
  let end = min(p.n, (seg + 1u) * ${SEG}u);
  for (var i = seg * ${SEG}u; i < end; i++) { y[p.off + i] = ${T}(${dtype}(p.value)); }
}
`;
}

/** Sets every element of `y` to `value` (in place); split into ranges when `y` exceeds the binding limit. */
export function fill(gpu: Gpu, y: Tensor, value: number, spec: LayoutSpec = {}): void {
  if (y.numel === 0) return;
  const vec: 1 | 4 = y.numel % 4 === 0 ? 4 : 1;
  const es = bytesPerElement(y.dtype);
  const limitEl = Math.floor(bindingLimit(gpu, spec.maxBindingBytes) / es / 4) * 4;
  for (let lo = 0; lo < y.numel; lo += limitEl) {
    const hi = Math.min(y.numel, lo + limitEl);
    const yb = lo === 0 && hi === y.numel ? { binding: y, base: 0 } : bindRange(gpu, y, lo, hi, Math.max(4, vec * es));
    const n = (hi - lo) / vec;
    gpu.dispatch({
      key: `layout.fill:${y.dtype}:v${vec}`,
      code: () => fillKernel(y.dtype, vec),
      bindings: [yb.binding],
      params: fillParams.pack({ n, off: (lo - yb.base) / vec, value }),
      workgroups: grid2d(Math.ceil(n / SEG / WG)),
    });
  }
}

function normAxis(axis: number, rank: number, what: string, shape: Shape): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new MedgpuError('BAD_ARGUMENT', `${what}: axis ${axis} out of range for ${shapeString(shape)}`);
  }
  return a;
}

/** Options shared by the layout ops. */
export interface LayoutSpec {
  /** Binding-size limit to split against (tests; default and cap: the device limit). */
  maxBindingBytes?: number;
}

/** A contiguous copy of `x` (a new tensor with the same contents). */
export function copy(gpu: Gpu, x: Tensor, spec: LayoutSpec = {}): Tensor {
  const y = gpu.empty(x.shape, x.dtype);
  stridedCopy(gpu, x, y, { sizes: [x.numel], srcStrides: [1], dstStrides: [1], srcOffset: 0, dstOffset: 0 }, spec.maxBindingBytes);
  return y;
}

/** `y = x.permute(perm)`: `y.shape[k] = x.shape[perm[k]]`. E.g. NCHW→NHWC is `[0, 2, 3, 1]`. */
export function permute(gpu: Gpu, x: Tensor, perm: readonly number[], spec: LayoutSpec = {}): Tensor {
  const rank = x.rank;
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) {
    throw new MedgpuError('BAD_ARGUMENT', `permute: [${perm.join(', ')}] is not a permutation of the axes of ${shapeString(x.shape)}`);
  }
  const xs = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p] as number);
  const y = gpu.empty(shape, x.dtype);
  // Iterate in output order so that rows are written contiguously.
  stridedCopy(
    gpu,
    x,
    y,
    { sizes: shape, srcStrides: perm.map((p) => xs[p] as number), dstStrides: contiguousStrides(shape), srcOffset: 0, dstOffset: 0 },
    spec.maxBindingBytes,
  );
  return y;
}

/** `x[..., start:end, ...]` along `axis` (negative counts from the end), as a new contiguous tensor. */
export function slice(gpu: Gpu, x: Tensor, axis: number, start: number, end: number, spec: LayoutSpec = {}): Tensor {
  const ax = normAxis(axis, x.rank, 'slice', x.shape);
  const d = x.shape[ax] as number;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > d || start > end) {
    throw new MedgpuError('BAD_ARGUMENT', `slice: range [${start}, ${end}) is outside axis ${ax} (size ${d}) of ${shapeString(x.shape)}`);
  }
  const shape = x.shape.map((s, k) => (k === ax ? end - start : s));
  const y = gpu.empty(shape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(
    gpu,
    x,
    y,
    { sizes: shape, srcStrides: xs, dstStrides: contiguousStrides(shape), srcOffset: start * (xs[ax] as number), dstOffset: 0 },
    spec.maxBindingBytes,
  );
  return y;
}

/** Splits `x` into `parts` equal pieces along `axis` (torch `chunk` when the size divides). */
export function chunk(gpu: Gpu, x: Tensor, parts: number, axis = -1, spec: LayoutSpec = {}): Tensor[] {
  const ax = normAxis(axis, x.rank, 'chunk', x.shape);
  const d = x.shape[ax] as number;
  if (!Number.isInteger(parts) || parts < 1 || d % parts !== 0) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `chunk: axis ${ax} of ${shapeString(x.shape)} (size ${d}) does not split into ${parts} equal parts`,
    );
  }
  const w = d / parts;
  return Array.from({ length: parts }, (_, i) => slice(gpu, x, ax, i * w, (i + 1) * w, spec));
}

/** Concatenates tensors along `axis` (default: channels, the last axis). All other axes must agree. */
export function concat(gpu: Gpu, xs: readonly Tensor[], axis = -1, spec: LayoutSpec = {}): Tensor {
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
    stridedCopy(
      gpu,
      t,
      y,
      { sizes: [...t.shape], srcStrides: contiguousStrides(t.shape), dstStrides: ys, srcOffset: 0, dstOffset: at * (ys[ax] as number) },
      spec.maxBindingBytes,
    );
    at += t.shape[ax] as number;
  }
  return y;
}

const gegluParams = defineParams({ f: 'u32', nseg: 'u32', total: 'u32', xOff: 'u32', yOff: 'u32' });

/**
 * Rows of F outputs, as vec4s when F % 4 == 0, one SEG-unit segment per invocation: hidden x[r, i] and
 * gate x[r, F + i] give y[r, i] = hidden · gelu(gate). Offsets and F are in units of the vector width.
 */
function gegluKernel(dtype: DType, vec: 1 | 4): string {
  const T = vec === 4 ? `vec4<${dtype}>` : dtype;
  const F = vec === 4 ? 'vec4f' : 'f32';
  return `${enables(dtype)}${storage(0, 'x', T, 'read')}${storage(1, 'y', T, 'read_write')}${gegluParams.declare(2)}
${MATH_HELPERS}
fn gelu(v: f32) -> f32 { return ${activationWgsl('gelu', 'v')}; }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = ${linearWorkgroup} * ${WG}u + lid;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let row = tc / p.nseg;
  let src = p.xOff + row * 2u * p.f;
  let dst = p.yOff + row * p.f;
  let end = select(0u, min(p.f, (seg + 1u) * ${SEG}u), t < p.total);
  for (var i = seg * ${SEG}u; i < end; i++) {
    let hidden = ${F}(x[src + i]);
    let gate = ${F}(x[src + p.f + i]);
    y[dst + i] = ${T}(hidden * ${vec === 4 ? 'vec4f(gelu(gate.x), gelu(gate.y), gelu(gate.z), gelu(gate.w))' : 'gelu(gate)'});
  }
}
`;
}

/** diffusers GEGLU after the projection: `[..., 2F] → x[..., :F] * gelu(x[..., F:])` (exact erf gelu). */
export function geglu(gpu: Gpu, x: Tensor, spec: LayoutSpec = {}): Tensor {
  const two = x.shape[x.rank - 1] ?? 0;
  if (x.rank === 0 || two % 2 !== 0) {
    throw new ShapeError(`geglu: last axis of ${shapeString(x.shape)} must be even (hidden and gate halves)`);
  }
  const f = two / 2;
  const shape = x.shape.map((s, i) => (i === x.rank - 1 ? f : s));
  const y = gpu.empty(shape, x.dtype);
  const rows = numel(shape.slice(0, -1));
  if (y.numel === 0) return y;
  const vec: 1 | 4 = f % 4 === 0 ? 4 : 1;
  const es = bytesPerElement(x.dtype);
  const limitEl = Math.floor(bindingLimit(gpu, spec.maxBindingBytes) / es);
  const perLaunch = Math.floor(limitEl / two);
  if (perLaunch < 1) throw new LimitError('LIMIT_EXCEEDED', `geglu: one row of ${two} ${x.dtype} values exceeds the binding limit`);
  const whole = rows <= perLaunch && x.byteLength <= limitEl * es;
  const unitBytes = Math.max(4, vec * es);
  const n = f / vec;
  const nseg = Math.ceil(n / SEG);
  for (let r0 = 0; r0 < rows; r0 += perLaunch) {
    const count = Math.min(perLaunch, rows - r0);
    const xb = whole ? { binding: x, base: 0 } : bindRange(gpu, x, r0 * two, (r0 + count) * two, unitBytes);
    const yb = whole ? { binding: y, base: 0 } : bindRange(gpu, y, r0 * f, (r0 + count) * f, unitBytes);
    gpu.dispatch({
      key: `layout.geglu:${x.dtype}:v${vec}`,
      code: () => gegluKernel(x.dtype, vec),
      bindings: [xb.binding, yb.binding],
      params: gegluParams.pack({ f: n, nseg, total: count * nseg, xOff: (r0 * two - xb.base) / vec, yOff: (r0 * f - yb.base) / vec }),
      workgroups: grid2d(Math.ceil((count * nseg) / WG)),
    });
  }
  return y;
}

/** Pure data movement: every element read once and written once. */
export function layoutCost(numelOut: number, dtype: DType): Cost {
  const b = bytesPerElement(dtype);
  return { flops: 0, bytes: 2 * numelOut * b };
}

export function gegluCost(numelOut: number, dtype: DType): Cost {
  const b = bytesPerElement(dtype);
  return { flops: numelOut * 20, bytes: 3 * numelOut * b };
}
