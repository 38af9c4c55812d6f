import { type MatmulPath, matmul, matmulCost } from '../../src/kernels/matmul.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

/** M×K×N: square, the SD UNet linears/attention projections at 64², 32², 16², and a MedVAE-ish wide one. */
const SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 320, 320],
  [4096, 320, 1280],
  [1024, 640, 640],
  [256, 1280, 1280],
  [8192, 40, 4096],
];

/** The UNet's Linear layers at 512² (CFG batch 2): x [M, K] · Wᵀ with PyTorch's [N, K] weights. */
const LINEAR_SHAPES: [number, number, number][] = [
  [8192, 320, 320],
  [8192, 320, 2560],
  [8192, 1280, 320],
  [2048, 640, 640],
  [512, 1280, 1280],
];

function bench(kernel: string, [M, K, N]: [number, number, number], dtype: 'f32' | 'f16', transB: boolean, impl?: MatmulPath): KernelBench {
  return {
    kernel,
    shape: `${M}x${K}x${N}`,
    dtype,
    cost: matmulCost(1, M, K, N, dtype),
    setup(gpu: Gpu) {
      const a = randomTensor(gpu, [M, K], dtype);
      const b = randomTensor(gpu, transB ? [N, K] : [K, N], dtype);
      return () => void matmul(gpu, { a, b }, { transB, impl });
    },
  };
}

export const matmulBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  ...SHAPES.map((s) => bench('matmul', s, dtype, false)),
  ...LINEAR_SHAPES.map((s) => bench('linear (x·Wᵀ)', s, dtype, true)),
]);

/** Every path at the linear shapes, for comparing them on one adapter (`--filter 'matmul path'`). */
export const matmulPathBenches: KernelBench[] = (['subgroup', 'portable', 'tiled'] as const).flatMap((impl) =>
  LINEAR_SHAPES.map((s) => ({ ...bench(`matmul path ${impl} (x·Wᵀ)`, s, 'f32', true, impl), onlyWhenFiltered: true })),
);
