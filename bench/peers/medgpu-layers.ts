/** medgpu's side of each peer-compared layer: the engine's kernels on channels-last tensors. */
import { attention } from '../../src/kernels/attention.js';
import { conv, prepareConvWeight } from '../../src/kernels/conv.js';
import { matmul } from '../../src/kernels/matmul.js';
import { groupNorm, layerNorm } from '../../src/kernels/norm.js';
import { softmax } from '../../src/kernels/softmax.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { randomTensor } from '../case.js';
import type { Layer } from './layers.js';

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
      const c = l.c;
      const weight = randomTensor(gpu, [c], 'f32');
      const bias = randomTensor(gpu, [c], 'f32');
      if (l.op === 'layernorm') {
        const x = randomTensor(gpu, [l.rows, c], 'f32');
        return () => void layerNorm(gpu, x, { gamma: weight, beta: bias }, { eps: l.eps });
      }
      const x = randomTensor(gpu, [l.n, ...l.spatial, c], 'f32');
      return () => void groupNorm(gpu, x, { gamma: weight, beta: bias }, { groups: l.groups, eps: l.eps, silu: l.silu });
    }
    case 'resnet':
    case 'transformer2d':
      return 'whole blocks are compared by `medgpu bench e2e` (on a loaded UNet)';
  }
}
