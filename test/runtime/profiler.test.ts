/**
 * The benchmarks' runtime hooks: dispatch cost counters (`gpu.work`) and the per-dispatch profiler, in both
 * of its modes (timestamp queries; timed submits on a device created without `timestamp-query`). Profiling
 * must not change results.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { matmul, matmulCost } from '../../src/kernels/matmul.js';
import { type Gpu, createGpu } from '../../src/runtime/gpu.js';
import { getGpu } from '../helpers/gpu.js';

const values = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s));

async function profileMatmuls(gpu: Gpu) {
  const [M, K, N] = [37, 64, 29];
  const a = gpu.upload(values(M * K, 1), [M, K]);
  const b = gpu.upload(values(K * N, 2), [K, N]);
  const plain = await gpu.read(gpu.scope(() => gpu.keep(matmul(gpu, { a, b }))));
  const flops0 = gpu.work.flops;
  gpu.startProfiling();
  const outs = [0, 1, 2].map(() => gpu.keep(matmul(gpu, { a, b })));
  const ds = await gpu.stopProfiling();
  const profiled = await gpu.read(outs[2] as NonNullable<(typeof outs)[number]>);
  for (const t of [a, b, ...outs]) t.release();
  return { ds, plain, profiled, counted: gpu.work.flops - flops0, cost: matmulCost(1, M, K, N, 'f32') };
}

describe('dispatch profiler and work counters', () => {
  it('times each dispatch with its kernel key and cost (timestamp queries when offered)', async () => {
    const gpu = await getGpu();
    const { ds, plain, profiled, counted, cost } = await profileMatmuls(gpu);
    expect(ds).toHaveLength(3);
    for (const d of ds) {
      expect(d.label).toMatch(/^matmul:/);
      expect(d.cost).toEqual(cost);
      expect(d.ms).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(d.ms)).toBe(true);
    }
    expect(counted).toBe(3 * cost.flops);
    expect(Array.from(profiled)).toEqual(Array.from(plain));
  });

  it('falls back to timed submits on a device without timestamp-query', async () => {
    const gpu = await createGpu({ features: [] });
    afterAll(() => gpu.destroy());
    expect(gpu.features.has('timestamp-query')).toBe(false);
    const submits0 = gpu.recorder.submits;
    const { ds, plain, profiled } = await profileMatmuls(gpu);
    expect(ds.map((d) => d.label.split(':')[0])).toEqual(['matmul', 'matmul', 'matmul']);
    for (const d of ds) expect(d.ms).toBeGreaterThanOrEqual(0);
    expect(gpu.recorder.submits - submits0).toBeGreaterThanOrEqual(4); // one per profiled dispatch
    expect(Array.from(profiled)).toEqual(Array.from(plain));
  });

  it('refuses to stop a profile that was not started, with a typed error', async () => {
    const gpu = await getGpu();
    await expect(gpu.stopProfiling()).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/startProfiling/) });
  });
});
