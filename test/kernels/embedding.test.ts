import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { gather, timestepEmbedding, uploadIds } from '../../src/kernels/embedding.js';
import { gatherRef, timestepEmbeddingRef } from '../../src/kernels/reference/embedding.js';
import { expectClose } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { seededValues } from '../helpers/kernel-inputs.js';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const dtypeArb = fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>;

describe('embedding', () => {
  test.prop(
    [
      fc.integer({ min: 1, max: 60 }),
      fc.oneof(fc.constant(1), fc.constantFrom(3, 7, 31), fc.integer({ min: 1, max: 80 })),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 2 }),
      fc.integer(),
      dtypeArb,
      fc.option(fc.constantFrom(2, 3, 7), { nil: undefined }),
    ],
    { numRuns: RUNS },
  )(
    'gather of table rows by u32 ids is exact, also with the table and output split into windows (poisoned output)',
    async (vocab, d, idShape, seed, dtype, parts) => {
      const gpu = await getGpu();
      const table = seededValues(vocab * d, seed, dtype);
      const n = idShape.reduce((a, b) => a * b, 1);
      const ids = Array.from({ length: n }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 0) % vocab);
      await gpu.scopeAsync(async () => {
        const t = gpu.upload(table, [vocab, d], dtype);
        const idT = uploadIds(gpu, ids, idShape, vocab);
        const y = gpu.scope(() => {
          const out = gpu.empty([...idShape, d], dtype);
          gpu.poison(out);
          out.release();
          // A limit (bytes) that holds about 1/parts of the table but at least one row; 272 bytes go to alignment.
          const maxBindingBytes = parts === undefined ? undefined : 272 + Math.max(4 * d + 16, Math.ceil((vocab * d * 4) / parts));
          return gather(gpu, t, idT, { maxBindingBytes });
        });
        expect(y.shape).toEqual([...idShape, d]);
        expectClose(await gpu.read(y), gatherRef(table, d, ids), 0, 0, `gather V=${vocab} D=${d}`);
      });
    },
  );

  test('CLIP-shaped gather (77 token ids into 49408x768) and out-of-vocabulary ids are refused', async () => {
    const gpu = await getGpu();
    const [V, D] = [49408, 768];
    const table = new Float32Array(V * D);
    for (let i = 0; i < table.length; i++) table[i] = (i % 997) * 0.25 - 100;
    const ids = [49406, ...Array.from({ length: 75 }, (_, i) => (i * 7919) % V), 49407];
    await gpu.scopeAsync(async () => {
      const y = gather(gpu, gpu.upload(table, [V, D]), uploadIds(gpu, ids, [1, 77], V));
      expect(y.shape).toEqual([1, 77, D]);
      expectClose(await gpu.read(y), gatherRef(table, D, ids), 0, 0, 'clip gather');
      expect(() => uploadIds(gpu, [0, V], [2], V)).toThrow(/id 49408 at position 1/);
    });
  });

  // The argument t·freq is the same f32 value on both sides; the bound is on sin/cos of it. Built-in sin of
  // 1000 rad would miss this by ~1e-4; with Cody–Waite reduction the error is near f32 rounding.
  test.prop(
    [
      fc.array(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1000, noNaN: true })), { minLength: 1, maxLength: 4 }),
      fc.oneof(fc.constantFrom(320, 256, 1), fc.integer({ min: 1, max: 400 })),
      fc.boolean(),
      fc.constantFrom(0, 1),
      fc.constantFrom(1, 2, 0.25),
    ],
    { numRuns: RUNS },
  )('timestep embedding matches get_timestep_embedding (f32 args) within 5e-7 absolute', async (ts, dim, flip, shift, scale) => {
    const gpu = await getGpu();
    const t32 = Float32Array.from(ts);
    // half - shift must not be 0 (diffusers divides by it).
    if (dim === 1 || 2 * Math.floor(dim / 2) - 2 * shift === 0) shift = 0;
    const want = timestepEmbeddingRef(t32, dim, flip, shift, scale);
    await gpu.scopeAsync(async () => {
      const y = gpu.scope(() => {
        const out = gpu.empty([ts.length, dim]);
        gpu.poison(out);
        out.release();
        return timestepEmbedding(gpu, gpu.upload(t32, [ts.length]), { dim, flipSinToCos: flip, downscaleFreqShift: shift, scale });
      });
      expect(y.shape).toEqual([ts.length, dim]);
      expectClose(await gpu.read(y), want, 5e-7, 0, `timestep dim=${dim} flip=${flip} shift=${shift} scale=${scale}`);
    });
  });

  test('SD timestep embedding (dim 320, flip, shift 0) at t = 999, 981, 1, 0 and in f16', async () => {
    const gpu = await getGpu();
    const t32 = Float32Array.from([999, 981, 1, 0]);
    const want = timestepEmbeddingRef(t32, 320, true, 0);
    await gpu.scopeAsync(async () => {
      const t = gpu.upload(t32, [4]);
      const y = timestepEmbedding(gpu, t, { dim: 320, flipSinToCos: true, downscaleFreqShift: 0 });
      expectClose(await gpu.read(y), want, 5e-7, 0, 'sd f32');
      // t = 0 gives [cos 0 | sin 0] = [1 | 0] exactly.
      const got = await gpu.read(y);
      expect(got[3 * 320]).toBe(1);
      expect(got[3 * 320 + 160]).toBe(0);
      if (gpu.hasF16) {
        const h = timestepEmbedding(gpu, t, { dim: 320, flipSinToCos: true, downscaleFreqShift: 0, dtype: 'f16' });
        expectClose(await gpu.read(h), want, 5e-4, 0, 'sd f16');
      }
    });
  });
});
