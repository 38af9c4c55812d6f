/**
 * The layer shapes medgpu is compared on, one plain JSON description per layer so that every peer process
 * (PyTorch, onnxruntime, TF.js) builds the same computation from it. Each peer may use its own natural
 * layout (NCHW for PyTorch and ONNX, NHWC for TF.js and medgpu); the arithmetic is the same.
 */

export type Layer =
  /** Y = A·B: a Linear over M tokens (B is a constant weight in every peer). */
  | { op: 'matmul'; M: number; K: number; N: number }
  /** 2D convolution with bias, square kernel, symmetric padding. */
  | { op: 'conv2d'; n: number; h: number; w: number; cin: number; cout: number; k: number; stride: number; pad: number }
  /** GroupNorm over `spatial` positions (2D or 3D) with affine and optional fused SiLU. */
  | { op: 'groupnorm'; n: number; spatial: number[]; c: number; groups: number; eps: number; silu: boolean }
  /** softmax(Q·Kᵀ/√d)·V with Q [b, nq, heads, d], K and V [b, nk, heads, d]. */
  | { op: 'attention'; b: number; nq: number; nk: number; heads: number; d: number }
  /** Softmax over the last axis of [rows, cols]. */
  | { op: 'softmax'; rows: number; cols: number }
  /** LayerNorm over the last axis of [rows, c] with affine. */
  | { op: 'layernorm'; rows: number; c: number; eps: number }
  /** Whole block: diffusers ResnetBlock2D (c → c, time embedding of width `temb`, 32 groups). */
  | { op: 'resnet'; n: number; h: number; w: number; c: number; temb: number }
  /**
   * Whole block: diffusers Transformer2DModel as in SD1.x (group norm, 1×1 proj_in/out, one
   * BasicTransformerBlock: self-attention, cross-attention over `ctxLen`×`ctxDim`, GEGLU feed-forward).
   */
  | { op: 'transformer2d'; n: number; h: number; w: number; c: number; heads: number; ctxLen: number; ctxDim: number };

export interface LayerCase {
  /** Row label, e.g. "conv3x3 unet 2x64x64x320->320". */
  name: string;
  layer: Layer;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Floating-point work of one layer, counted as the kernels' cost models count it (2 per multiply-add). */
export function layerFlops(l: Layer): number {
  switch (l.op) {
    case 'matmul':
      return 2 * l.M * l.K * l.N;
    case 'conv2d': {
      const oh = Math.floor((l.h + 2 * l.pad - l.k) / l.stride) + 1;
      const ow = Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1;
      return 2 * l.n * oh * ow * l.cout * l.cin * l.k * l.k;
    }
    case 'groupnorm':
      return 8 * l.n * prod(l.spatial) * l.c;
    case 'attention':
      return 4 * l.b * l.heads * l.d * l.nq * l.nk;
    case 'softmax':
      return 5 * l.rows * l.cols;
    case 'layernorm':
      return 8 * l.rows * l.c;
    case 'resnet':
      return 2 * (2 * l.n * l.h * l.w * l.c * l.c * 9) + 2 * l.n * l.temb * l.c;
    case 'transformer2d': {
      const t = l.n * l.h * l.w;
      const hw = l.h * l.w;
      const proj = 2 * (2 * t * l.c * l.c); // proj_in, proj_out
      const self = 4 * (2 * t * l.c * l.c) + 4 * l.n * l.c * hw * hw; // q, k, v, out + attention
      const cross = 2 * (2 * t * l.c * l.c) + 2 * (2 * l.n * l.ctxLen * l.ctxDim * l.c) + 4 * l.n * l.c * hw * l.ctxLen;
      const ff = 2 * t * l.c * 8 * l.c + 2 * t * 4 * l.c * l.c; // GEGLU proj (c → 8c), out (4c → c)
      return proj + self + cross + ff;
    }
  }
}

/**
 * The SD1.5 UNet at 512² (64² latent; CFG batch 2 where the layer is cheap), the SD VAE decoder, MedVAE-3D:
 * issue 3's shapes. Convs run at batch 1 and the VAE mid attention at a 32² latent (256² image) because the
 * WebGPU peers take seconds per run at ~1–4 GFLOP/s here and every row needs ≥ 5 samples of every peer.
 */
export const LAYER_CASES: LayerCase[] = [
  ...(
    [
      [1024, 1024, 1024],
      [4096, 320, 320],
      [4096, 320, 1280],
      [1024, 640, 640],
      [256, 1280, 1280],
    ] as const
  ).map(([M, K, N]) => ({ name: `matmul ${M}x${K}x${N}`, layer: { op: 'matmul', M, K, N } as Layer })),
  ...(
    [
      ['unet', 1, 64, 320, 320],
      ['unet', 1, 32, 640, 640],
      ['unet', 1, 16, 1280, 1280],
      ['vae dec', 1, 64, 512, 512],
    ] as const
  ).map(([what, n, s, cin, cout]) => ({
    name: `conv3x3 ${what} ${n}x${s}x${s}x${cin}->${cout}`,
    layer: { op: 'conv2d', n, h: s, w: s, cin, cout, k: 3, stride: 1, pad: 1 } as Layer,
  })),
  ...(
    [
      ['unet', 2, [64, 64], 320, true],
      ['unet', 2, [16, 16], 1280, true],
      ['vae dec', 1, [256, 256], 256, true],
      ['medvae3d', 1, [64, 64, 64], 128, false],
    ] as const
  ).map(([what, n, spatial, c, silu]) => ({
    name: `groupnorm${silu ? '+silu' : ''} ${what} ${n}x${spatial.join('x')}x${c} g32`,
    layer: { op: 'groupnorm', n, spatial: [...spatial], c, groups: 32, eps: 1e-5, silu } as Layer,
  })),
  ...(
    [
      ['unet self', 1, 4096, 4096, 8, 40],
      ['unet cross', 2, 4096, 77, 8, 40],
      ['unet self', 2, 1024, 1024, 8, 80],
      ['vae mid', 1, 1024, 1024, 1, 512],
    ] as const
  ).map(([what, b, nq, nk, heads, d]) => ({
    name: `attention ${what} ${b}x${nq}x${nk} h${heads} d${d}`,
    layer: { op: 'attention', b, nq, nk, heads, d } as Layer,
  })),
  { name: 'softmax 8x1024x1024', layer: { op: 'softmax', rows: 8 * 1024, cols: 1024 } },
  { name: 'layernorm 2x4096x320', layer: { op: 'layernorm', rows: 2 * 4096, c: 320, eps: 1e-5 } },
];

/** Deterministic values in [-0.5, 0.5] (the same formula as bench/case.ts, so every peer can rebuild them). */
export function benchValues(n: number, salt = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin((i + salt) * 12.9898) * 0.5;
  return out;
}
