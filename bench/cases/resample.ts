import { pad, resampleCost, upsampleNearest2x } from '../../src/kernels/resample.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** Upsamplers of the SD1.5 UNet (CFG batch 2), the SD VAE decoder at 512² and MedVAE-3D at 64³. */
const UPSAMPLE: number[][] = [
  [2, 8, 8, 1280],
  [2, 16, 16, 1280],
  [2, 32, 32, 640],
  [1, 64, 64, 512],
  [1, 128, 128, 512],
  [1, 256, 256, 256],
  [1, 32, 32, 32, 128],
];

/** Padding that the conv does not fuse: an end pad of a VAE map and of a MedVAE-3D volume (split: > 128 MiB). */
const PADS: [number[], [number, number][]][] = [
  [
    [1, 256, 256, 256],
    [
      [0, 0],
      [0, 1],
      [0, 1],
    ],
  ],
  [
    [1, 64, 64, 64, 128],
    [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 1],
    ],
  ],
];

export const resampleBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  ...UPSAMPLE.map(
    (shape): KernelBench => ({
      kernel: `upsample2x ${shape.length === 5 ? '3d' : '2d'}`,
      shape: shape.join('x'),
      dtype,
      cost: resampleCost(prod(shape), prod(shape) * 2 ** (shape.length - 2), dtype),
      setup(gpu: Gpu) {
        const x = randomTensor(gpu, shape, dtype);
        return () => void upsampleNearest2x(gpu, x);
      },
    }),
  ),
  ...PADS.map(
    ([shape, pads]): KernelBench => ({
      kernel: `pad end ${shape.length === 5 ? '3d' : '2d'}`,
      shape: shape.join('x'),
      dtype,
      // The zero fill writes the whole output, then the input is copied into its interior.
      cost: resampleCost(prod(shape), prod(shape.map((d, i) => d + (pads[i]?.[1] ?? 0))) + prod(shape), dtype),
      setup(gpu: Gpu) {
        const x = randomTensor(gpu, shape, dtype);
        return () => void pad(gpu, x, pads);
      },
    }),
  ),
]);
