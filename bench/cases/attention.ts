import { attention, attentionCost } from '../../src/kernels/attention.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

interface AttnShape {
  what: string;
  B: number;
  Nq: number;
  Nk: number;
  H: number;
  d: number;
  causal?: boolean;
}

/**
 * SD1.5 UNet at 512² (64² latent, CFG batch 2): self-attention at 64²/32²/16²/8² with 8 heads of d 40/80/160
 * and cross-attention to 77 text tokens; SD2 (heads of 64); the CLIP text encoders (causal); the SD VAE
 * mid-block at 512² (one head of 512 over 64² positions; MedVAE-3D's at a 64³ input with 4× per axis is the same
 * problem) and MedVAE-3D 8× (8³ positions).
 */
const SHAPES: AttnShape[] = [
  { what: 'sd1 self', B: 2, Nq: 4096, Nk: 4096, H: 8, d: 40 },
  { what: 'sd1 self', B: 2, Nq: 1024, Nk: 1024, H: 8, d: 80 },
  { what: 'sd1 self', B: 2, Nq: 256, Nk: 256, H: 8, d: 160 },
  { what: 'sd1 self', B: 2, Nq: 64, Nk: 64, H: 8, d: 160 },
  { what: 'sd1 cross', B: 2, Nq: 4096, Nk: 77, H: 8, d: 40 },
  { what: 'sd1 cross', B: 2, Nq: 1024, Nk: 77, H: 8, d: 80 },
  { what: 'sd1 cross', B: 2, Nq: 256, Nk: 77, H: 8, d: 160 },
  { what: 'sd2 self', B: 2, Nq: 4096, Nk: 4096, H: 5, d: 64 },
  { what: 'sd2 self', B: 2, Nq: 1024, Nk: 1024, H: 10, d: 64 },
  { what: 'sd2 self', B: 2, Nq: 256, Nk: 256, H: 20, d: 64 },
  { what: 'sd2 cross', B: 2, Nq: 4096, Nk: 77, H: 5, d: 64 },
  { what: 'clip-l causal', B: 2, Nq: 77, Nk: 77, H: 12, d: 64, causal: true },
  { what: 'openclip-h causal', B: 2, Nq: 77, Nk: 77, H: 16, d: 64, causal: true },
  { what: 'vae mid 64² / medvae3d 16³', B: 1, Nq: 4096, Nk: 4096, H: 1, d: 512 },
  { what: 'medvae3d mid 8³', B: 1, Nq: 512, Nk: 512, H: 1, d: 512 },
];

export const attentionBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  SHAPES.map(
    (s): KernelBench => ({
      kernel: `attention ${s.what}`,
      shape: `${s.B}x${s.Nq}x${s.H}x${s.d}${s.Nk !== s.Nq ? `<-${s.Nk}` : ''}`,
      dtype,
      cost: attentionCost(s.B, s.Nq, s.Nk, s.H, s.d, dtype, s.causal),
      setup(gpu: Gpu) {
        const q = randomTensor(gpu, [s.B, s.Nq, s.H, s.d], dtype);
        const k = randomTensor(gpu, [s.B, s.Nk, s.H, s.d], dtype);
        const v = randomTensor(gpu, [s.B, s.Nk, s.H, s.d], dtype);
        return () => void attention(gpu, { q, k, v }, { causal: s.causal });
      },
    }),
  ),
);
