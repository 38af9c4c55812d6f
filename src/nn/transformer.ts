/**
 * diffusers `Transformer2DModel` (continuous input) with `BasicTransformerBlock`s, as SD1/SD2 UNets use
 * them:
 *   h = proj_in(GroupNorm(x, eps 1e-6))           (1×1 conv, or Linear with use_linear_projection)
 *   per block: h += attn1(LN1(h)); h += attn2(LN2(h), context); h += ff(LN3(h))   (ff = GEGLU MLP)
 *   out = proj_out(h) + x
 * On channels-last data the 1×1 conv and the Linear are the same matmul (a conv weight [C, C, 1, 1] is read
 * as [C, C]); both residual adds of each sub-layer are fused into the output projections.
 */
import { geglu } from '../kernels/layout.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import { Attention } from './attention.js';
import { Linear } from './linear.js';
import { GroupNorm, LayerNorm } from './norm.js';
import type { ParamScope } from './params.js';

/** `FeedForward(dim, activation_fn="geglu")`: net.0.proj (dim → 2·4dim), GEGLU, net.2 (4dim → dim). */
export class FeedForward {
  readonly proj: Linear;
  readonly out: Linear;

  constructor(scope: ParamScope, dim: number, mult = 4) {
    const net = scope.child('net');
    this.proj = new Linear(net.child(0).child('proj'), dim, 2 * mult * dim);
    this.out = new Linear(net.child(2), mult * dim, dim);
  }

  forward(gpu: Gpu, x: Tensor, residual: Tensor): Tensor {
    return gpu.scope(() => {
      // The projection is the widest activation of the UNet (8·C per token): free it before net.2 runs.
      const hidden = this.proj.forward(gpu, x);
      const gated = geglu(gpu, hidden);
      hidden.release();
      return this.out.forward(gpu, gated, { residual });
    });
  }
}

export interface TransformerBlockOptions {
  dim: number;
  heads: number;
  crossAttentionDim: number;
  upcastAttention: boolean;
}

export class BasicTransformerBlock {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(scope: ParamScope, o: TransformerBlockOptions) {
    const attn = { queryDim: o.dim, heads: o.heads, qkvBias: false, upcast: o.upcastAttention };
    this.norm1 = new LayerNorm(scope.child('norm1'), o.dim, 1e-5);
    this.attn1 = new Attention(scope.child('attn1'), { ...attn, crossAttentionDim: null });
    this.norm2 = new LayerNorm(scope.child('norm2'), o.dim, 1e-5);
    this.attn2 = new Attention(scope.child('attn2'), { ...attn, crossAttentionDim: o.crossAttentionDim });
    this.norm3 = new LayerNorm(scope.child('norm3'), o.dim, 1e-5);
    this.ff = new FeedForward(scope.child('ff'), o.dim);
  }

  /** x [B, N, C], context [B, M, D] → [B, N, C]. */
  forward(gpu: Gpu, x: Tensor, context: Tensor): Tensor {
    return gpu.scope(() => {
      const h1 = this.attn1.forward(gpu, this.norm1.forward(gpu, x), { residual: x });
      const h2 = this.attn2.forward(gpu, this.norm2.forward(gpu, h1), { context, residual: h1 });
      h1.release();
      return this.ff.forward(gpu, this.norm3.forward(gpu, h2), h2);
    });
  }
}

export interface Transformer2DOptions extends Omit<TransformerBlockOptions, 'dim'> {
  channels: number;
  layers: number;
  groups: number;
  useLinearProjection: boolean;
}

export class Transformer2DModel {
  readonly norm: GroupNorm;
  readonly projIn: Linear;
  readonly blocks: BasicTransformerBlock[];
  readonly projOut: Linear;

  constructor(scope: ParamScope, o: Transformer2DOptions) {
    const c = o.channels;
    const projShape = o.useLinearProjection ? undefined : [c, c, 1, 1];
    this.norm = new GroupNorm(scope.child('norm'), c, o.groups, 1e-6);
    this.projIn = new Linear(scope.child('proj_in'), c, c, true, projShape);
    const blocks = scope.child('transformer_blocks');
    this.blocks = Array.from({ length: o.layers }, (_, i) => new BasicTransformerBlock(blocks.child(i), { ...o, dim: c }));
    this.projOut = new Linear(scope.child('proj_out'), c, c, true, projShape);
  }

  /** x [B, H, W, C], context [B, M, D] → [B, H, W, C]. */
  forward(gpu: Gpu, x: Tensor, context: Tensor): Tensor {
    return gpu.scope(() => {
      const [b, hh, ww, c] = x.shape as [number, number, number, number];
      let h = this.projIn.forward(gpu, this.norm.forward(gpu, x)).reshape([b, hh * ww, c]);
      for (const block of this.blocks) {
        const next = block.forward(gpu, h, context);
        h.release();
        h = next;
      }
      return this.projOut.forward(gpu, h, { residual: x }).reshape([b, hh, ww, c]);
    });
  }
}
