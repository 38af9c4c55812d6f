import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { UnaryOp } from '../../src/kernels/elementwise.js';
import { ACTIVATIONS } from '../../src/kernels/activation.js';
import { type MatmulPath, matmul, matmulPath } from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/kernels/reference/matmul.js';
import { type DType, roundToF16 } from '../../src/runtime/dtype.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);
const U32 = 2 ** -24;
const dim = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 5, 7, 13, 31, 37, 67), fc.integer({ min: 1, max: 80 }));

const values = (n: number, seed: number, dtype: DType) => {
  let s = seed >>> 0 || 1;
  const v = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
  return dtype === 'f16' ? roundToF16(v) : v;
};

/**
 * Error bound. The inputs are exactly representable in the storage dtype, so the only errors are the f32
 * accumulation (any summation order: |err| <= K·u·Σ|a·b| with u = 2⁻²⁴, the standard γ_K bound), the
 * epilogue (erf approximation 1.2e-7, a few roundings: 1e-6·(1+|y|)) and, for f16, the final rounding to
 * f16 (2⁻¹¹·|y|, we allow 1e-3·(1+|y|)).
 */
function check(got: Float32Array, want: Float64Array, absSum: Float64Array, K: number, dtype: DType, what: string) {
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as number;
    const g = got[i] as number;
    const tol = (K + 2) * U32 * (absSum[i] as number) + (dtype === 'f32' ? 1e-6 : 1e-3) * (1 + Math.abs(w));
    if (!(Math.abs(g - w) <= tol)) throw new Error(`${what}: element ${i}: got ${g}, want ${w} (tol ${tol})`);
  }
}

interface Case {
  batch: number[];
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  bBatched: boolean;
  bias: boolean;
  residual: boolean;
  act: UnaryOp;
  scale?: number;
  dtype: DType;
  impl: MatmulPath;
  seed: number;
  packF16?: boolean;
}

async function run(c: Case) {
  const gpu = await getGpu();
  const nb = c.batch.reduce((x, y) => x * y, 1);
  const av = values(nb * c.M * c.K, c.seed, c.dtype);
  const bv = values((c.bBatched ? nb : 1) * c.K * c.N, c.seed ^ 0x1234567, c.dtype);
  const biasv = c.bias ? values(c.N, c.seed ^ 0x777, c.dtype) : undefined;
  const resv = c.residual ? values(nb * c.M * c.N, c.seed ^ 0x999, c.dtype) : undefined;
  const want = matmulRef(av, bv, { ...c, batch: nb, activation: c.act, scale: c.scale, bias: biasv, residual: resv });
  await gpu.scopeAsync(async () => {
    const a = gpu.upload(av, [...c.batch, ...(c.transA ? [c.K, c.M] : [c.M, c.K])], c.dtype);
    const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
    const b = gpu.upload(bv, c.bBatched ? [...c.batch, ...bShape] : bShape, c.dtype);
    const bias = biasv && gpu.upload(biasv, [c.N], c.dtype);
    const residual = resv && gpu.upload(resv, [...c.batch, c.M, c.N], c.dtype);
    const y = gpu.scope(() => {
      // Poison the buffer the output will get from the pool, so unwritten elements show up as NaN.
      const out = gpu.empty([...c.batch, c.M, c.N], c.dtype);
      gpu.poison(out);
      out.release();
      return matmul(
        gpu,
        { a, b, bias, residual },
        {
          transA: c.transA,
          transB: c.transB,
          activation: c.act,
          scale: c.scale,
          impl: c.impl,
          packF16: c.packF16,
        },
      );
    });
    expect(y.shape).toEqual([...c.batch, c.M, c.N]);
    check(await gpu.read(y), want.y, want.absSum, c.K, c.dtype, JSON.stringify({ ...c, seed: undefined }));
  });
}

const shapeCase = (dtypes: DType[]) =>
  fc.record({
    batch: fc.oneof(fc.constant<number[]>([]), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })),
    M: dim,
    K: dim,
    N: dim,
    transA: fc.boolean(),
    transB: fc.boolean(),
    bBatched: fc.boolean(),
    bias: fc.constant(false),
    residual: fc.constant(false),
    act: fc.constant<UnaryOp>('identity'),
    dtype: fc.constantFrom(...dtypes),
    impl: fc.constantFrom<MatmulPath>(...PATHS),
    seed: fc.integer(),
  });

const PATHS: MatmulPath[] = ['subgroup', 'portable', 'tiled'];

