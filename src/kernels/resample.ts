/**
 * Resampling kernels on channels-last activations: nearest ×2 upsampling (2D `[N,H,W,C]` and 3D
 * `[N,D,H,W,C]`, as torch `F.interpolate(scale_factor=2, mode="nearest")`) and constant-zero padding with
 * per-axis before/after amounts (the VAE downsampler pads `(0, 1)` on H and W).
 */
import type { DType } from '../runtime/dtype.js';
import { bytesPerElement } from '../runtime/dtype.js';
import { MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

const WG = 64;
const PER_THREAD = 4;

const upParams = defineParams({ n: 'u32', c: 'u32', w: 'u32', h: 'u32' });

/**
 * Every leading axis (N·H for 2D, N·D for 3D) collapses into one "row" axis that is also doubled: output row
 * R reads input row R/2 because n·2H + 2h = 2(n·H + h). For 3D the H axis is doubled separately (`h` > 0).
 */
function upKernel(dtype: DType, threeD: boolean): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'y', dtype, 'read_write')}${upParams.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  let wo = 2u * p.w;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    let c = i % p.c; let r1 = i / p.c;
    let w = r1 % wo; let r2 = r1 / wo;
${
  threeD
    ? `    let ho = 2u * p.h;
    let h = r2 % ho; let r = r2 / ho;
    let src = (((r / 2u) * p.h + h / 2u) * p.w + w / 2u) * p.c + c;`
    : '    let src = ((r2 / 2u) * p.w + w / 2u) * p.c + c;'
}
    y[i] = x[src];
  }
}
`;
}

/**
 * Nearest ×2 upsampling of the spatial axes of a channels-last 2D (rank 4) or 3D (rank 5) tensor. Large
 * outputs (a 512² VAE map at 256 channels is 256 MiB in f32) are split into chunks of whole input rows bound
 * at offsets, so no binding exceeds the adapter's storage binding limit.
 */
export function upsampleNearest2x(gpu: Gpu, x: Tensor): Tensor {
  if (x.rank !== 4 && x.rank !== 5) {
    throw new ShapeError(`upsampleNearest2x: expected [N,H,W,C] or [N,D,H,W,C], got ${shapeString(x.shape)}`);
  }
  const threeD = x.rank === 5;
  const outShape = x.shape.map((s, i) => (i === 0 || i === x.rank - 1 ? s : 2 * s));
  const y = gpu.empty(outShape, x.dtype);
  if (y.numel === 0) return y;
  const c = x.dim(-1);
  const w = x.dim(-2);
  const h = threeD ? x.dim(-3) : 1;
  // One "unit" is an input row (2D) or slab (3D); it becomes 2 (2D) or 4·... output elements factor `grow`.
  const unitIn = threeD ? h * w * c : w * c;
  const units = x.numel / unitIn;
  const grow = threeD ? 8 : 4;
  const bpe = bytesPerElement(x.dtype);
  const maxBinding = Number(gpu.device.limits.maxStorageBufferBindingSize);
  const align = Number(gpu.device.limits.minStorageBufferOffsetAlignment);
  let per = Math.max(1, Math.floor(maxBinding / (unitIn * grow * bpe)));
  if (per < units) {
    // Chunk offsets must be aligned for both the input and the output binding.
    const step = Math.max(1, findAlignedStep(unitIn * bpe, align));
    per = Math.floor(per / step) * step;
    if (per === 0) {
      throw new MedgpuError(
        'LIMIT_EXCEEDED',
        `upsampleNearest2x of ${shapeString(x.shape)} ${x.dtype}: cannot split into bindings under ${maxBinding} bytes with offsets aligned to ${align}; use f16 or a smaller tile`,
      );
    }
  } else per = units;
  for (let u0 = 0; u0 < units; u0 += per) {
    const cnt = Math.min(per, units - u0);
    const n = cnt * unitIn * grow;
    const inBytes = cnt * unitIn * bpe;
    const outBytes = n * bpe;
    gpu.dispatch({
      key: `resample.up2x:${threeD ? '3d' : '2d'}:${x.dtype}`,
      code: () => upKernel(x.dtype, threeD),
      bindings:
        per === units
          ? [x, y]
          : [
              { buffer: x.buffer, offset: u0 * unitIn * bpe, size: alignUp4(inBytes) },
              { buffer: y.buffer, offset: u0 * unitIn * grow * bpe, size: alignUp4(outBytes) },
            ],
      params: upParams.pack({ n, c, w, h }),
      workgroups: grid2d(Math.ceil(n / (WG * PER_THREAD))),
    });
  }
  return y;
}

const alignUp4 = (b: number) => Math.ceil(b / 4) * 4;

/** Smallest number of units whose byte size is a multiple of `align`. */
function findAlignedStep(unitBytes: number, align: number): number {
  for (let k = 1; k <= align; k++) if ((unitBytes * k) % align === 0) return k;
  return 0;
}

const MAX_PAD_AXES = 5;
const padParams = defineParams({
  n: 'u32',
  o0: 'u32',
  o1: 'u32',
  o2: 'u32',
  o3: 'u32',
  o4: 'u32',
  x0: 'u32',
  x1: 'u32',
  x2: 'u32',
  x3: 'u32',
  x4: 'u32',
  b0: 'u32',
  b1: 'u32',
  b2: 'u32',
  b3: 'u32',
  b4: 'u32',
});

function padKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'y', dtype, 'read_write')}${padParams.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (${linearWorkgroup} * ${WG}u + lid) * ${PER_THREAD}u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k;
    if (i >= p.n) { return; }
    // Output coordinate minus 'before' per axis; unsigned wrap-around makes "< 0" show up as ">= size".
    let q4 = i % p.o4; let r4 = i / p.o4;
    let q3 = r4 % p.o3; let r3 = r4 / p.o3;
    let q2 = r3 % p.o2; let r2 = r3 / p.o2;
    let q1 = r2 % p.o1; let q0 = r2 / p.o1;
    let a0 = q0 - p.b0; let a1 = q1 - p.b1; let a2 = q2 - p.b2; let a3 = q3 - p.b3; let a4 = q4 - p.b4;
    let inside = a0 < p.x0 && a1 < p.x1 && a2 < p.x2 && a3 < p.x3 && a4 < p.x4;
    let src = select(0u, (((a0 * p.x1 + a1) * p.x2 + a2) * p.x3 + a3) * p.x4 + a4, inside);
    let v = x[src];
    y[i] = select(${dtype}(0.0), v, inside);
  }
}
`;
}

