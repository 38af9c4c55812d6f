/**
 * Embedding kernels: a row gather `table[ids]` (CLIP token and position embeddings) and diffusers'
 * sinusoidal `get_timestep_embedding`.
 */
import { type DType, bytesPerElement } from '../runtime/dtype.js';
import { LimitError, MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import { type Shape, type Tensor, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

const WG = 64;
const PER_THREAD = 4;

/**
 * Uploads integer ids (token ids, position ids) as a GPU tensor of u32 bits. Tensor dtypes are float only,
 * so the tensor is labelled `ids` and typed f32 for storage; kernels bind it as `array<u32>` and nothing else
 * may read it as floats. Ids are checked against `vocab` here, because the GPU cannot report a bad index.
 */
export function uploadIds(gpu: Gpu, ids: ArrayLike<number>, shape: Shape, vocab?: number): Tensor {
  if (ids.length !== numel(shape)) {
    throw new ShapeError(`uploadIds: ${ids.length} ids for shape ${shapeString(shape)}`);
  }
  const bits = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i] as number;
    if (!Number.isInteger(v) || v < 0 || (vocab !== undefined && v >= vocab)) {
      throw new MedgpuError('BAD_ARGUMENT', `uploadIds: id ${v} at position ${i} is outside the vocabulary [0, ${vocab ?? '2^32'})`);
    }
    bits[i] = v;
  }
  const t = gpu.empty(shape, 'f32', 'ids');
  gpu.write(t, new Float32Array(bits.buffer));
  return t;
}

/** Table units (scalars or vec4s) one invocation copies: enough to amortise finding its row. */
const SEG = 32;

const gatherParams = defineParams({
  d: 'u32',
  nseg: 'u32',
  total: 'u32',
  row0: 'u32',
  rows: 'u32',
  tOff: 'u32',
  idOff: 'u32',
  yOff: 'u32',
});

function gatherKernel(dtype: DType, vec: 1 | 4): string {
  const T = vec === 4 ? `vec4<${dtype}>` : dtype;
  return `${enables(dtype)}${storage(0, 'table', T, 'read')}${storage(1, 'ids', 'u32', 'read')}${storage(2, 'y', T, 'read_write')}${gatherParams.declare(3)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = ${linearWorkgroup} * ${WG}u + lid;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  // This launch binds table rows [row0, row0 + rows); outputs whose id lies elsewhere belong to another
  // launch. Ids were range-checked on upload, so every output is written by exactly one launch.
  let id = ids[p.idOff + r];
  let mine = t < p.total && id >= p.row0 && id - p.row0 < p.rows;
  let end = select(0u, min(p.d, (seg + 1u) * ${SEG}u), mine);
  let src = p.tOff + (id - p.row0) * p.d;
  let dst = p.yOff + r * p.d;
  for (var i = seg * ${SEG}u; i < end; i++) { y[dst + i] = table[src + i]; }
}
`;
}

/** Binds elements [lo, hi) of `t` (element size `es`): offset aligned down, size rounded up to `unit` bytes. */
function bindRange(gpu: Gpu, t: Tensor, es: number, lo: number, hi: number, unit: number): { binding: BufferBinding; base: number } {
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  const off = Math.floor((lo * es) / align) * align;
  const end = Math.min(t.buffer.size, Math.ceil((hi * es) / unit) * unit);
  return { binding: { buffer: t.buffer, offset: off, size: Math.max(unit, end - off) }, base: off / es };
}

/**
 * `table[ids]`: ids of shape S (from `uploadIds`) and a `[V, D]` table give `[...S, D]`. A table or an
 * output over the binding limit (CLIP-L's 49408×768 f32 table is 145 MiB) is bound in windows of rows.
 */
