import { concat, copy, geglu, gegluCost, layoutCost, permute, slice } from '../../src/kernels/layout.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { type KernelBench, randomTensor } from '../case.js';

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** UNet skip concats along channels (CFG batch 2) at 64²/32²/16²/8². */
const CONCATS: [number[], number][] = [
  [[2, 64, 64, 320], 320],
  [[2, 32, 32, 640], 320],
  [[2, 16, 16, 1280], 1280],
  [[2, 8, 8, 1280], 1280],
];

/** SD1.5 transformer feed-forward GEGLU: [2, tokens, 2·inner] → inner (inner = 4·dim). */
const GEGLU: number[][] = [
  [2, 4096, 2560],
  [2, 1024, 5120],
  [2, 256, 10240],
];

export const layoutBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  {
    kernel: 'copy (baseline)',
    shape: '2x64x64x640',
    dtype,
    cost: layoutCost(2 * 64 * 64 * 640, dtype),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [2, 64, 64, 640], dtype);
      return () => void copy(gpu, x);
    },
  },
  ...CONCATS.map(
    ([shape, extra]): KernelBench => ({
      kernel: 'concat channels',
      shape: `${shape.join('x')}+${extra}`,
      dtype,
      cost: layoutCost(prod(shape.slice(0, -1)) * (shape[3]! + extra), dtype),
      setup(gpu: Gpu) {
        const a = randomTensor(gpu, shape, dtype);
        const b = randomTensor(gpu, [...shape.slice(0, -1), extra], dtype);
        return () => void concat(gpu, [a, b]);
      },
    }),
  ),
  {
    kernel: 'slice channels',
    shape: '2x64x64x640[:320]',
    dtype,
    cost: layoutCost(2 * 64 * 64 * 320, dtype),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [2, 64, 64, 640], dtype);
      return () => void slice(gpu, x, -1, 0, 320);
    },
  },
  {
    kernel: 'permute NCHW->NHWC',
    shape: '1x3x512x512',
    dtype,
    cost: layoutCost(3 * 512 * 512, dtype),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [1, 3, 512, 512], dtype);
      return () => void permute(gpu, x, [0, 2, 3, 1]);
    },
  },
  {
    kernel: 'permute NHWC->NCHW',
    shape: '1x512x512x3',
    dtype,
    cost: layoutCost(3 * 512 * 512, dtype),
    setup(gpu: Gpu) {
      const x = randomTensor(gpu, [1, 512, 512, 3], dtype);
      return () => void permute(gpu, x, [0, 3, 1, 2]);
    },
  },
  ...GEGLU.map(
    (shape): KernelBench => ({
      kernel: 'geglu',
      shape: shape.join('x'),
      dtype,
      cost: gegluCost(prod(shape) / 2, dtype),
      setup(gpu: Gpu) {
        const x = randomTensor(gpu, shape, dtype);
        return () => void geglu(gpu, x);
      },
    }),
  ),
]);
