/** The pieces of a CLIP text transformer layer: the MLP and the pre-LN encoder layer. */
import type { UnaryOp } from '../../kernels/elementwise.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { Linear } from '../linear.js';
import { LayerNorm } from '../norm.js';
import type { ParamScope } from '../params.js';

/** `CLIPMLP`: fc1 → activation (fused into the matmul epilogue) → fc2 (+ residual, fused). */
export class CLIPMLP {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    scope: ParamScope,
    hidden: number,
    intermediate: number,
    readonly activation: UnaryOp,
  ) {
    this.fc1 = new Linear(scope.child('fc1'), hidden, intermediate);
    this.fc2 = new Linear(scope.child('fc2'), intermediate, hidden);
  }

  forward(gpu: Gpu, x: Tensor, residual: Tensor): Tensor {
    return gpu.scope(() => this.fc2.forward(gpu, this.fc1.forward(gpu, x, { activation: this.activation }), { residual }));
  }
}

export interface SelfAttention {
  /** out_proj(attention(x)) + residual. */
  forward(gpu: Gpu, x: Tensor, residual: Tensor): Tensor;
}

export interface CLIPEncoderLayerOptions {
  attention: (scope: ParamScope) => SelfAttention;
  hiddenSize: number;
  intermediateSize: number;
  activation: UnaryOp;
  eps: number;
}

/** `CLIPEncoderLayer`: h = x + attn(ln1(x)); out = h + mlp(ln2(h)). */
export class CLIPEncoderLayer {
  readonly layerNorm1: LayerNorm;
  readonly selfAttn: SelfAttention;
  readonly layerNorm2: LayerNorm;
  readonly mlp: CLIPMLP;

  constructor(scope: ParamScope, o: CLIPEncoderLayerOptions) {
    this.selfAttn = o.attention(scope.child('self_attn'));
    this.layerNorm1 = new LayerNorm(scope.child('layer_norm1'), o.hiddenSize, o.eps);
    this.mlp = new CLIPMLP(scope.child('mlp'), o.hiddenSize, o.intermediateSize, o.activation);
    this.layerNorm2 = new LayerNorm(scope.child('layer_norm2'), o.hiddenSize, o.eps);
  }

  forward(gpu: Gpu, x: Tensor): Tensor {
    return gpu.scope(() => {
      const h = this.selfAttn.forward(gpu, this.layerNorm1.forward(gpu, x), x);
      return this.mlp.forward(gpu, this.layerNorm2.forward(gpu, h), h);
    });
  }
}
