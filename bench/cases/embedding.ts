import { gather, gatherCost, timestepEmbedding, timestepEmbeddingCost, uploadIds } from '../../src/kernels/embedding.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

export const embeddingBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  // CLIP ViT-L (SD1) and OpenCLIP ViT-H (SD2) token embeddings, CFG batch 2: the f32 tables exceed 128 MiB.
  ...[768, 1024].map(
    (d): KernelBench => ({
      kernel: 'gather tokens',
      shape: `2x77 of 49408x${d}`,
      dtype,
      cost: gatherCost(2 * 77, d, dtype),
      setup(gpu: Gpu) {
        const table = randomTensor(gpu, [49408, d], dtype);
        const ids = uploadIds(
          gpu,
          Array.from({ length: 2 * 77 }, (_, i) => (i * 7919) % 49408),
          [2, 77],
          49408,
        );
        return () => void gather(gpu, table, ids);
      },
    }),
  ),
  {
    kernel: 'timestep embedding',
    shape: '2 -> 320',
    dtype,
    cost: timestepEmbeddingCost(2, 320, dtype),
    setup(gpu: Gpu) {
      const t = gpu.upload([999, 999], [2]);
      return () => void timestepEmbedding(gpu, t, { dim: 320, flipSinToCos: true, downscaleFreqShift: 0, dtype });
    },
  },
]);
