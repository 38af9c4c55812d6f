/** `torch.nn.Linear`: weight [out, in], optional bias [out]; `y = act(x·Wᵀ + b) (+ residual)`. */
import type { UnaryOp } from '../kernels/elementwise.js';
import { matmul } from '../kernels/matmul.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Param, ParamScope } from './params.js';

export class Linear {
  readonly weight: Param;
  readonly bias: Param | null;

  constructor(
    scope: ParamScope,
    readonly inFeatures: number,
    readonly outFeatures: number,
    withBias = true,
    /** The weight's shape in the checkpoint when it is not [out, in]: a 1×1 conv's [out, in, 1, 1] (same data). */
    storedShape?: readonly number[],
  ) {
    this.weight = storedShape
      ? scope.tensor('weight', storedShape, [outFeatures, inFeatures])
      : scope.tensor('weight', [outFeatures, inFeatures]);
    this.bias = withBias ? scope.tensor('bias', [outFeatures]) : null;
  }

  /** x [..., in] → [..., out], with a fused activation, residual ([..., out]) and output scale. */
  forward(gpu: Gpu, x: Tensor, opts: { activation?: UnaryOp; residual?: Tensor; scale?: number } = {}): Tensor {
    const rows = x.numel / this.inFeatures;
    const y = matmul(
      gpu,
      {
        a: x.reshape([rows, this.inFeatures]),
        b: this.weight.value,
        bias: this.bias?.value,
        residual: opts.residual?.reshape([rows, this.outFeatures]),
      },
      { transB: true, activation: opts.activation, scale: opts.scale },
    );
    return y.reshape([...x.shape.slice(0, -1), this.outFeatures]);
  }
}
