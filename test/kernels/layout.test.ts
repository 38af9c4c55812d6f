import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { chunk, concat, copy, fill, geglu, permute, slice, splitCopy } from '../../src/kernels/layout.js';
import { concatRef, gegluRef, permuteRef, sliceRef } from '../../src/kernels/reference/layout.js';
import type { Shape } from '../../src/runtime/tensor.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { limitFor, poisoned, seededValues, splitArb } from '../helpers/kernel-inputs.js';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13), fc.integer({ min: 1, max: 12 }));
const dtypeArb = fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>;
const count = (s: Shape) => s.reduce((a, b) => a * b, 1);

describe('layout', () => {
  test.prop(
    [
      fc
        .array(dim, { minLength: 1, maxLength: 5 })
        .chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }))),
      fc.integer(),
      dtypeArb,
      splitArb,
    ],
    { numRuns: RUNS },
  )(
    'permute of up to 5 axes is exact, also split under a small binding limit (poisoned output)',
    async ([shape, perm], seed, dtype, parts) => {
      const gpu = await getGpu();
      const xv = seededValues(count(shape), seed, dtype);
      const want = permuteRef(xv, shape, perm);
      const maxBindingBytes = limitFor(xv.length * 4, parts);
      await gpu.scopeAsync(async () => {
        const x = gpu.upload(xv, shape, dtype);
        const y = poisoned(gpu, want.shape, dtype, () => permute(gpu, x, perm, { maxBindingBytes }));
        expect(y.shape).toEqual(want.shape);
        expectClose(await gpu.read(y), want.data, 0, 0, `permute ${shape} by ${perm}`);
      });
    },
  );

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
      const xv = seededValues(count(shape), 7, 'f32');
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
      splitArb,
    ],
    { numRuns: RUNS },
  )('slice along any axis is exact, also split (poisoned output)', async ([shape, axis, a, b], seed, dtype, parts) => {
    const gpu = await getGpu();
    const [start, end] = a <= b ? [a, b] : [b, a];
    const xv = seededValues(count(shape), seed, dtype);
    const want = sliceRef(xv, shape, axis, start, end);
    const maxBindingBytes = limitFor(xv.length * 4, parts);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, shape, dtype);
      const y = poisoned(gpu, want.shape, dtype, () => slice(gpu, x, axis, start, end, { maxBindingBytes }));
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
      splitArb,
    ],
    { numRuns: RUNS },
  )(
    'concat of 2+ tensors along channels (or axis 0) is exact, also split (poisoned output)',
    async (shape, widths, axis0, seed, dtype, split) => {
      const gpu = await getGpu();
      const axis = axis0 ? 0 : shape.length - 1;
      const parts = widths.map((w, k) => {
        const s = shape.map((d, i) => (i === axis ? w : d));
        return { shape: s, data: seededValues(count(s), seed + k, dtype) };
      });
      const want = concatRef(parts, axis);
      await gpu.scopeAsync(async () => {
        const xs = parts.map((p) => gpu.upload(p.data, p.shape, dtype));
        const maxBindingBytes = limitFor(want.data.length * 4, split);
        const y = poisoned(gpu, want.shape, dtype, () => concat(gpu, xs, axis === 0 ? 0 : -1, { maxBindingBytes }));
        expect(y.shape).toEqual(want.shape);
        expectClose(await gpu.read(y), want.data, 0, 0, `concat ${widths} along ${axis} of ${shape}`);
      });
    },
  );

  test.prop([fc.array(dim, { minLength: 0, maxLength: 3 }), fc.integer({ min: 1, max: 70 }), fc.integer(), dtypeArb, splitArb], {
    numRuns: RUNS,
  })('geglu matches x[..,:F]*gelu(x[..,F:]) within f32 2e-6·(1+|y|), f16 4e-3·(1+|y|), also split', async (lead, f, seed, dtype, parts) => {
    const gpu = await getGpu();
    const shape = [...lead, 2 * f];
    const xv = seededValues(count(shape), seed, dtype);
    const want = gegluRef(xv, 2 * f);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, shape, dtype);
      // The limit must hold one row of 2F values.
      const maxBindingBytes = parts === undefined ? undefined : Math.max(limitFor(xv.length * 4, parts)!, 272 + 8 * f + 16);
      const y = poisoned(gpu, [...lead, f], dtype, () => geglu(gpu, x, { maxBindingBytes }));
      expect(y.shape).toEqual([...lead, f]);
      const tol = dtype === 'f32' ? 2e-6 : 4e-3;
      expectClose(await gpu.read(y), want, tol, tol, `geglu ${shape}`);
    });
  });

  test.prop(
    [
      fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })), {
        minLength: 1,
        maxLength: 5,
      }),
      fc.integer({ min: 1, max: 300 }),
    ],
    { numRuns: RUNS * 5 },
  )('splitCopy covers every element exactly once and keeps each piece within the limit', (axes, limit) => {
    const c = {
      sizes: axes.map((a) => a[0]),
      srcStrides: axes.map((a) => a[1]),
      dstStrides: axes.map((a) => a[2]),
      srcOffset: 5,
      dstOffset: 9,
    };
    const pieces = splitCopy(c, limit);
    const seen = new Map<string, number>();
    for (const p of pieces) {
      const extent = (st: number[]) => p.sizes.reduce((acc, d, k) => acc + (d - 1) * st[k]!, 0) + 1;
      // A piece may exceed the limit only when it is a single element (nothing smaller exists).
      if (count(p.sizes) > 1) {
        expect(extent(p.srcStrides)).toBeLessThanOrEqual(limit);
        expect(extent(p.dstStrides)).toBeLessThanOrEqual(limit);
      }
      // Enumerate (source, destination) offset pairs of the piece.
      for (let i = 0; i < count(p.sizes); i++) {
        let r = i;
        let so = p.srcOffset;
        let dof = p.dstOffset;
        for (let k = p.sizes.length - 1; k >= 0; k--) {
          const ck = r % p.sizes[k]!;
          r = Math.floor(r / p.sizes[k]!);
          so += ck * p.srcStrides[k]!;
          dof += ck * p.dstStrides[k]!;
        }
        seen.set(`${so}:${dof}`, (seen.get(`${so}:${dof}`) ?? 0) + 1);
      }
    }
    const want = new Map<string, number>();
    for (let i = 0; i < count(c.sizes); i++) {
      let r = i;
      let so = c.srcOffset;
      let dof = c.dstOffset;
      for (let k = c.sizes.length - 1; k >= 0; k--) {
        const ck = r % c.sizes[k]!;
        r = Math.floor(r / c.sizes[k]!);
        so += ck * c.srcStrides[k]!;
        dof += ck * c.dstStrides[k]!;
      }
      want.set(`${so}:${dof}`, (want.get(`${so}:${dof}`) ?? 0) + 1);
    }
    expect(seen).toEqual(want);
  });

  test('a split really happens under a small limit; fill and chunk', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const shape = [2, 9, 7, 12];
      const xv = seededValues(count(shape), 5, 'f32');
      const x = gpu.upload(xv, shape);
      const before = gpu.recorder.dispatches;
      const y = slice(gpu, x, -1, 4, 12, { maxBindingBytes: 272 + 1000 });
      expect(gpu.recorder.dispatches - before).toBeGreaterThan(2);
      expectClose(await gpu.read(y), sliceRef(xv, shape, 3, 4, 12).data, 0, 0, 'split slice');
      const parts = chunk(gpu, x, 3, 1);
      for (const [i, p] of parts.entries())
        expectClose(await gpu.read(p), sliceRef(xv, shape, 1, 3 * i, 3 * i + 3).data, 0, 0, `chunk ${i}`);
      for (const n of [1, 6, 1001]) {
        const t = gpu.empty([n]);
        gpu.poison(t);
        fill(gpu, t, -2.5, { maxBindingBytes: 272 + 400 });
        expect(Array.from(await gpu.read(t))).toEqual(Array(n).fill(-2.5));
      }
    });
  });

  test('copy, and errors name the shapes', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const xv = seededValues(1000, 3, 'f32');
      const x = gpu.upload(xv, [10, 100]);
      expectClose(await gpu.read(copy(gpu, x)), xv, 0, 0, 'copy');
      expectClose(await gpu.read(copy(gpu, x, { maxBindingBytes: 272 + 300 })), xv, 0, 0, 'copy (contiguous: a buffer copy)');
      const b = gpu.upload(seededValues(30, 1, 'f32'), [3, 10]);
      expect(() => concat(gpu, [x, b])).toThrow(/tensor 1 has shape \[3, 10\]/);
      expect(() => permute(gpu, x, [0, 0])).toThrow(/not a permutation/);
      expect(() => slice(gpu, x, 1, 5, 101)).toThrow(/outside axis 1/);
      expect(() => geglu(gpu, gpu.upload(seededValues(3, 1, 'f32'), [3]))).toThrow(/must be even/);
    });
  });
});
