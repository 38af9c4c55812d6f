/**
 * dtype conversion between f32 and f16 storage. f16 → f32 is exact; f32 → f16 is WGSL's `f16(x)`, which
 * rounds to a neighbouring f16 (nearest on the adapters we know); values beyond the f16 range are
 * implementation-defined in WGSL, so callers must not rely on them. Models stored in f16 take f32 inputs
 * (latents, text embeddings) and may hand f32 results back. Tensors larger than the storage binding limit
 * are converted in ranges bound at aligned offsets.
 */
import { type DType, bytesPerElement } from '../runtime/dtype.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import { bindElements, bindingBudget } from './bind-range.js';
import type { Cost } from './cost.js';
import { copy } from './layout.js';

const WG = 64;
/** Elements per invocation. */
const RUN = 4;
const params = defineParams({ n: 'u32', xOff: 'u32', yOff: 'u32' });

function castKernel(from: DType, to: DType): string {
  return `${enables(from, to)}${storage(0, 'x', from, 'read')}${storage(1, 'y', to, 'read_write')}${params.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = (${linearWorkgroup} * ${WG}u + lid) * ${RUN}u;
  let end = min(i0 + ${RUN}u, p.n);
  for (var i = i0; i < end; i++) {
    y[p.yOff + i] = ${to}(x[p.xOff + i]);
  }
}
`;
}

/** `x` converted to `dtype` (a copy when it already has it). */
export function cast(gpu: Gpu, x: Tensor, dtype: DType, opts: { maxBindingBytes?: number } = {}): Tensor {
  if (x.dtype === dtype) return copy(gpu, x);
  const y = gpu.empty(x.shape, dtype, x.label);
  const n = x.numel;
  if (n === 0) return y;
  const budget = bindingBudget(gpu, opts.maxBindingBytes);
  const per = Math.max(1, Math.floor(budget / Math.max(bytesPerElement(x.dtype), bytesPerElement(dtype))));
  for (let first = 0; first < n; first += per) {
    const count = Math.min(per, n - first);
    const xb = bindElements(gpu, x, first, count);
    const yb = bindElements(gpu, y, first, count);
    gpu.dispatch({
      key: `cast:${x.dtype}:${dtype}`,
      code: () => castKernel(x.dtype, dtype),
      bindings: [xb.binding, yb.binding],
      params: params.pack({ n: count, xOff: xb.elemOff, yOff: yb.elemOff }),
      workgroups: grid2d(Math.ceil(count / (WG * RUN))),
    });
  }
  return y;
}

export function castCost(numel: number, from: DType, to: DType): Cost {
  return { flops: 0, bytes: numel * (bytesPerElement(from) + bytesPerElement(to)) };
}
