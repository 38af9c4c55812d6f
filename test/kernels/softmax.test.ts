import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { softmaxRef } from '../../src/kernels/reference/softmax.js';
import { softmax } from '../../src/kernels/softmax.js';
import { type DType, roundToF16 } from '../../src/runtime/dtype.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13, 31, 63, 64, 65, 67, 77, 129), fc.integer({ min: 1, max: 300 }));

/** Logits in [-range, range]; large ranges overflow a softmax that does not subtract the row max. */
const values = (n: number, seed: number, range: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * range;
  });
};

async function run(shape: number[], dtype: DType, scale: number, causal: boolean, seed: number, range: number) {
  const gpu = await getGpu();
  const n = shape.reduce((a, b) => a * b, 1);
  let xv: Float32Array = values(n, seed, range);
  if (dtype === 'f16') xv = roundToF16(xv);
  const want = softmaxRef(xv, shape, scale, causal);
  await gpu.scopeAsync(async () => {
    const x = gpu.upload(xv, shape, dtype);
    const y = gpu.scope(() => {
      const out = gpu.empty(shape, dtype);
      gpu.poison(out);
      out.release();
      return softmax(gpu, x, { scale, causal });
    });
    expect(y.shape).toEqual(shape);
    // Probabilities are in [0, 1]. f32: a few ulp of exp and the sum (1e-6 absolute), plus the rounding of
    // the logits themselves: scale·x and its difference to the max are each off by up to |scale·x|·2⁻²⁴,
    // which moves p by p·Δ (relative). f16 adds output rounding of 2⁻¹¹ relative (5e-4 absolute).
    const atol = dtype === 'f32' ? 1e-6 : 5e-4;
    const rtol = 4 * range * scale * 2 ** -24 + 1e-6;
    expectClose(await gpu.read(y), want, atol, rtol, `softmax ${shape} ${dtype} scale ${scale} causal ${causal}`);
  });
}

describe('softmax', () => {
  test.prop(
    [
      fc.array(dim, { minLength: 1, maxLength: 3 }),
      fc.constantFrom<DType>('f32', 'f16'),
      fc.constantFrom(1, 0.125, 2.5),
      fc.boolean(),
      fc.integer(),
      fc.constantFrom(1, 30, 1e4),
    ],
    { numRuns: RUNS },
  )(
    'rows of any length, scale, causal mask, logits up to ±1e4 (poisoned output; |err| <= atol + p·4·|scale·x|max·2⁻²⁴)',
    async (shape, dtype, scale, causal, seed, range) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      if (causal && shape.length < 2) shape = [2, ...shape];
      // f16 storage cannot hold 1e4·2.5 logits' differences exactly but can hold the inputs; keep ranges in f16.
      await run(shape, dtype, scale, causal, seed, dtype === 'f16' ? Math.min(range, 6e4 / scale) : range);
    },
  );

  test.prop(
    [
      fc.constantFrom(1, 63, 64, 65, 77, 513, 1023, 1024, 1025, 2049, 4100),
      fc.constantFrom<DType>('f32', 'f16'),
      fc.boolean(),
      fc.integer(),
    ],
    {
      numRuns: 12,
    },
  )(
    'long rows and rows around the workgroup width (64), in both dtypes, with and without the causal mask',
    async (cols, dtype, causal, seed) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      await run([3, cols], dtype, 0.125, causal, seed, 30);
    },
  );

  test('more rows than one grid dimension holds: every row of a 2D grid is normalised', async () => {
    await run([65539, 5], 'f32', 1, false, 7, 30);
  });

  test('a causal row sees only its prefix: row i of [4, 4] ones is 1/(i+1) on columns <= i', async () => {
    const gpu = await getGpu();
    const y = await gpu.scopeAsync(async () => gpu.read(softmax(gpu, gpu.upload(new Float32Array(16).fill(1), [4, 4]), { causal: true })));
    expectClose(y, [1, 0, 0, 0, 1 / 2, 1 / 2, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 1 / 4, 1 / 4, 1 / 4, 1 / 4], 1e-7, 0, 'causal');
  });

  test('a causal mask on a rank-1 tensor is refused', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      expect(() => softmax(gpu, gpu.zeros([5]), { causal: true })).toThrow(/causal mask needs rank >= 2/);
    });
  });
});
