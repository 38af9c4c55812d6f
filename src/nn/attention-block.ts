/**
 * The VAE's spatial self-attention (diffusers `Attention` as `UNetMidBlock2D` builds it, formerly
 * `AttentionBlock`): x + to_out(softmax(q·kᵀ/√C)·v) with q, k, v = Linear(GroupNorm(x)) over all H·W
 * positions, one head of the full channel width. `names: 'legacy'` reads the pre-0.14 keys
 * query/key/value/proj_attn that diffusers converts at load.
 */
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { Attention } from './attention.js';
import { GroupNorm } from './norm.js';
import type { ParamScope } from './params.js';

export class SpatialSelfAttention {
  readonly groupNorm: GroupNorm;
  readonly attention: Attention;

  constructor(scope: ParamScope, channels: number, groups: number, eps: number, names: 'diffusers' | 'legacy' = 'diffusers') {
    this.groupNorm = new GroupNorm(scope.child('group_norm'), channels, groups, eps);
    this.attention = new Attention(scope, { queryDim: channels, crossAttentionDim: null, heads: 1, qkvBias: true, names });
  }

  /** x [B, H, W, C] → [B, H, W, C]. */
  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const [b, h, w, c] = x.shape as [number, number, number, number];
      const tokens = this.groupNorm.forward(gpu, x).reshape([b, h * w, c]);
      return this.attention.forward(gpu, tokens, { residual: x.reshape([b, h * w, c]) }).reshape([b, h, w, c]);
    });
  }
}