/**
 * Zero padding: `pads[k] = [before, after]` for axis k (missing trailing axes get no padding), e.g. the VAE
 * downsampler's `F.pad(x, (0, 1, 0, 1))` on NHWC is `pad(x, [[0,0],[0,1],[0,1],[0,0]])`.
 */
export function pad(gpu: Gpu, x: Tensor, pads: ReadonlyArray<readonly [number, number]>): Tensor {
  if (x.rank > MAX_PAD_AXES || pads.length > x.rank) {
    throw new ShapeError(`pad: ${pads.length} pad pairs for ${shapeString(x.shape)}; at most one per axis and rank ≤ ${MAX_PAD_AXES}`);
  }
  for (const [b, a] of pads) {
    if (!Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0) {
      throw new MedgpuError('BAD_ARGUMENT', `pad: amounts must be non-negative integers, got [${b}, ${a}] (cropping is slice's job)`);
    }
  }
  const before = x.shape.map((_, k) => pads[k]?.[0] ?? 0);
  const outShape = x.shape.map((s, k) => s + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0));
  const y = gpu.empty(outShape, x.dtype);
  const n = numel(outShape);
  if (n === 0) return y;
  const lead = MAX_PAD_AXES - x.rank;
  const o = [...new Array<number>(lead).fill(1), ...outShape];
  const xs = [...new Array<number>(lead).fill(1), ...x.shape];
  const bs = [...new Array<number>(lead).fill(0), ...before];
  gpu.dispatch({
    key: `resample.pad:${x.dtype}`,
    code: () => padKernel(x.dtype),
    bindings: [x, y],
    params: padParams.pack({
      n,
      o0: o[0] as number,
      o1: o[1] as number,
      o2: o[2] as number,
      o3: o[3] as number,
      o4: o[4] as number,
      x0: xs[0] as number,
      x1: xs[1] as number,
      x2: xs[2] as number,
      x3: xs[3] as number,
      x4: xs[4] as number,
      b0: bs[0] as number,
      b1: bs[1] as number,
      b2: bs[2] as number,
      b3: bs[3] as number,
      b4: bs[4] as number,
    }),
    workgroups: grid2d(Math.ceil(n / (WG * PER_THREAD))),
  });
  return y;
}

/** Data movement only: input read once per output element, output written once. */
export function resampleCost(numelIn: number, numelOut: number, dtype: DType): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  return { flops: 0, bytes: (numelIn + numelOut) * b };
}
