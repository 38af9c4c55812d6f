import { matmul, matmulCost } from '../../src/kernels/matmul.js';
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

export const matmulBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  SHAPES.map(([M, K, N]) => ({
    kernel: 'matmul',
    shape: `${M}x${K}x${N}`,
    dtype,
    cost: matmulCost(1, M, K, N, dtype),
    setup(gpu: Gpu) {
      const a = randomTensor(gpu, [M, K], dtype);
      const b = randomTensor(gpu, [K, N], dtype);
      return () => void matmul(gpu, { a, b });
    },
  })),
);
