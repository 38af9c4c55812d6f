/**
 * diffusers `Attention` as its default processor computes it: q = to_q(x), k = to_k(ctx), v = to_v(ctx),
 * per head softmax(q·kᵀ/√d)·v, then to_out.0 (+ residual, fused into its epilogue). `ctx` is x for
 * self-attention. Older hub files name the projections query/key/value/proj_attn (diffusers renames them at
 * load); `names: 'legacy'` reads those keys.
 */
import { attention } from '../kernels/attention.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { Linear } from './linear.js';
import type { ParamScope } from './params.js';

export interface AttentionOptions {
  queryDim: number;
  /** Width of the context for cross-attention; null for self-attention. */
  crossAttentionDim: number | null;
  heads: number;
  /** q/k/v projections have biases (the VAE's do, the UNet's do not). */
  qkvBias: boolean;
  names?: 'diffusers' | 'legacy';
  /** diffusers `upcast_attention`: scores and softmax in f32 for f16 models (our kernels always accumulate in f32). */
  upcast?: boolean;
}

const NAMES = {
  diffusers: ['to_q', 'to_k', 'to_v', 'to_out.0'],
  legacy: ['query', 'key', 'value', 'proj_attn'],
} as const;

export class Attention {
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;
  readonly headDim: number;

  constructor(
    scope: ParamScope,
    readonly opts: AttentionOptions,
  ) {
    const { queryDim: c, heads } = opts;
    if (c % heads !== 0) throw new ShapeError(`${scope.prefix}: ${c} channels do not split into ${heads} heads`);
    this.headDim = c / heads;
    const ctx = opts.crossAttentionDim ?? c;
    const [q, k, v, o] = NAMES[opts.names ?? 'diffusers'];
    this.toQ = new Linear(scope.child(q), c, c, opts.qkvBias);
    this.toK = new Linear(scope.child(k), ctx, c, opts.qkvBias);
    this.toV = new Linear(scope.child(v), ctx, c, opts.qkvBias);
    this.toOut = new Linear(scope.child(o), c, c);
  }

  /** x [B, N, C] (and context [B, M, D]) → to_out(attention) + residual, [B, N, C]. */
  forward(gpu: Gpu, x: Tensor, opts: { context?: Tensor; residual?: Tensor } = {}): Tensor {
    return gpu.scope(() => {
      const ctx = opts.context ?? x;
      if (x.rank !== 3 || ctx.rank !== 3 || ctx.dim(0) !== x.dim(0)) {
        throw new ShapeError(`Attention: x ${shapeString(x.shape)} and context ${shapeString(ctx.shape)} must be [B, N, C] and [B, M, D]`);
      }
      const q = this.toQ.forward(gpu, x);
      const k = this.toK.forward(gpu, ctx);
      const v = this.toV.forward(gpu, ctx);
      const o = scaledDotProductAttention(gpu, q, k, v, this.opts.heads);
      return this.toOut.forward(gpu, o, { residual: opts.residual });
    });
  }
}

/** softmax(q·kᵀ/√d)·v per head: q [B, N, H·d], k/v [B, M, H·d] → [B, N, H·d] (flash kernel, no N×M buffer). */
export function scaledDotProductAttention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, heads: number): Tensor {
  const [b, n, c] = q.shape as [number, number, number];
  const m = k.dim(1);
  const d = c / heads;
  const o = attention(gpu, { q: q.reshape([b, n, heads, d]), k: k.reshape([b, m, heads, d]), v: v.reshape([b, m, heads, d]) });
  return o.reshape([b, n, c]);
}
