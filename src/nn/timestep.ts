/**
 * diffusers' time conditioning: `Timesteps` (sinusoidal projection of float32 timesteps) and
 * `TimestepEmbedding` (linear_1 → SiLU → linear_2, the SiLU fused into linear_1's epilogue).
 */
import { timestepEmbedding } from '../kernels/embedding.js';
import type { DType } from '../runtime/dtype.js';
import { MedgpuError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { Linear } from './linear.js';
import type { ParamScope } from './params.js';

/** A timestep for the whole batch, one per sample, or a GPU tensor [B] of f32 timesteps. */
export type Timesteps = number | readonly number[] | Tensor;

/** The timesteps as an f32 tensor [batch]: a scalar (or one-element list) is broadcast, as diffusers does. */
export function timestepsTensor(gpu: Gpu, t: Timesteps, batch: number): Tensor {
  if (typeof t === 'number' || Array.isArray(t)) {
    const list: readonly number[] = typeof t === 'number' ? [t] : t;
    if (list.length !== 1 && list.length !== batch) {
      throw new MedgpuError('BAD_ARGUMENT', `timesteps: ${list.length} values for a batch of ${batch}; give one, or one per sample`);
    }
    if (list.some((v) => !Number.isFinite(v)))
      throw new MedgpuError('BAD_ARGUMENT', `timesteps must be finite numbers, got [${list.join(', ')}]`);
    // Float32Array rounds to float32, as diffusers casts timesteps before the sin/cos.
    return gpu.upload(
      Float32Array.from({ length: batch }, (_, i) => list[list.length === 1 ? 0 : i] as number),
      [batch],
      'f32',
      'timesteps',
    );
  }
  const tt = t as Tensor;
  if (tt.rank !== 1 || tt.dim(0) !== batch || tt.dtype !== 'f32') {
    throw new MedgpuError('BAD_ARGUMENT', `timesteps tensor must be f32 [${batch}], got ${tt.dtype} ${shapeString(tt.shape)}`);
  }
  return tt;
}

/** `Timesteps(dim, flip_sin_to_cos, downscale_freq_shift)` followed by `TimestepEmbedding(dim, embedDim)`. */
export class TimeEmbedding {
  readonly linear1: Linear;
  readonly linear2: Linear;

  constructor(
    scope: ParamScope,
    readonly projDim: number,
    readonly embedDim: number,
    readonly flipSinToCos: boolean,
    readonly freqShift: number,
  ) {
    this.linear1 = new Linear(scope.child('linear_1'), projDim, embedDim);
    this.linear2 = new Linear(scope.child('linear_2'), embedDim, embedDim);
  }

  /** f32 timesteps [B] → embedding [B, embedDim] in `dtype`. */
  forward(gpu: Gpu, timesteps: Tensor, dtype: DType): Tensor {
    return gpu.scope(() => {
      const proj = timestepEmbedding(gpu, timesteps, {
        dim: this.projDim,
        flipSinToCos: this.flipSinToCos,
        downscaleFreqShift: this.freqShift,
        dtype,
      });
      return this.linear2.forward(gpu, this.linear1.forward(gpu, proj, { activation: 'silu' }));
    });
  }
}
