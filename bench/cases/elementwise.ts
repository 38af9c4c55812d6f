import { binary, elementwiseCost, unary } from '../../src/kernels/elementwise.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

export const elementwise: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  {
    kernel: 'add+silu (broadcast)',
    shape: '2x4096x320+320',
    dtype,
    cost: elementwiseCost(2 * 4096 * 320, 1, dtype),
    setup(gpu: Gpu) {
      const a = randomTensor(gpu, [2, 4096, 320], dtype);
      const b = randomTensor(gpu, [320], dtype);
      return () => void binary(gpu, a, b, { op: 'add', activation: 'silu' });
    },
  },
  {
    kernel: 'gelu',
    shape: '2x4096x1280',
    dtype,
    cost: elementwiseCost(2 * 4096 * 1280, 0, dtype),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [2, 4096, 1280], dtype);
      return () => void unary(gpu, x, 'gelu');
    },
  },
]);
