/**
 * The LDM `DiagonalGaussianDistribution` of a VAE posterior in one pass over channels-last moments
 * [..., 2C] (mean = channels [0, C), logvar = [C, 2C)): logvar clamped to [-30, 20], std = exp(logvar / 2),
 * and the sample `mean + std·eps` (eps [..., C]). One kernel serves every read-out (a uniform picks it), so
 * the posterior costs one small launch per output and a single compiled pipeline per dtype.
 */
import type { DType } from '../runtime/dtype.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

/** What to read out of the posterior. `sample` without eps is the mean (`mode()`). */
export type PosteriorOutput = 'sample' | 'mean' | 'logvar' | 'std';

const OUTPUT_CODE: Record<PosteriorOutput, number> = { sample: 0, mean: 0, logvar: 1, std: 2 };
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

const WG = 64;
const params = defineParams({ n: 'u32', c: 'u32', mode: 'u32', hasEps: 'u32' });

function kernelSource(dtype: DType): string {
  const T = dtype;
  return `${enables(T)}${storage(0, 'moments', T, 'read')}${storage(1, 'eps', T, 'read')}${storage(2, 'y', T, 'read_write')}${params.declare(3)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${linearWorkgroup} * ${WG}u + lid;
  if (i >= p.n) { return; }
  let row = i / p.c;
  let ch = i - row * p.c;
  let base = row * 2u * p.c + ch;
  let mean = f32(moments[base]);
  let logvar = clamp(f32(moments[base + p.c]), ${LOGVAR_MIN}.0, ${LOGVAR_MAX}.0);
  let sd = exp(0.5 * logvar);
  var out = mean;
  if (p.mode == 0u && p.hasEps != 0u) { out = mean + sd * f32(eps[i]); }
  if (p.mode == 1u) { out = logvar; }
  if (p.mode == 2u) { out = sd; }
  y[i] = ${T}(out);
}
`;
}

/**
 * One read-out of the posterior whose parameters are `moments` [..., 2C]: the clamped `logvar`, `std`, the
 * `mean`, or a `sample` `mean + std·eps` with `eps` [..., C] (the mean when `eps` is omitted). Output [..., C].
 */
export function diagonalGaussian(gpu: Gpu, moments: Tensor, output: PosteriorOutput, eps?: Tensor): Tensor {
  const c2 = moments.dim(-1);
  if (c2 % 2 !== 0)
    throw new ShapeError(`diagonalGaussian: moments ${shapeString(moments.shape)} must have an even channel count (mean and logvar)`);
  const c = c2 / 2;
  const outShape = [...moments.shape.slice(0, -1), c];
  const useEps = output === 'sample' && eps !== undefined;
  if (useEps) {
    if (shapeString(eps.shape) !== shapeString(outShape) || eps.dtype !== moments.dtype) {
      throw new ShapeError(
        `diagonalGaussian: eps ${shapeString(eps.shape)} ${eps.dtype} must be ${shapeString(outShape)} ${moments.dtype}`,
      );
    }
  }
  const y = gpu.empty(outShape, moments.dtype, `posterior ${output}`);
  if (y.numel === 0) return y;
  gpu.dispatch({
    key: `diagonal-gaussian:${moments.dtype}`,
    code: () => kernelSource(moments.dtype),
    bindings: [moments, useEps ? eps : moments, y],
    params: params.pack({ n: y.numel, c, mode: OUTPUT_CODE[output], hasEps: useEps ? 1 : 0 }),
    workgroups: grid2d(Math.ceil(y.numel / WG)),
  });
  return y;
}

/** Reads the moments once (and eps for a sample), writes one output. */
export function diagonalGaussianCost(outNumel: number, output: PosteriorOutput, dtype: DType): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  const inputs = output === 'sample' ? 3 : 2;
  return { flops: 4 * outNumel, bytes: b * outNumel * (inputs + 1) };
}
