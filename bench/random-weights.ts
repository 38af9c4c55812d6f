/**
 * A weight file of deterministic random values for any model's declared parameters, so the end-to-end
 * benchmarks run real-size models (SD1.5, SD2.1-base, MedVAE) without downloading their weights. Values are
 * small (uniform ±0.02, norm scales near 1) so activations stay finite through deep networks.
 */
import type { ParamKey, WeightReader } from '../src/nn/params.js';
import { toF16Array } from '../src/runtime/dtype.js';
import { numel } from '../src/runtime/tensor.js';

export function randomWeights(keys: Iterable<ParamKey>, seed = 1): WeightReader {
  const shapes = new Map<string, readonly number[]>();
  for (const k of keys) shapes.set(k.name, k.shape);
  return {
    path: '<random weights>',
    keys: () => [...shapes.keys()],
    info: (name) => {
      const shape = shapes.get(name);
      return shape && { shape };
    },
    read: async (name, as) => {
      const n = numel(shapes.get(name) ?? []);
      const out = new Float32Array(n);
      // Norm weights (gamma) near 1, everything else small around 0.
      const base = /norm.*weight$|ln_.*weight$|layer_norm.*weight$/.test(name) ? 1 : 0;
      let s = (seed * 2654435761 + hash(name)) >>> 0 || 1;
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        out[i] = base + ((s >>> 0) / 2 ** 32 - 0.5) * 0.04;
      }
      return as === 'f16' ? toF16Array(out) : out;
    },
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
