import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type ConvSpec, conv, prepareConvWeight } from '../../src/kernels/conv.js';
import { convRef } from '../../src/kernels/reference/conv.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);

const values = (n: number, seed: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
};

interface Case {
  rank: 2 | 3;
  n: number;
  sp: number[];
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: 'none' | 'same' | 'end';
  bias: boolean;
  residual: boolean;
  scale: number;
  seed: number;
}

const chan = fc.oneof(fc.constantFrom(1, 3, 4, 7, 8, 13), fc.integer({ min: 1, max: 40 }));
const caseArb = (rank: 2 | 3): fc.Arbitrary<Case> =>
  fc.record({
    rank: fc.constant(rank),
    n: fc.integer({ min: 1, max: 2 }),
    sp: fc.array(fc.integer({ min: 1, max: rank === 2 ? 11 : 6 }), { minLength: rank, maxLength: rank }),
    cin: chan,
    cout: fc.oneof(chan, fc.constantFrom(64, 65, 70)),
    k: fc.constantFrom(1, 3),
    stride: fc.constantFrom(1, 2),
    pad: fc.constantFrom('none', 'same', 'end') as fc.Arbitrary<Case['pad']>,
    bias: fc.boolean(),
    residual: fc.boolean(),
    scale: fc.constantFrom(1, 0.5, 1 / 1.41),
    seed: fc.integer(),
  });

/** Runs one case on the GPU (poisoned output) and compares with the float64 reference. */
async function check(gpu: Gpu, c: Case, dtype: 'f32' | 'f16', extra: ConvSpec = {}, f32Tol = 1e-5) {
  const padding = Array.from({ length: c.rank }, () =>
    c.pad === 'none' ? ([0, 0] as const) : c.pad === 'same' ? ([(c.k - 1) / 2, (c.k - 1) / 2] as const) : ([0, 1] as const),
  );
  // A kernel larger than the padded input gives no output: skip those (they are an error, tested below).
  if (c.sp.some((d, i) => d + padding[i]![0] + padding[i]![1] < c.k)) return;
  const xShape = [c.n, ...c.sp, c.cin];
  const wShape = [c.cout, c.cin, ...Array(c.rank).fill(c.k)];
  const nx = xShape.reduce((a, b) => a * b, 1);
  const nw = wShape.reduce((a, b) => a * b, 1);
  const round = (v: Float32Array) => (dtype === 'f16' ? roundToF16(v) : v);
  const xv = round(values(nx, c.seed));
  const wv = round(values(nw, c.seed ^ 0x9e3779b9));
  const bv = round(values(c.cout, c.seed ^ 0x85ebca6b));
  const spec: ConvSpec = { stride: c.stride, padding, scale: c.scale, ...extra };
  const refShape = convRef({ x: xv, xShape, w: wv, wShape, stride: Array(c.rank).fill(c.stride), padding }).shape;
  const rv = round(
    values(
      refShape.reduce((a, b) => a * b, 1),
      c.seed ^ 0x27d4eb2f,
    ),
  );
  const want = convRef({
    x: xv,
    xShape,
    w: wv,
    wShape,
    bias: c.bias ? bv : undefined,
    residual: c.residual ? rv : undefined,
    stride: Array(c.rank).fill(c.stride),
    padding,
    scale: c.scale,
  });
  await gpu.scopeAsync(async () => {
    const x = gpu.upload(xv, xShape, dtype);
    const w = prepareConvWeight(gpu, wv, wShape, dtype);
    const bias = c.bias ? gpu.upload(bv, [c.cout], dtype) : undefined;
    const residual = c.residual ? gpu.upload(rv, want.shape, dtype) : undefined;
    const y = gpu.scope(() => {
      const out = gpu.empty(want.shape, dtype);
      gpu.poison(out);
      out.release();
      return conv(gpu, x, w, { bias, residual }, spec);
    });
    expect(y.shape).toEqual(want.shape);
    const got = await gpu.read(y);
    // f32: K = taps·Cin <= 27·40 products of values in [-1, 1] accumulated in f32: |err| <= 1e-5·(1 + |y|).
    // f16: inputs are exact f16 values; the f16 output rounding adds <= 2^-11·|y|: |err| <= 2e-3·(1 + |y|).
    const tol = dtype === 'f32' ? f32Tol : 2e-3;
    expectClose(got, want.data, tol, tol, `${dtype} ${JSON.stringify(c)} ${JSON.stringify(extra)}`);
  });
}

