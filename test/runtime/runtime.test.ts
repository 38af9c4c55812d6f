import { describe, expect, it, vi } from 'vitest';
import { unary } from '../../src/kernels/elementwise.js';
import { sizeClass } from '../../src/runtime/buffer-pool.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/runtime/dtype.js';
import { getGpu } from '../helpers/gpu.js';

describe('runtime', () => {
  it('reports adapter, features and limits', async () => {
    const gpu = await getGpu();
    expect(gpu.limitReport().maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(typeof gpu.info.description).toBe('string');
  });

  it('round-trips f32 and f16 tensors', async () => {
    const gpu = await getGpu();
    const data = Float32Array.from({ length: 1001 }, (_, i) => i * 0.5 - 200);
    const t = gpu.upload(data, [7, 11, 13]);
    expect(Array.from(await gpu.read(t))).toEqual(Array.from(data));
    t.release();
    if (gpu.hasF16) {
      const h = gpu.upload([1, 2.5, -3, 65504, 1e-5], [5], 'f16');
      expect(Array.from(await gpu.read(h))).toEqual([1, 2.5, -3, 65504, f16BitsToF32(f32ToF16Bits(1e-5))]);
      h.release();
    }
  });

  it('scopes release temporaries, keep results, and the pool reuses buffers', async () => {
    const gpu = await getGpu();
    const before = gpu.memory().liveBytes;
    const x = gpu.upload(new Float32Array(4096).fill(1), [4096]);
    const y = gpu.scope(() => {
      const a = unary(gpu, x, 'silu');
      const b = unary(gpu, a, 'silu');
      return unary(gpu, b, 'neg');
    });
    expect(gpu.memory().liveBytes - before).toBe(2 * sizeClass(4096 * 4));
    const created = gpu.memory().buffersCreated;
    gpu.scope(() => unary(gpu, unary(gpu, x, 'silu'), 'silu') && undefined);
    expect(gpu.memory().buffersCreated).toBe(created);
    const s = 1 / (1 + Math.exp(-1));
    const ss = s / (1 + Math.exp(-s));
    expect((await gpu.read(y))[0]).toBeCloseTo(-ss, 6);
    x.release();
    y.release();
    expect(gpu.memory().liveBytes).toBe(before);
    expect(() => y.buffer).toThrow(/after release/);
  });

  it('settle() destroys idle pool buffers and awaits the GPU only when buffers were destroyed since the last settle', async () => {
    const gpu = await getGpu();
    gpu.scope(() => void gpu.empty([4096])); // leaves an idle buffer in the pool
    expect(gpu.memory().pooledBytes).toBeGreaterThan(0);
    await gpu.settle();
    expect(gpu.memory().pooledBytes).toBe(0);
    const sync = vi.spyOn(gpu, 'sync');
    try {
      await gpu.settle();
      expect(sync).not.toHaveBeenCalled();
      // an exact-size buffer (not a size class) is destroyed on release
      const t = gpu.pool.exactSizes(() => gpu.empty([1000 * 1000 + 3]));
      const destroyed = gpu.pool.destroyedBytes;
      t.release();
      expect(gpu.pool.destroyedBytes - destroyed).toBe(t.capacity);
      await gpu.settle();
      expect(sync).toHaveBeenCalledTimes(1);
      await gpu.settle();
      expect(sync).toHaveBeenCalledTimes(1);
    } finally {
      sync.mockRestore();
    }
  });

  it('a scope keeps the storage of a reshape of a reshape it returns', async () => {
    const gpu = await getGpu();
    const y = gpu.scope(() =>
      unary(gpu, gpu.upload([1, 2, 3, 4, 5, 6], [6]), 'identity')
        .reshape([2, 3])
        .reshape([3, 2, 1]),
    );
    expect(y.shape).toEqual([3, 2, 1]);
    expect(Array.from(await gpu.read(y))).toEqual([1, 2, 3, 4, 5, 6]);
    y.release();
  });

  it('batches many dispatches into few submits', async () => {
    const gpu = await getGpu();
    const x = gpu.zeros([64]);
    const submits = gpu.recorder.submits;
    gpu.scope(() => {
      for (let i = 0; i < 300; i++) unary(gpu, x, 'silu');
    });
    await gpu.sync();
    expect(gpu.recorder.submits - submits).toBeLessThanOrEqual(2);
    x.release();
  });

  it('f16 conversion rounds to nearest even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0);
    expect(f32ToF16Bits(2 ** -24)).toBe(1);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
  });
});
