/**
 * Softmax over the last axis, numerically stable (max-subtracted), accumulated in f32, with an optional
 * scale applied to the logits first and an optional causal mask. One 64-invocation workgroup per row:
 * each invocation strides over the row, then the workgroup reduces max and sum in shared memory.
 */
import type { DType } from '../runtime/dtype.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

export interface SoftmaxSpec {
  /** Logits are multiplied by this before the softmax (e.g. 1/sqrt(head_dim)). Default 1. */
  scale?: number;
  /**
   * Causal (top-left aligned, as PyTorch's `is_causal`): in a row with query index i (its position along
   * the second-to-last axis), columns j > i get probability 0. Needs rank >= 2.
   */
  causal?: boolean;
}

const WG = 64;
const params = defineParams({ rows: 'u32', cols: 'u32', qLen: 'u32', scale: 'f32' });

function softmaxKernel(dtype: DType, causal: boolean): string {
  const T = dtype;
  // Masked columns are excluded from max and sum; limit = last column that takes part.
  const limit = causal ? 'min(p.cols, (row % p.qLen) + 1u)' : 'p.cols';
  return `${enables(dtype)}${storage(0, 'x', T, 'read')}${storage(1, 'y', T, 'read_write')}${params.declare(2)}
// The largest finite f32 (the literal 3.4028235e38 rounds above it and WGSL rejects it).
const F32_MAX = 0x1.fffffep+127f;
var<workgroup> red: array<f32, ${WG}>;
fn reduce_max(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
  }
  workgroupBarrier();
  return red[0];
}
fn reduce_sum(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
  }
  workgroupBarrier();
  return red[0];
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${linearWorkgroup};
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let lim = ${limit};
  var m = -F32_MAX;
  for (var j = lid; j < lim; j += ${WG}u) { m = max(m, p.scale * f32(x[base + j])); }
  m = reduce_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < lim; j += ${WG}u) { s += exp(p.scale * f32(x[base + j]) - m); }
  s = reduce_sum(lid, s);
  let inv = 1.0 / s;
  for (var j = lid; j < p.cols; j += ${WG}u) {
    var v = 0.0;
    if (j < lim) { v = exp(p.scale * f32(x[base + j]) - m) * inv; }
    y[base + j] = ${T}(v);
  }
}
`;
}

/** Softmax of `x` over its last axis; same shape and dtype. */
export function softmax(gpu: Gpu, x: Tensor, spec: SoftmaxSpec = {}): Tensor {
  if (x.rank < 1) throw new ShapeError('softmax: input must have rank >= 1');
  if (spec.causal && x.rank < 2) throw new ShapeError(`softmax: causal mask needs rank >= 2, got [${x.shape.join(', ')}]`);
  const y = gpu.empty(x.shape, x.dtype);
  const cols = x.dim(-1);
  if (x.numel === 0) return y;
  const rows = x.numel / cols;
  gpu.dispatch({
    key: `softmax:${x.dtype}:${!!spec.causal}`,
    code: () => softmaxKernel(x.dtype, !!spec.causal),
    bindings: [x, y],
    params: params.pack({ rows, cols, qLen: spec.causal ? x.dim(-2) : 1, scale: spec.scale ?? 1 }),
    workgroups: grid2d(rows),
  });
  return y;
}

export function softmaxCost(numel: number, dtype: DType): Cost {
  const es = dtype === 'f32' ? 4 : 2;
  // max, exp-sum and normalise: ~5 flops per element (exp counted as one).
  return { flops: 5 * numel, bytes: es * 2 * numel };
}