export function gather(gpu: Gpu, table: Tensor, ids: Tensor, spec: { maxBindingBytes?: number } = {}): Tensor {
  if (table.rank !== 2) throw new ShapeError(`gather: embedding table must be [V, D], got ${shapeString(table.shape)}`);
  const [v, d] = table.shape as [number, number];
  const y = gpu.empty([...ids.shape, d], table.dtype);
  if (y.numel === 0) return y;
  if (v === 0) throw new ShapeError(`gather: embedding table ${shapeString(table.shape)} has no rows`);
  const es = bytesPerElement(table.dtype);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  const device = Number(gpu.limits.maxStorageBufferBindingSize);
  const limit = Math.min(spec.maxBindingBytes ?? device, device) - align - 16;
  const maxRows = Math.floor(limit / (d * es));
  if (maxRows < 1) {
    throw new LimitError('LIMIT_EXCEEDED', `gather: one row of ${d} ${table.dtype} values exceeds the binding limit of ${limit} bytes`);
  }
  const vec: 1 | 4 = d % 4 === 0 ? 4 : 1;
  const unit = Math.max(4, vec * es);
  const n = ids.numel;
  const nseg = Math.ceil(d / vec / SEG);
  const outRows = Math.min(n, maxRows, Math.floor(limit / 4));
  for (let r0 = 0; r0 < n; r0 += outRows) {
    const count = Math.min(outRows, n - r0);
    const allOut = r0 === 0 && count === n;
    const yb = allOut ? { binding: y, base: 0 } : bindRange(gpu, y, es, r0 * d, (r0 + count) * d, unit);
    const ib = allOut ? { binding: ids, base: 0 } : bindRange(gpu, ids, 4, r0, r0 + count, 4);
    for (let row0 = 0; row0 < v; row0 += maxRows) {
      const rows = Math.min(maxRows, v - row0);
      const tb = row0 === 0 && rows === v ? { binding: table, base: 0 } : bindRange(gpu, table, es, row0 * d, (row0 + rows) * d, unit);
      gpu.dispatch({
        key: `embedding.gather:${table.dtype}:v${vec}`,
        code: () => gatherKernel(table.dtype, vec),
        bindings: [tb.binding, ib.binding, yb.binding],
        params: gatherParams.pack({
          d: d / vec,
          nseg,
          total: count * nseg,
          row0,
          rows,
          tOff: (row0 * d - tb.base) / vec,
          idOff: r0 - ib.base,
          yOff: (r0 * d - yb.base) / vec,
        }),
        workgroups: grid2d(Math.ceil((count * nseg) / WG)),
      });
    }
  }
  return y;
}

export interface TimestepEmbeddingSpec {
  dim: number;
  flipSinToCos: boolean;
  downscaleFreqShift: number;
  scale?: number;
  maxPeriod?: number;
  /** Output dtype (timesteps are always f32). */
  dtype?: DType;
}

/**
 * The frequencies `exp(-ln(max_period)·arange(half)/(half - shift))`, rounded to f32 at each step as torch
 * computes them in float32 (the scalar factors are cast to f32 first). torch's exp may differ from the
 * correctly rounded one by 1 ulp, which at t = 1000 moves an argument by ~6e-5 rad.
 */
export function timestepFrequencies(dim: number, downscaleFreqShift: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const negLog = f(-Math.log(maxPeriod));
  const div = f(half - downscaleFreqShift);
  return Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(negLog * i) / div))));
}

/**
 * Splits of π/2 with 11 significant bits each, so `k·P1` and `k·P2` are exact in f32 for quadrants k < 2^13
 * (arguments up to ~12 800 rad); P3 carries the rest. Cody–Waite reduction then leaves |r| ≲ π/4 with an
 * absolute error near 1e-7 whatever the size of the argument, where the built-in sin/cos of a raw argument
 * of 1000 rad would be off by ~1e-4 (f32 ulp of 1000 is 6e-5 and drivers reduce less carefully).
 */
function piOver2Splits(): [number, number, number] {
  const h = Math.PI / 2;
  const roundBits = (v: number, bits: number) => {
    const q = 2 ** (Math.floor(Math.log2(Math.abs(v))) - bits + 1);
    return Math.round(v / q) * q;
  };
  const p1 = roundBits(h, 11);
  const p2 = roundBits(h - p1, 11);
  return [p1, p2, Math.fround(h - p1 - p2)];
}

