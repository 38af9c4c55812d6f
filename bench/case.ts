/** A benchmark case: one kernel at one shape, with its cost model. */
import type { Cost } from '../src/kernels/cost.js';
import type { DType } from '../src/runtime/dtype.js';
import type { Gpu } from '../src/runtime/gpu.js';

export interface KernelBench {
  kernel: string;
  /** e.g. "1024x1024x1024" for M×K×N. */
  shape: string;
  dtype: DType;
  cost: Cost;
  /** Left out of a plain `bench kernels` run; runs when `--filter` matches it (e.g. path comparisons). */
  onlyWhenFiltered?: boolean;
  /** Allocates inputs and returns a function that launches the kernel once (results may be discarded). */
  setup(gpu: Gpu): () => void;
}

/** Deterministic pseudo-random values in [-0.5, 0.5]. */
export function randomTensor(gpu: Gpu, shape: number[], dtype: DType) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
  return gpu.upload(data, shape, dtype);
}