describe('matmul', () => {
  test('paths: software adapters default to the subgroup path, hardware ones to the tiled path; each can be forced', async () => {
    const gpu = await getGpu();
    expect(matmulPath(gpu, { impl: 'portable' })).toBe('portable');
    expect(matmulPath(gpu, { impl: 'tiled' })).toBe('tiled');
    const fixedSubgroups = gpu.hasSubgroups && gpu.info.subgroupMinSize === gpu.info.subgroupMaxSize;
    expect(matmulPath(gpu, { impl: 'subgroup' })).toBe(fixedSubgroups ? 'subgroup' : 'portable');
    if (!gpu.info.isFallbackAdapter) expect(matmulPath(gpu)).toBe('tiled');
    else expect(matmulPath(gpu)).toBe(fixedSubgroups ? 'subgroup' : 'portable');
  });

  test.prop([shapeCase(['f32'])], { numRuns: RUNS })(
    'f32, every path, transposes, batch and broadcast B: |err| <= (K+2)·2⁻²⁴·Σ|a·b| + 1e-6·(1+|y|)',
    (c) => run(c),
  );

  test.prop([shapeCase(['f16']).map((c) => ({ ...c, transA: false }))], { numRuns: Math.ceil(RUNS / 2) })(
    'f16 storage: same bound plus f16 output rounding 1e-3·(1+|y|)',
    async (c) => {
      const gpu = await getGpu();
      if (!gpu.hasF16) return;
      await run(c);
    },
  );

  // f16 Linear layout (A [M, K], B [N, K], K even) on the subgroup path reads two halves per u32 word; the
  // random shapes above reach it only when K happens to be even. Packed and one-half-per-load side by side.
  test.prop(
    [
      shapeCase(['f16']).map((c) => ({ ...c, transA: false, transB: true, impl: 'subgroup' as MatmulPath })),
      fc.integer({ min: 1, max: 90 }).map((h) => 2 * h),
      fc.boolean(),
      fc.boolean(),
    ],
    { numRuns: RUNS },
  )('f16 packed pairs (x·Wᵀ, K even) match the reference, as the unpacked path', async (c, K, bias, residual) => {
    const gpu = await getGpu();
    if (!gpu.hasF16) return;
    await run({ ...c, K, bias, residual, packF16: true });
    await run({ ...c, K, bias, residual, packF16: false });
  });

  // Every activation the epilogue offers (exp excluded: these sums reach ±180 and exp overflows f32), with
  // bias, residual and an output scale, on every path: the epilogue is uniform-driven, one pipeline for all.
  test.prop(
    [
      fc.constantFrom(...ACTIVATIONS.filter((op) => op !== 'exp')),
      fc.constantFrom<DType>('f32', 'f16'),
      fc.constantFrom<MatmulPath>(...PATHS),
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom(1, 0.5, -1.25),
    ],
    { numRuns: RUNS },
  )(
    'epilogue act(x·w + bias) + residual, times scale, at a non-tile shape (bound scaled by |scale|)',
    async (act, dtype, impl, bias, residual, scale) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      await run({
        batch: [2],
        M: 37,
        K: 45,
        N: 70,
        transA: false,
        transB: true,
        bBatched: false,
        bias,
        residual,
        act,
        scale,
        dtype,
        impl,
        seed: 42,
      });
    },
  );

  test.each(PATHS)('a large case: 300×257×333 on the %s path, k tail and partial tiles', async (impl) => {
    await run({
      batch: [],
      M: 300,
      K: 257,
      N: 333,
      transA: false,
      transB: false,
      bBatched: false,
      bias: false,
      residual: false,
      act: 'identity',
      dtype: 'f32',
      impl,
      seed: 7,
    });
  });

  test('mismatched shapes give ShapeErrors naming the tensors', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const a = gpu.zeros([4, 5]);
      const b = gpu.zeros([6, 7]);
      expect(() => matmul(gpu, { a, b })).toThrow(/A \[4, 5\].*B \[6, 7\].*inner dimensions differ \(5 vs 6\)/);
      const b2 = gpu.zeros([3, 5, 7]);
      expect(() => matmul(gpu, { a: gpu.zeros([2, 4, 5]), b: b2 })).toThrow(/batch dims/);
      expect(() => matmul(gpu, { a, b: gpu.zeros([5, 7]), bias: gpu.zeros([6]) })).toThrow(/bias \[6\] must be \[7\]/);
    });
  });
});
