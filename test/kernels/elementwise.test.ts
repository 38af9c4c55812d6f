import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type UnaryOp, binary, broadcastShape, unary } from '../../src/kernels/elementwise.js';
import { binaryRef, unaryRef } from '../../src/kernels/reference/elementwise.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { seededValues } from '../helpers/kernel-inputs.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13, 31, 67), fc.integer({ min: 1, max: 40 }));
const shapeArb = fc.array(dim, { minLength: 1, maxLength: 4 });
/** A pair of shapes that broadcast: b drops leading axes and sets some axes to 1. */
const broadcastPair = shapeArb.chain((a) =>
  fc
    .tuple(fc.integer({ min: 0, max: a.length - 1 }), fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }), fc.boolean())
    .map(([drop, ones, swap]) => {
      const b = a.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
      return swap ? { a: b, b: a } : { a, b };
    }),
);

describe('elementwise', () => {
  test.prop(
    [
      broadcastPair,
      fc.constantFrom('add', 'sub', 'mul', 'div') as fc.Arbitrary<'add' | 'sub' | 'mul' | 'div'>,
      fc.constantFrom<UnaryOp>('identity', 'silu', 'gelu'),
      fc.integer(),
      fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>,
    ],
    { numRuns: RUNS },
  )(
    'binary with broadcasting matches the reference (poisoned output, f32 |err| <= 2e-6·(1+|y|), f16 <= 4e-3·(1+|y|))',
    async ({ a: aShape, b: bShape }, op, act, seed, dtype) => {
      const gpu = await getGpu();
      const na = aShape.reduce((x, y) => x * y, 1);
      const nb = bShape.reduce((x, y) => x * y, 1);
      let av: Float32Array = seededValues(na, seed);
      let bv: Float32Array = seededValues(nb, seed ^ 0x5bd1e995);
      // Keep divisors away from 0 (|b| >= 0.25) so quotients stay within f16 range.
      if (op === 'div') bv = bv.map((x) => (x >= 0 ? x + 0.25 : x - 0.25));
      if (dtype === 'f16') {
        av = roundToF16(av);
        bv = roundToF16(bv);
      }
      await gpu.scopeAsync(async () => {
        const a = gpu.upload(av, aShape, dtype);
        const b = gpu.upload(bv, bShape, dtype);
        const want = binaryRef(op, av, aShape, bv, bShape, { activation: act, alpha: 1.5, beta: -0.5 });
        const y = gpu.scope(() => {
          const shape = broadcastShape(aShape, bShape);
          const out = gpu.empty(shape, dtype);
          gpu.poison(out);
          out.release();
          return binary(gpu, a, b, { op, activation: act, alpha: 1.5, beta: -0.5 });
        });
        expect(y.shape).toEqual(want.shape);
        const got = await gpu.read(y);
        const tol = dtype === 'f32' ? 2e-6 : 4e-3;
        expectClose(got, want.data, tol, tol, `${op}/${act} ${aShape}x${bShape}`);
      });
    },
  );

  test.prop(
    [
      fc.integer({ min: 1, max: 5000 }),
      fc.constantFrom<UnaryOp>('silu', 'gelu', 'gelu_tanh', 'quick_gelu', 'relu', 'sigmoid', 'tanh', 'neg'),
      fc.integer(),
    ],
    { numRuns: RUNS },
  )('unary activations match the reference within 2e-6·(1+|y|), including edge values', async (n, op, seed) => {
    const gpu = await getGpu();
    const xv = seededValues(n, seed);
    const edges = [0, -0, 1e-8, -1e-8, 30, -30, 88, -88, 1e4, -1e4];
    for (let i = 0; i < Math.min(edges.length, n); i++) xv[i] = edges[i] as number;
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, [n]);
      const got = await gpu.read(unary(gpu, x, op, 2, 0.5));
      expectClose(got, unaryRef(op, xv, 2, 0.5), 2e-6, 2e-6, op);
    });
  });

  test('incompatible shapes give a ShapeError naming both shapes', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const a = gpu.zeros([2, 3]);
      const b = gpu.zeros([4]);
      expect(() => binary(gpu, a, b, { op: 'add' })).toThrow(/\[2, 3\] and \[4\]/);
    });
  });
});
