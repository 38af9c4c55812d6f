import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { cast } from '../../src/kernels/cast.js';
import { castRef } from '../../src/kernels/reference/cast.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/runtime/dtype.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);

/** Values across the f16 range: normal, subnormal, zero, and the largest finite f16 magnitudes. */
const values = (n: number, seed: number) => {
  let s = seed >>> 0 || 1;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length: n }, (_, i) => {
    const sign = next() < 0.5 ? -1 : 1;
    if (i % 17 === 0) return 0;
    if (i % 13 === 0) return sign * 65504;
    return sign * 2 ** (next() * 39 - 24) * (1 + 0.99 * next());
  });
};

/** Distance in f16 steps between a result and the correctly rounded value. */
function f16Steps(got: number, want: number): number {
  const a = f32ToF16Bits(got);
  const b = f32ToF16Bits(want);
  const ord = (h: number) => (h & 0x8000 ? -(h & 0x7fff) : h);
  return Math.abs(ord(a) - ord(b));
}

describe('cast', () => {
  test.prop([fc.integer({ min: 1, max: 3000 }), fc.integer()], { numRuns: RUNS })(
    'f32 -> f16 lands within 1 f16 step of round-to-nearest-even and f16 -> f32 is exact (poisoned outputs)',
    async (n, seed) => {
      const gpu = await getGpu();
      if (!gpu.hasF16) return;
      const x = values(n, seed);
      await gpu.scopeAsync(async () => {
        const xt = gpu.upload(x, [n]);
        // Poisoned buffers go back to the pool, where the outputs below pick them up.
        const poisoned = [gpu.empty([n], 'f16'), gpu.empty([n], 'f32')];
        for (const t of poisoned) {
          gpu.poison(t);
          t.release();
        }
        const h = cast(gpu, xt, 'f16');
        expect(h.dtype).toBe('f16');
        const got = await gpu.read(h);
        const want = castRef(x, 'f16');
        for (let i = 0; i < n; i++) {
          if (f16Steps(got[i] as number, want[i] as number) > 1) throw new Error(`element ${i}: ${x[i]} -> ${got[i]}, want ${want[i]}`);
        }
        const back = cast(gpu, h, 'f32');
        expectClose(await gpu.read(back), castRef(got, 'f32'), 0, 0, 'f16 -> f32');
      });
    },
  );

  test('ranges split under a small binding budget give the same result; same-dtype cast is a copy', async () => {
    const gpu = await getGpu();
    const n = 5000;
    const x = values(n, 7);
    await gpu.scopeAsync(async () => {
      const xt = gpu.upload(x, [10, 500]);
      const same = cast(gpu, xt, 'f32');
      expect(same).not.toBe(xt);
      expectClose(await gpu.read(same), x, 0, 0, 'copy');
      if (!gpu.hasF16) return;
      const whole = await gpu.read(cast(gpu, xt, 'f16'));
      const split = cast(gpu, xt, 'f16', { maxBindingBytes: 3000 });
      expect(split.shape).toEqual([10, 500]);
      expectClose(await gpu.read(split), whole, 0, 0, 'split');
      expect(f16BitsToF32(f32ToF16Bits(1 / 3))).toBeCloseTo(1 / 3, 3);
    });
  });
});
