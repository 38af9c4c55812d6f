/** `torch.nn.GroupNorm` (channels-last, optional fused SiLU) and `torch.nn.LayerNorm` over the last axis. */
import { groupNorm, layerNorm } from '../kernels/norm.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Param, ParamScope } from './params.js';

export class GroupNorm {
  readonly weight: Param;
  readonly bias: Param;

  constructor(
    scope: ParamScope,
    readonly channels: number,
    readonly groups: number,
    readonly eps: number,
  ) {
    this.weight = scope.tensor('weight', [channels]);
    this.bias = scope.tensor('bias', [channels]);
  }

  /**
   * x [N, ..., C] → same shape; `silu` fuses the activation that follows most norms in diffusers; `inPlace`
   * writes the result over x and returns x (for an x the caller no longer needs).
   */
  forward(gpu: Gpu, x: Tensor, opts: { silu?: boolean; inPlace?: boolean } = {}): Tensor {
    return groupNorm(
      gpu,
      x,
      { gamma: this.weight.value, beta: this.bias.value },
      { groups: this.groups, eps: this.eps, silu: opts.silu, inPlace: opts.inPlace },
    );
  }
}

export class LayerNorm {
  readonly weight: Param;
  readonly bias: Param;

  constructor(
    scope: ParamScope,
    readonly dim: number,
    readonly eps: number,
  ) {
    this.weight = scope.tensor('weight', [dim]);
    this.bias = scope.tensor('bias', [dim]);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return layerNorm(gpu, x, { gamma: this.weight.value, beta: this.bias.value }, { eps: this.eps });
  }
}
