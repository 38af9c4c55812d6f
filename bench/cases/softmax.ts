import { softmax, softmaxCost } from '../../src/kernels/softmax.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

/** Attention-score shapes: SD self-attention at 32² (8 heads × 1024 × 1024) and cross-attention (× 77). */
const SHAPES: number[][] = [
  [8, 1024, 1024],
  [8, 4096, 77],
];

export const softmaxBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  SHAPES.map((shape) => ({
    kernel: 'softmax',
    shape: shape.join('x'),
    dtype,
    cost: softmaxCost(
      shape.reduce((a, b) => a * b, 1),
      dtype,
    ),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, shape, dtype);
      return () => void softmax(gpu, x, { scale: 0.125 });
    },
  })),
);
