import { conv, convCost, prepareConvWeight } from '../../src/kernels/conv.js';
import type { DType } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

interface ConvShape {
  what: string;
  n: number;
  /** Input spatial sizes (2 or 3 axes). */
  sp: number[];
  cin: number;
  cout: number;
  k: number;
  stride: number;
  /** Symmetric padding, or 'end' for the VAE/MedVAE downsampler's (0, 1) per axis. */
  pad: number | 'end';
  /** Fused ResnetBlock epilogue: `(conv + bias + residual) * scale`. */
  residual?: boolean;
}

/** SD1.5 UNet at a 64² latent (batch 2 for CFG), the SD VAE decoder at 512², MedVAE-3D at 64³. */
const SHAPES: ConvShape[] = [
  { what: 'unet', n: 2, sp: [64, 64], cin: 320, cout: 320, k: 3, stride: 1, pad: 1 },
  { what: 'unet res', n: 2, sp: [64, 64], cin: 320, cout: 320, k: 3, stride: 1, pad: 1, residual: true },
  { what: 'unet down', n: 2, sp: [64, 64], cin: 320, cout: 320, k: 3, stride: 2, pad: 1 },
  { what: 'unet', n: 2, sp: [32, 32], cin: 640, cout: 640, k: 3, stride: 1, pad: 1 },
  { what: 'unet', n: 2, sp: [16, 16], cin: 1280, cout: 1280, k: 3, stride: 1, pad: 1 },
  { what: 'unet', n: 2, sp: [8, 8], cin: 1280, cout: 1280, k: 3, stride: 1, pad: 1 },
  { what: 'unet skip 1x1', n: 2, sp: [64, 64], cin: 640, cout: 320, k: 1, stride: 1, pad: 0 },
  { what: 'unet in', n: 2, sp: [64, 64], cin: 4, cout: 320, k: 3, stride: 1, pad: 1 },
  { what: 'vae dec', n: 1, sp: [64, 64], cin: 512, cout: 512, k: 3, stride: 1, pad: 1 },
  { what: 'vae dec', n: 1, sp: [128, 128], cin: 512, cout: 512, k: 3, stride: 1, pad: 1 },
  { what: 'vae dec', n: 1, sp: [256, 256], cin: 256, cout: 256, k: 3, stride: 1, pad: 1 },
  { what: 'vae dec', n: 1, sp: [512, 512], cin: 128, cout: 128, k: 3, stride: 1, pad: 1 },
  { what: 'vae dec out', n: 1, sp: [512, 512], cin: 128, cout: 3, k: 3, stride: 1, pad: 1 },
  { what: 'vae enc down', n: 1, sp: [512, 512], cin: 128, cout: 128, k: 3, stride: 2, pad: 'end' },
  { what: 'medvae3d', n: 1, sp: [64, 64, 64], cin: 128, cout: 128, k: 3, stride: 1, pad: 1 },
  { what: 'medvae3d down', n: 1, sp: [64, 64, 64], cin: 128, cout: 128, k: 3, stride: 2, pad: 'end' },
];

function bench(s: ConvShape, dtype: DType): KernelBench {
  const rank = s.sp.length;
  const padding = Array.from({ length: rank }, () => (s.pad === 'end' ? ([0, 1] as const) : ([s.pad, s.pad] as const)));
  const out = s.sp.map((d, i) => Math.floor((d + padding[i]![0] + padding[i]![1] - s.k) / s.stride) + 1);
  const taps = s.k ** rank;
  const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
  const kernel = Array(rank).fill(s.k).join('x');
  return {
    kernel: `conv${rank}d ${kernel}${s.stride === 2 ? ' s2' : ''} ${s.what}`,
    shape: `${s.n}x${s.sp.join('x')}x${s.cin}->${s.cout}`,
    dtype,
    cost: convCost(s.n, prod(out), prod(s.sp), s.cin, s.cout, taps, dtype, s.residual),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [s.n, ...s.sp, s.cin], dtype);
      const wShape = [s.cout, s.cin, ...Array(rank).fill(s.k)];
      const host = new Float32Array(prod(wShape)).map((_, i) => Math.sin(i * 78.233) * 0.05);
      const w = prepareConvWeight(gpu, host, wShape, dtype);
      const bias = randomTensor(gpu, [s.cout], dtype);
      const residual = s.residual ? randomTensor(gpu, [s.n, ...out, s.cout], dtype) : undefined;
      return () => void conv(gpu, x, w, { bias, residual }, { stride: s.stride, padding, scale: s.residual ? 1 / 1.41 : 1 });
    },
  };
}

export const convBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => SHAPES.map((s) => bench(s, dtype)));
