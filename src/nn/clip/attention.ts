/**
 * transformers `CLIPAttention` as the Stable Diffusion pipelines call it: multi-head self-attention with the
 * causal mask only (no padding mask, so pad tokens are attended by the tokens after them). The projections'
 * outputs [B, T, D] are read as [B, T, H, d] by the flash-attention kernel, so no transposes are needed.
 */
import { attention } from '../../kernels/attention.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { Linear } from '../linear.js';
import type { ParamScope } from '../params.js';

export class CLIPAttention {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  readonly headDim: number;

  constructor(
    scope: ParamScope,
    readonly hiddenSize: number,
    readonly heads: number,
  ) {
    this.qProj = new Linear(scope.child('q_proj'), hiddenSize, hiddenSize);
    this.kProj = new Linear(scope.child('k_proj'), hiddenSize, hiddenSize);
    this.vProj = new Linear(scope.child('v_proj'), hiddenSize, hiddenSize);
    this.outProj = new Linear(scope.child('out_proj'), hiddenSize, hiddenSize);
    this.headDim = hiddenSize / heads;
  }

  /** x [B, T, D] → out_proj(attention(x)) + residual. */
  forward(gpu: Gpu, x: Tensor, residual: Tensor): Tensor {
    const [b, t, d] = x.shape as [number, number, number];
    const heads = [b, t, this.heads, this.headDim];
    return gpu.scope(() => {
      // transformers scales q by d^-0.5 before Q·Kᵀ; the kernel scales the logits: the same up to rounding.
      const o = attention(
        gpu,
        {
          q: this.qProj.forward(gpu, x).reshape(heads),
          k: this.kProj.forward(gpu, x).reshape(heads),
          v: this.vProj.forward(gpu, x).reshape(heads),
        },
        { causal: true, scale: 1 / Math.sqrt(this.headDim) },
      );
      return this.outProj.forward(gpu, o.reshape([b, t, d]), { residual });
    });
  }
}