describe('conv', () => {
  for (const impl of ['auto', 'portable'] as const) {
    for (const rank of [2, 3] as const) {
      test.prop([caseArb(rank), fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>], { numRuns: RUNS })(
        `conv${rank}d (${impl}) matches the float64 reference (f32 |err| <= 1e-5·(1+|y|), f16 <= 2e-3·(1+|y|))`,
        async (c, dtype) => {
          const gpu = await getGpu();
          if (dtype === 'f16' && !gpu.hasF16) return;
          await check(gpu, c, dtype, { impl });
        },
      );
    }
  }

  test.prop([caseArb(2), caseArb(3), fc.constantFrom(2, 3, 5)], { numRuns: Math.max(3, Math.ceil(RUNS / 3)) })(
    'splits work into offset-bound ranges when inputs/outputs exceed a (small, artificial) binding limit',
    async (c2, c3, parts) => {
      const gpu = await getGpu();
      // The limit is a fraction of the input's bytes, but at least one output line and its input rows.
      const limitFor = (c: Case) => {
        const plane = c.rank === 3 ? c.sp[1]! * c.sp[2]! : c.sp[c.rank - 1]!;
        const xBytes = 4 * c.n * c.sp.reduce((a, b) => a * b, 1) * c.cin;
        return Math.max(Math.ceil(xBytes / parts), 4 * (3 * plane * c.cin + c.sp[c.rank - 1]! * c.cout) + 512);
      };
      const big2 = { ...c2, sp: c2.sp.map((d) => d + 8), cin: c2.cin + 8 };
      await check(gpu, big2, 'f32', { maxBindingBytes: limitFor(big2) });
      const big3 = { ...c3, sp: c3.sp.map((d) => d + 3) };
      await check(gpu, big3, 'f32', { maxBindingBytes: limitFor(big3), impl: 'portable' });
    },
  );

  test('SD-like 3x3 320->320 slice at 16x16 and the VAE downsampler (stride 2, pad end)', async () => {
    const gpu = await getGpu();
    const base = { rank: 2, n: 2, bias: true, residual: true, scale: 1, seed: 7 } as const;
    // K = 2880 products of values in [-1, 1] summed in f32 (observed error 1.8e-5): bound 1e-4·(1+|y|).
    await check(gpu, { ...base, sp: [16, 16], cin: 320, cout: 320, k: 3, stride: 1, pad: 'same' }, 'f32', {}, 1e-4);
    await check(gpu, { ...base, sp: [17, 16], cin: 24, cout: 24, k: 3, stride: 2, pad: 'end' }, 'f32');
  });

  test('bad shapes give ShapeErrors naming the tensors', async () => {
    const gpu = await getGpu();
    await gpu.scopeAsync(async () => {
      const w = prepareConvWeight(gpu, new Float32Array(4 * 3 * 9), [4, 3, 3, 3]);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 2]), w)).toThrow(/3 channels|2 channels/);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 5, 3]), w)).toThrow(/\[N, H, W, Cin\]/);
      expect(() => conv(gpu, gpu.zeros([1, 2, 2, 3]), w)).toThrow(/gives no output/);
      expect(() => prepareConvWeight(gpu, new Float32Array(5), [4, 3, 3, 3])).toThrow(/\[4, 3, 3, 3\]/);
    });
  });
});
