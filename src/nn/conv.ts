/**
 * `torch.nn.Conv2d` / `Conv3d` on channels-last activations. The PyTorch weight [Cout, Cin, (kd,) kh, kw] is
 * re-laid for the implicit-GEMM kernel once at load.
 */
import { type ConvSpec, type ConvWeight, conv, prepareConvWeight } from '../kernels/conv.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Param, ParamScope } from './params.js';

export interface ConvOptions {
  /** Spatial rank: 2 (Conv2d) or 3 (Conv3d). */
  dims: 2 | 3;
  kernel: number;
  stride?: number;
  /** Symmetric zero padding, or [before, after] per axis (the VAE downsampler pads (0, 1)). */
  padding?: ConvSpec['padding'];
  bias?: boolean;
}

export class Conv {
  readonly weight: Param<ConvWeight>;
  readonly bias: Param | null;
  readonly spec: ConvSpec;

  constructor(
    scope: ParamScope,
    readonly cin: number,
    readonly cout: number,
    readonly opts: ConvOptions,
  ) {
    const k = opts.kernel;
    const shape = [cout, cin, ...Array<number>(opts.dims).fill(k)];
    const label = scope.key('weight');
    this.weight = scope.custom([['weight', shape]], ([h], { gpu, dtype }) =>
      prepareConvWeight(gpu, h as Float32Array, shape, dtype, label),
    );
    this.bias = opts.bias === false ? null : scope.tensor('bias', [cout]);
    this.spec = { stride: opts.stride ?? 1, padding: opts.padding ?? 0 };
  }

  /** x [N, (D,) H, W, Cin] → [N, (D',) H', W', Cout]; `(conv + bias + residual) * scale`. */
  forward(gpu: Gpu, x: Tensor, opts: { residual?: Tensor; scale?: number } = {}): Tensor {
    return conv(gpu, x, this.weight.value, { bias: this.bias?.value, residual: opts.residual }, { ...this.spec, scale: opts.scale });
  }
}
