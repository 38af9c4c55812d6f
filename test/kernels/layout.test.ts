import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { concat, copy, geglu, permute, slice } from '../../src/kernels/layout.js';
import { concatRef, gegluRef, permuteRef, sliceRef } from '../../src/kernels/reference/layout.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Shape, Tensor } from '../../src/runtime/tensor.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13), fc.integer({ min: 1, max: 12 }));
const dtypeArb = fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>;
const values = (n: number, seed: number, dtype: 'f32' | 'f16') => {
  let s = seed >>> 0 || 1;
  const v = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 8 - 4;
  });
  return dtype === 'f16' ? roundToF16(v) : v;
};
const count = (s: Shape) => s.reduce((a, b) => a * b, 1);

/** Poisons a pooled buffer of the output's size class first, so an unwritten element reads as NaN. */
function poisoned(gpu: Gpu, shape: Shape, dtype: 'f32' | 'f16', run: () => Tensor): Tensor {
  return gpu.scope(() => {
    const out = gpu.empty(shape, dtype);
    gpu.poison(out);
    out.release();
    return run();
  });
}

describe('layout', () => {
  test.prop(
    [
      fc
        .array(dim, { minLength: 1, maxLength: 5 })
        .chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }))),
      fc.integer(),
      dtypeArb,
    ],
    { numRuns: RUNS },
  )('permute of up to 5 axes is exact (poisoned output)', async ([shape, perm], seed, dtype) => {
    const gpu = await getGpu();
    const xv = values(count(shape), seed, dtype);
    const want = permuteRef(xv, shape, perm);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, shape, dtype);
      const y = poisoned(gpu, want.shape, dtype, () => permute(gpu, x, perm));
      expect(y.shape).toEqual(want.shape);
      expectClose(await gpu.read(y), want.data, 0, 0, `permute ${shape} by ${perm}`);
    });
  });

  test('NCHW<->NHWC, NCDHW<->NDHWC and [B,N,H,d]<->[B,H,N,d] round trips', async () => {
    const gpu = await getGpu();
    const cases: Array<[number[], number[], number[]]> = [
      [
        [2, 5, 7, 3],
        [0, 2, 3, 1],
        [0, 3, 1, 2],
      ],
      [
        [1, 4, 3, 5, 6],
        [0, 2, 3, 4, 1],
        [0, 4, 1, 2, 3],
      ],
      [
        [2, 77, 8, 40],
        [0, 2, 1, 3],
        [0, 2, 1, 3],
      ],
    ];
    for (const [shape, fwd, back] of cases) {
      const xv = values(count(shape), 7, 'f32');
      await gpu.scopeAsync(async () => {
        const x = gpu.upload(xv, shape);
        const y = permute(gpu, x, fwd);
        expectClose(await gpu.read(y), permuteRef(xv, shape, fwd).data, 0, 0, `${shape} by ${fwd}`);
        const z = permute(gpu, y, back);
        expect(z.shape).toEqual(shape);
        expectClose(await gpu.read(z), xv, 0, 0, 'round trip');
      });
    }
  });

  test.prop(
    [
      fc
        .array(dim, { minLength: 1, maxLength: 5 })
        .chain((s) =>
          fc
            .integer({ min: 0, max: s.length - 1 })
            .chain((ax) =>
              fc.tuple(
                fc.constant(s),
                fc.constant(ax),
                fc.integer({ min: 0, max: s[ax] as number }),
                fc.integer({ min: 0, max: s[ax] as number }),
              ),
            ),
        ),
      fc.integer(),
      dtypeArb,
    ],
    { numRuns: RUNS },
  )('slice along any axis is exact (poisoned output)', async ([shape, axis, a, b], seed, dtype) => {
    const gpu = await getGpu();
    const [start, end] = a <= b ? [a, b] : [b, a];
    const xv = values(count(shape), seed, dtype);
    const want = sliceRef(xv, shape, axis, start, end);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, shape, dtype);
      const y = poisoned(gpu, want.shape, dtype, () => slice(gpu, x, axis, start, end));
      expect(y.shape).toEqual(want.shape);
      expectClose(await gpu.read(y), want.data, 0, 0, `slice ${shape} axis ${axis} [${start},${end})`);
    });
  });

  test.prop(
    [
      fc.array(dim, { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 2, maxLength: 4 }),
      fc.boolean(),
      fc.integer(),
      dtypeArb,
    ],
    { numRuns: RUNS },
  )('concat of 2+ tensors along channels (or axis 0) is exact (poisoned output)', async (shape, widths, axis0, seed, dtype) => {
    const gpu = await getGpu();
    const axis = axis0 ? 0 : shape.length - 1;
    const parts = widths.map((w, k) => {
      const s = shape.map((d, i) => (i === axis ? w : d));
      return { shape: s, data: values(count(s), seed + k, dtype) };
    });
    const want = concatRef(parts, axis);
    await gpu.scopeAsync(async () => {
      const xs = parts.map((p) => gpu.upload(p.data, p.shape, dtype));
      const y = poisoned(gpu, want.shape, dtype, () => concat(gpu, xs, axis === 0 ? 0 : -1));
      expect(y.shape).toEqual(want.shape);
      expectClose(await gpu.read(y), want.data, 0, 0, `concat ${widths} along ${axis} of ${shape}`);
    });
  });

  test.prop([fc.array(dim, { minLength: 0, maxLength: 3 }), fc.integer({ min: 1, max: 70 }), fc.integer(), dtypeArb], { numRuns: RUNS })(
    'geglu matches x[..,:F]*gelu(x[..,F:]) within f32 2e-6·(1+|y|), f16 4e-3·(1+|y|)',
    async (lead, f, seed, dtype) => {
      const gpu = await getGpu();
      const shape = [...lead, 2 * f];
      const xv = values(count(shape), seed, dtype);
      const want = gegluRef(xv, 2 * f);
      await gpu.scopeAsync(async () => {
        const x = gpu.upload(xv, shape, dtype);
        const y = poisoned(gpu, [...lead, f], dtype, () => geglu(gpu, x));
        expect(y.shape).toEqual([...lead, f]);
        const tol = dtype === 'f32' ? 2e-6 : 4e-3;
        expectClose(await gpu.read(y), want, tol, tol, `geglu ${shape}`);
      });
    },
  );

  test('copy, and errors name the shapes', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const xv = values(1000, 3, 'f32');
      const x = gpu.upload(xv, [10, 100]);
      expectClose(await gpu.read(copy(gpu, x)), xv, 0, 0, 'copy');
      const b = gpu.upload(values(30, 1, 'f32'), [3, 10]);
      expect(() => concat(gpu, [x, b])).toThrow(/tensor 1 has shape \[3, 10\]/);
      expect(() => permute(gpu, x, [0, 0])).toThrow(/not a permutation/);
      expect(() => slice(gpu, x, 1, 5, 101)).toThrow(/outside axis 1/);
      expect(() => geglu(gpu, gpu.upload(values(3, 1, 'f32'), [3]))).toThrow(/must be even/);
    });
  });
});
