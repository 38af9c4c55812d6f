import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { padRef, upsampleNearest2xRef } from '../../src/kernels/reference/resample.js';
import { pad, upsampleNearest2x } from '../../src/kernels/resample.js';
import type { Shape } from '../../src/runtime/tensor.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { limitFor, poisoned, seededValues, splitArb } from '../helpers/kernel-inputs.js';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13), fc.integer({ min: 1, max: 10 }));
const dtypeArb = fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>;
const count = (s: Shape) => s.reduce((a, b) => a * b, 1);

describe('resample', () => {
  test.prop([fc.array(dim, { minLength: 4, maxLength: 5 }), fc.integer(), dtypeArb, splitArb], { numRuns: RUNS })(
    'nearest x2 upsampling (2D NHWC and 3D NDHWC) is exact, also split (poisoned output)',
    async (shape, seed, dtype, parts) => {
      const gpu = await getGpu();
      const xv = seededValues(count(shape), seed, dtype);
      const want = upsampleNearest2xRef(xv, shape);
      const maxBindingBytes = limitFor(want.data.length * 4, parts);
      await gpu.scopeAsync(async () => {
        const x = gpu.upload(xv, shape, dtype);
        const y = poisoned(gpu, want.shape, dtype, () => upsampleNearest2x(gpu, x, { maxBindingBytes }));
        expect(y.shape).toEqual(want.shape);
        expectClose(await gpu.read(y), want.data, 0, 0, `up2x ${shape}`);
      });
    },
  );

  test.prop(
    [
      fc
        .array(dim, { minLength: 1, maxLength: 5 })
        .chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), { minLength: 0, maxLength: s.length }),
          ),
        ),
      fc.integer(),
      dtypeArb,
      splitArb,
    ],
    { numRuns: RUNS },
  )('zero padding with per-axis before/after is exact, also split (poisoned output)', async ([shape, pads], seed, dtype, parts) => {
    const gpu = await getGpu();
    const xv = seededValues(count(shape), seed, dtype);
    const want = padRef(xv, shape, pads);
    const maxBindingBytes = limitFor(want.data.length * 4, parts);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, shape, dtype);
      const y = poisoned(gpu, want.shape, dtype, () => pad(gpu, x, pads, { maxBindingBytes }));
      expect(y.shape).toEqual(want.shape);
      expectClose(await gpu.read(y), want.data, 0, 0, `pad ${shape} by ${JSON.stringify(pads)}`);
    });
  });

  test("the VAE downsampler's asymmetric (0, 1) pad on H and W", async () => {
    const gpu = await getGpu();
    const shape = [1, 9, 7, 4];
    const xv = seededValues(count(shape), 11, 'f32');
    await gpu.scopeAsync(async () => {
      const y = pad(gpu, gpu.upload(xv, shape), [
        [0, 0],
        [0, 1],
        [0, 1],
      ]);
      expect(y.shape).toEqual([1, 10, 8, 4]);
      const got = await gpu.read(y);
      expect(got[0]).toBe(xv[0]);
      expect(got[(9 * 8 + 7) * 4 - 1]).toBe(0); // last row is padding
      expectClose(
        got,
        padRef(xv, shape, [
          [0, 0],
          [0, 1],
          [0, 1],
        ]).data,
        0,
        0,
        'vae pad',
      );
    });
  });

  test('upsampling splits outputs larger than the storage binding limit (2x128x128x512 f32 -> 256 MiB)', async () => {
    const gpu = await getGpu();
    const shape = [2, 128, 128, 512];
    const limit = Number(gpu.device.limits.maxStorageBufferBindingSize);
    expect(count(shape) * 4 * 4).toBeGreaterThan(limit);
    const xv = new Float32Array(count(shape));
    for (let i = 0; i < xv.length; i++) xv[i] = (i % 1021) - 510;
    await gpu.scopeAsync(async () => {
      const y = upsampleNearest2x(gpu, gpu.upload(xv, shape));
      // Spot-check elements in the first, middle and last chunks.
      const got = await gpu.read(y);
      const [, H, W, C] = shape as [number, number, number, number];
      for (const [n, h, w, c] of [
        [0, 0, 0, 0],
        [0, 255, 255, 511],
        [1, 0, 3, 7],
        [1, 130, 77, 300],
        [1, 255, 255, 511],
      ] as const) {
        const want = xv[((n * H + (h >> 1)) * W + (w >> 1)) * C + c];
        expect(got[((n * 2 * H + h) * 2 * W + w) * C + c]).toBe(want);
      }
    });
  });

  test('bad shapes are refused with the shape in the message', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const x = gpu.upload([1, 2, 3], [3]);
      expect(() => upsampleNearest2x(gpu, x)).toThrow(/\[3\]/);
      expect(() => pad(gpu, x, [[-1, 0]])).toThrow(/non-negative/);
    });
  });
});