const tParams = defineParams({ n: 'u32', dim: 'u32', half: 'u32', flip: 'u32', scale: 'f32' });

function timestepKernel(dtype: DType): string {
  const [p1, p2, p3] = piOver2Splits();
  const lit = (v: number) => `${v.toExponential(17)}`;
  return `${enables(dtype)}${storage(0, 't', 'f32', 'read')}${storage(1, 'freq', 'f32', 'read')}${storage(2, 'y', dtype, 'read_write')}${tParams.declare(3)}
/** sin (which == 0) or cos (which == 1) of x, with Cody–Waite reduction to [-π/4, π/4]. */
fn sincos_reduced(x: f32, which: u32) -> f32 {
  let k = round(x * 0.63661977236758134);
  let r = ((x - k * ${lit(p1)}) - k * ${lit(p2)}) - k * ${lit(p3)};
  let q = (u32(i32(k)) + which) & 3u;
  let s = sin(r);
  let c = cos(r);
  // sin(r + qπ/2) for q = 0..3: sin, cos, -sin, -cos. cos(x) = sin(x + π/2).
  return select(select(-c, -s, q == 2u), select(c, s, q == 0u), q < 2u);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    let b = i / p.dim;
    let j = i % p.dim;
    if (j >= 2u * p.half) { y[i] = ${dtype}(0.0); continue; } // odd dim: zero pad column
    // Unflipped layout is [sin | cos]; flipped is [cos | sin].
    let second = j >= p.half;
    let f = select(j, j - p.half, second);
    let isCos = second != (p.flip == 1u);
    // Two f32 roundings as torch: t·freq, then ·scale.
    let arg = p.scale * (t[b] * freq[f]);
    y[i] = ${dtype}(sincos_reduced(arg, select(0u, 1u, isCos)));
  }
}
`;
}

/**
 * diffusers `get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift, scale,
 * max_period)` for f32 timesteps of shape [B]; returns [B, dim].
 */
export function timestepEmbedding(gpu: Gpu, timesteps: Tensor, spec: TimestepEmbeddingSpec): Tensor {
  if (timesteps.rank !== 1 || timesteps.dtype !== 'f32') {
    throw new ShapeError(`timestepEmbedding: timesteps must be a 1-D f32 tensor, got ${timesteps.dtype}${shapeString(timesteps.shape)}`);
  }
  const { dim } = spec;
  if (!Number.isInteger(dim) || dim < 1) throw new MedgpuError('BAD_ARGUMENT', `timestepEmbedding: dim ${dim} must be a positive integer`);
  const half = Math.floor(dim / 2);
  const dtype = spec.dtype ?? 'f32';
  const b = timesteps.dim(0);
  const y = gpu.empty([b, dim], dtype);
  if (y.numel === 0) return y;
  return gpu.scope(() => {
    const freq = gpu.upload(half > 0 ? timestepFrequencies(dim, spec.downscaleFreqShift, spec.maxPeriod) : [0], [Math.max(1, half)], 'f32');
    gpu.dispatch({
      key: `embedding.timestep:${dtype}`,
      code: () => timestepKernel(dtype),
      bindings: [timesteps, freq, y],
      params: tParams.pack({ n: y.numel, dim, half, flip: spec.flipSinToCos ? 1 : 0, scale: spec.scale ?? 1 }),
      workgroups: grid2d(Math.ceil(y.numel / (WG * PER_THREAD))),
    });
    return y;
  });
}

/** Gather: reads one id per row and copies D values. */
export function gatherCost(rows: number, d: number, dtype: DType): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  return { flops: 0, bytes: rows * 4 + 2 * rows * d * b };
}

/** Timestep embedding: about 30 flops per output (frequency, reduction, sin/cos); the output written once. */
export function timestepEmbeddingCost(batch: number, dim: number, dtype: DType): Cost {
  return { flops: 30 * batch * dim, bytes: batch * 4 + batch * dim * bytesPerElement(dtype) };
}
