import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type PosteriorOutput, diagonalGaussian } from '../../src/kernels/diagonal-gaussian.js';
import { diagonalGaussianRef } from '../../src/kernels/reference/diagonal-gaussian.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const rowsArb = fc.oneof(fc.constant(1), fc.constantFrom(2, 3, 7, 63, 64, 65, 257, 4099), fc.integer({ min: 1, max: 3000 }));
const channelsArb = fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 9 }));

/** Moments with logvars beyond both clamp edges, exact zeros and ordinary values. */
function moments(n: number, seed: number, f16: boolean): Float32Array {
  let s = seed >>> 0 || 1;
  const edges = [0, -0, -30, 20, -100, 60, -30.5, 20.5, 1e-8];
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    if (s % 11 === 0) return edges[i % edges.length] as number;
    // f16 cannot hold exp(20/2)·eps beyond 65504: keep its logvars where the sample stays finite.
    return (s / 2 ** 32) * (f16 ? 36 : 80) - (f16 ? 22 : 40);
  });
}

describe('diagonalGaussian', () => {
  test.prop(
    [
      rowsArb,
      channelsArb,
      fc.constantFrom<PosteriorOutput>('sample', 'mean', 'logvar', 'std'),
      fc.boolean(),
      fc.integer(),
      fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>,
    ],
    { numRuns: RUNS },
  )(
    // A sample adds two rounded terms, so its error scales with |mean| + |std·eps|, not with the (possibly
    // cancelled) result: the bound is atol + rtol·(|mean| + |std·eps|) (= atol + rtol·|y| for other read-outs).
    'every read-out matches the float64 reference (poisoned output; f32 |err| <= 1e-6 + 2e-6·scale, f16 <= 1e-3 + 2e-3·scale)',
    async (rows, c, output, withEps, seed, dtype) => {
      const gpu = await getGpu();
      const f16 = dtype === 'f16';
      let m: Float32Array = moments(rows * 2 * c, seed, f16);
      // f16 tops out at 65504: keep std·eps (std up to e^10) inside it.
      let e: Float32Array = moments(rows * c, seed ^ 0x9e3779b9, f16).map((x) => (f16 ? Math.min(Math.max(x / 10, -2.5), 2.5) : x / 10));
      if (f16) {
        m = roundToF16(m);
        e = roundToF16(e);
      }
      const want = diagonalGaussianRef(m, 2 * c, output, withEps ? e : undefined);
      const mean = diagonalGaussianRef(m, 2 * c, 'mean');
      const std = diagonalGaussianRef(m, 2 * c, 'std');
      const scale = want.map((y, i) =>
        output === 'sample' && withEps ? Math.abs(mean[i] as number) + Math.abs((std[i] as number) * (e[i] as number)) : Math.abs(y),
      );
      await gpu.scopeAsync(async () => {
        const mt = gpu.upload(m, [1, rows, 2 * c], dtype);
        const et = gpu.upload(e, [1, rows, c], dtype);
        const y = gpu.scope(() => {
          const probe = gpu.empty([1, rows, c], dtype);
          gpu.poison(probe);
          probe.release();
          return diagonalGaussian(gpu, mt, output, withEps ? et : undefined);
        });
        expect(y.shape).toEqual([1, rows, c]);
        const got = await gpu.read(y);
        const [atol, rtol] = f16 ? [1e-3, 2e-3] : [1e-6, 2e-6];
        for (let i = 0; i < want.length; i++) {
          const err = Math.abs((got[i] as number) - (want[i] as number));
          if (!(err <= atol + rtol * (scale[i] as number))) {
            throw new Error(`${output} rows=${rows} c=${c} ${dtype}: element ${i}: got ${got[i]}, want ${want[i]} (scale ${scale[i]})`);
          }
        }
      });
    },
  );

  test('rejects odd channel counts and mismatched eps', async () => {
    const gpu = await getGpu();
    gpu.scope(() => {
      const m = gpu.zeros([1, 4, 3]);
      expect(() => diagonalGaussian(gpu, m, 'std')).toThrow(/even channel count/);
      const m2 = gpu.zeros([1, 4, 4]);
      expect(() => diagonalGaussian(gpu, m2, 'sample', gpu.zeros([1, 4, 3]))).toThrow(/eps \[1, 4, 3\]/);
    });
  });
});
