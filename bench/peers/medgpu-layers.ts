/** medgpu's side of each peer-compared layer: the engine's kernels on channels-last tensors. */
import { conv, prepareConvWeight } from '../../src/kernels/conv.js';
import { matmul } from '../../src/kernels/matmul.js';
import { softmax } from '../../src/kernels/softmax.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { randomTensor } from '../case.js';
import type { Layer } from './layers.js';

/**
 * Launchers of kernel families that are still being written in parallel (attention, norm), loaded lazily
 * so this bench builds and runs before they land; their rows say so meanwhile. Switch to static imports
 * once src/kernels/{attention,norm}.ts are committed.
 */
interface LateKernels {
  attention?(gpu: Gpu, inputs: { q: Tensor; k: Tensor; v: Tensor }): Tensor;
  groupNorm?(gpu: Gpu, x: Tensor, p: { weight: Tensor; bias: Tensor }, o: { groups: number; eps: number; activation?: 'silu' }): Tensor;
  layerNorm?(gpu: Gpu, x: Tensor, p: { weight: Tensor; bias: Tensor }, o: { eps: number }): Tensor;
}

async function lateKernels(file: 'attention' | 'norm'): Promise<LateKernels> {
  const path = `../../src/kernels/${file}.js`;
  return import(path).then(
    (m: LateKernels) => m,
    () => ({}),
  );
}

/**
 * Allocates the layer's inputs (in the current scope) and returns a function that launches it once, or a
 * reason string when medgpu has no kernel for it.
 */
export async function setupMedgpuLayer(gpu: Gpu, l: Layer): Promise<(() => void) | string> {
  switch (l.op) {
    case 'matmul': {
      const a = randomTensor(gpu, [l.M, l.K], 'f32');
      const b = randomTensor(gpu, [l.K, l.N], 'f32');
      return () => void matmul(gpu, { a, b });
    }
    case 'conv2d': {
      const x = randomTensor(gpu, [l.n, l.h, l.w, l.cin], 'f32');
      const wShape = [l.cout, l.cin, l.k, l.k];
      const host = new Float32Array(l.cout * l.cin * l.k * l.k).map((_, i) => Math.sin(i * 78.233) * 0.05);
      const w = prepareConvWeight(gpu, host, wShape, 'f32');
      const bias = randomTensor(gpu, [l.cout], 'f32');
      const padding = [
        [l.pad, l.pad],
        [l.pad, l.pad],
      ] as const;
      return () => void conv(gpu, x, w, { bias }, { stride: l.stride, padding });
    }
    case 'attention': {
      const { attention } = await lateKernels('attention');
      if (!attention) return 'no medgpu attention kernel yet (src/kernels/attention.ts has not landed)';
      const q = randomTensor(gpu, [l.b, l.nq, l.heads, l.d], 'f32');
      const k = randomTensor(gpu, [l.b, l.nk, l.heads, l.d], 'f32');
      const v = randomTensor(gpu, [l.b, l.nk, l.heads, l.d], 'f32');
      return () => void attention(gpu, { q, k, v });
    }
    case 'softmax': {
      const x = randomTensor(gpu, [l.rows, l.cols], 'f32');
      return () => void softmax(gpu, x);
    }
    case 'groupnorm':
    case 'layernorm': {
      const { groupNorm, layerNorm } = await lateKernels('norm');
      if (!groupNorm || !layerNorm) return 'no medgpu norm kernel yet (src/kernels/norm.ts has not landed)';
      const c = l.c;
      const weight = randomTensor(gpu, [c], 'f32');
      const bias = randomTensor(gpu, [c], 'f32');
      if (l.op === 'layernorm') {
        const x = randomTensor(gpu, [l.rows, c], 'f32');
        return () => void layerNorm(gpu, x, { weight, bias }, { eps: l.eps });
      }
      const x = randomTensor(gpu, [l.n, ...l.spatial, c], 'f32');
      return () => void groupNorm(gpu, x, { weight, bias }, { groups: l.groups, eps: l.eps, activation: l.silu ? 'silu' : undefined });
    }
  }
}
