import { groupNorm, groupNormCost, layerNorm, layerNormCost } from '../../src/kernels/norm.js';
import type { DType } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../../src/runtime/wgsl.js';
import { type KernelBench, randomTensor } from '../case.js';

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/**
 * The yardstick for group norm: the plainest fast copy, `y[i] = x[i]` over vec4s (on lavapipe a vec4 load
 * or store costs little more than a scalar one, so this is ~1.6× the scalar copy), COPY_PER vec4s per
 * invocation with the 64 lanes of a workgroup on adjacent ones, no index arithmetic. Group norm's GB/s
 * (read x + write y, its ideal traffic) should reach at least half of this. Every shape here has a
 * multiple of 4 elements.
 */
const COPY_PER = 4;
const copyParams = defineParams({ n4: 'u32' });
const copyKernel = (
  dtype: DType,
) => `${enables(dtype)}${storage(0, 'x', `vec4<${dtype}>`, 'read')}${storage(1, 'y', `vec4<${dtype}>`, 'read_write')}${copyParams.declare(2)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = ${linearWorkgroup} * ${64 * COPY_PER}u + lid;
  for (var k = 0u; k < ${COPY_PER}u; k++) {
    let i = base + k * 64u;
    if (i < p.n4) { y[i] = x[i]; }
  }
}
`;

function plainCopy(gpu: Gpu, x: Tensor): Tensor {
  const y = gpu.empty(x.shape, x.dtype);
  // Split into binding-sized launches (a 512² × 128 f32 map is exactly 128 MiB).
  const es = x.dtype === 'f32' ? 4 : 2;
  const per = Math.floor((Number(gpu.limits.maxStorageBufferBindingSize) - 256) / es / 256) * 256;
  for (let off = 0; off < x.numel; off += per) {
    const n = Math.min(per, x.numel - off);
    const range = (t: Tensor) => ({ buffer: t.buffer, offset: off * es, size: n * es });
    gpu.dispatch({
      key: `bench.copy4:${x.dtype}`,
      code: () => copyKernel(x.dtype),
      bindings: [range(x), range(y)],
      params: copyParams.pack({ n4: n / 4 }),
      workgroups: grid2d(Math.ceil(n / 4 / (64 * COPY_PER))),
    });
  }
  return y;
}

interface NormShape {
  what: string;
  shape: number[];
  groups: number;
  eps: number;
  silu: boolean;
}

/** SD1.5 UNet at a 64² latent (CFG batch 2), the SD VAE decoder at 512² and MedVAE-3D at 64³. */
const GROUP_NORMS: NormShape[] = [
  { what: 'unet', shape: [2, 64, 64, 320], groups: 32, eps: 1e-5, silu: true },
  { what: 'unet', shape: [2, 32, 32, 640], groups: 32, eps: 1e-5, silu: true },
  { what: 'unet', shape: [2, 16, 16, 1280], groups: 32, eps: 1e-5, silu: true },
  { what: 'unet', shape: [2, 8, 8, 1280], groups: 32, eps: 1e-5, silu: true },
  { what: 'unet skip', shape: [2, 64, 64, 640], groups: 32, eps: 1e-5, silu: true },
  { what: 'vae dec', shape: [1, 64, 64, 512], groups: 32, eps: 1e-6, silu: true },
  { what: 'vae dec', shape: [1, 128, 128, 512], groups: 32, eps: 1e-6, silu: true },
  { what: 'vae dec', shape: [1, 256, 256, 256], groups: 32, eps: 1e-6, silu: true },
  { what: 'vae dec', shape: [1, 512, 512, 128], groups: 32, eps: 1e-6, silu: true },
  { what: 'vae attn', shape: [1, 64, 64, 512], groups: 32, eps: 1e-6, silu: false },
  { what: 'unet (no silu)', shape: [2, 64, 64, 320], groups: 32, eps: 1e-5, silu: false },
  { what: 'medvae3d', shape: [1, 64, 64, 64, 128], groups: 32, eps: 1e-6, silu: true },
];

/** Layer norms of the UNet transformer blocks (2 × tokens × channels) and the CLIP text encoders. */
const LAYER_NORMS: [string, number[]][] = [
  ['unet', [2, 4096, 320]],
  ['unet', [2, 1024, 640]],
  ['unet', [2, 256, 1280]],
  ['clip-l', [2, 77, 768]],
  ['openclip-h', [2, 77, 1024]],
];

const copyBench = (shape: number[], dtype: DType): KernelBench => ({
  kernel: 'copy (group norm yardstick)',
  shape: shape.join('x'),
  dtype,
  cost: { flops: 0, bytes: 2 * prod(shape) * (dtype === 'f32' ? 4 : 2) },
  setup(gpu: Gpu) {
    const x = randomTensor(gpu, shape, dtype);
    return () => void plainCopy(gpu, x);
  },
});

/** Each group norm shape right after the plain copy of the same map, so the ratio is read off directly. */
export const normBenches: KernelBench[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  ...GROUP_NORMS.flatMap((s): KernelBench[] => [
    copyBench(s.shape, dtype),
    {
      kernel: `group norm${s.silu ? '+silu' : ''} ${s.what}`,
      shape: `${s.shape.join('x')}/g${s.groups}`,
      dtype,
      cost: groupNormCost(prod(s.shape), dtype),
      setup(gpu: Gpu) {
        const C = s.shape[s.shape.length - 1] as number;
        const x = randomTensor(gpu, s.shape, dtype);
        const gamma = randomTensor(gpu, [C], dtype);
        const beta = randomTensor(gpu, [C], dtype);
        return () => void groupNorm(gpu, x, { gamma, beta }, { groups: s.groups, eps: s.eps, silu: s.silu });
      },
    },
  ]),
  ...LAYER_NORMS.map(
    ([what, shape]): KernelBench => ({
      kernel: `layer norm ${what}`,
      shape: shape.join('x'),
      dtype,
      cost: layerNormCost(prod(shape), dtype),
      setup(gpu: Gpu) {
        const D = shape[shape.length - 1] as number;
        const x = randomTensor(gpu, shape, dtype);
        const gamma = randomTensor(gpu, [D], dtype);
        const beta = randomTensor(gpu, [D], dtype);
        return () => void layerNorm(gpu, x, { gamma, beta });
      },
    }),
  ),
]);
