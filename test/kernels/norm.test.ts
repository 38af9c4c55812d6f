import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type LayerNormPath, groupNorm, layerNorm } from '../../src/kernels/norm.js';
import { groupNormRef, layerNormRef } from '../../src/kernels/reference/norm.js';
import { type DType, roundToF16 } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { bindings } from '../helpers/bindings.js';
import { getGpu } from '../helpers/gpu.js';
import { poisoned } from '../helpers/kernel-inputs.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);
const U = 2 ** -24;

/** Deterministic values `offset + spread·U(-1, 1)`, rounded to the storage dtype. */
const values = (n: number, seed: number, dtype: DType, spread = 2, offset = 0) => {
  let s = seed >>> 0 || 1;
  const v = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return offset + ((s / 2 ** 32) * 2 - 1) * spread;
  });
  return dtype === 'f16' ? roundToF16(v) : v;
};

/**
 * Asserts that every binding of x's or y's buffer stays within `limit` bytes (at least `min` bindings: x and
 * y of each launch, one binding of x per launch in place).
 */
function expectSplit(seen: { buffer: GPUBuffer; size: number }[], tensors: Tensor[], limit: number, min = 3) {
  const bufs = new Set(tensors.map((t) => t.buffer));
  const mine = seen.filter((b) => bufs.has(b.buffer));
  expect(mine.length).toBeGreaterThanOrEqual(min);
  for (const b of mine) expect(b.size).toBeLessThanOrEqual(limit);
}

interface GnCase {
  n: number;
  sp: number[];
  groups: number;
  perGroup: number;
  eps: number;
  affine: boolean;
  silu: boolean;
  /** Values are offset + spread·U(-1,1): a large offset relative to the spread tests the variance's stability. */
  offset: number;
  spread: number;
  seed: number;
}

/**
 * Group norm bound: the statistics carry relative error ~n·u from f32 sums (a few 1e-6 at these sizes),
 * and the mean itself is an f32 number, off by up to u·|mean|, which x - mean turns into an absolute error
 * of u·|mean|·rstd in the standardised value z. So |err| <= |γ|·(1e-5·(1 + |z|) + 4u·|mean|·rstd) + 1e-6
 * (SiLU's slope is below 1.1, inside the margin), plus 2⁻¹⁰·|y| for f16 output rounding.
 */
async function checkGroupNorm(gpu: Gpu, c: GnCase, dtype: DType, maxBindingBytes?: number, inPlace = false) {
  const C = c.groups * c.perGroup;
  const shape = [c.n, ...c.sp, C];
  const numel = shape.reduce((a, b) => a * b, 1);
  const xv = values(numel, c.seed, dtype, c.spread, c.offset);
  const gv = c.affine ? values(C, c.seed ^ 0x51ed27, dtype, 1.5) : undefined;
  const bv = c.affine ? values(C, c.seed ^ 0x2545f49, dtype, 1) : undefined;
  const want = groupNormRef(xv, shape, c.groups, c.eps, { gamma: gv, beta: bv }, c.silu);
  const z = groupNormRef(xv, shape, c.groups, c.eps);
  const P = numel / (c.n * C);
  await gpu.scopeAsync(async () => {
    const x = gpu.upload(xv, shape, dtype);
    const gamma = gv && gpu.upload(gv, [C], dtype);
    const beta = bv && gpu.upload(bv, [C], dtype);
    let y: Tensor | undefined;
    const spec = { groups: c.groups, eps: c.eps, silu: c.silu, maxBindingBytes, inPlace };
    const seen = bindings(gpu, () => {
      if (!inPlace) y = poisoned(gpu, shape, dtype, () => groupNorm(gpu, x, { gamma, beta }, spec));
      else {
        // In place: no output map is allocated, the result is x itself.
        const live = gpu.memory().liveBytes;
        y = groupNorm(gpu, x, { gamma, beta }, spec);
        expect(y).toBe(x);
        expect(gpu.memory().liveBytes).toBe(live);
      }
    });
    if (maxBindingBytes !== undefined) expectSplit(seen, [x, y as Tensor], maxBindingBytes, inPlace ? 2 : 3);
    const got = await gpu.read(y as Tensor);
    // Per (sample, group): mean and rstd, for the bound.
    const stats = new Map<number, { mean: number; rstd: number }>();
    for (let n = 0; n < c.n; n++) {
      for (let g = 0; g < c.groups; g++) {
        let sum = 0;
        let sq = 0;
        const at = (p: number, k: number) => (n * P + p) * C + g * c.perGroup + k;
        for (let p = 0; p < P; p++) for (let k = 0; k < c.perGroup; k++) sum += xv[at(p, k)] as number;
        const mean = sum / (P * c.perGroup);
        for (let p = 0; p < P; p++) for (let k = 0; k < c.perGroup; k++) sq += ((xv[at(p, k)] as number) - mean) ** 2;
        stats.set(n * c.groups + g, { mean, rstd: 1 / Math.sqrt(sq / (P * c.perGroup) + c.eps) });
      }
    }
    for (let i = 0; i < numel; i++) {
      const ch = i % C;
      const n = Math.floor(i / (P * C));
      const { mean, rstd } = stats.get(n * c.groups + Math.floor(ch / c.perGroup)) as { mean: number; rstd: number };
      const zi = z[i] as number;
      const ga = gv ? Math.abs(gv[ch] as number) : 1;
      const w = want[i] as number;
      const tol = ga * (1e-5 * (1 + Math.abs(zi)) + 4 * U * Math.abs(mean) * rstd) + 1e-6 + (dtype === 'f16' ? 2 ** -10 * Math.abs(w) : 0);
      const g0 = got[i] as number;
      if (!(Math.abs(g0 - w) <= tol)) {
        throw new Error(`${dtype} ${JSON.stringify(c)}: element ${i} (channel ${ch}): got ${g0}, want ${w}, tol ${tol}`);
      }
    }
  });
}

const gnCase = (rank: 2 | 3): fc.Arbitrary<GnCase> =>
  fc.record({
    n: fc.integer({ min: 1, max: 3 }),
    sp: fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: rank === 2 ? 23 : 9 })), { minLength: rank, maxLength: rank }),
    groups: fc.oneof(fc.constantFrom(1, 2, 3, 4, 32), fc.integer({ min: 1, max: 8 })),
    perGroup: fc.oneof(fc.constantFrom(1, 3, 4, 7, 10), fc.integer({ min: 1, max: 24 })),
    eps: fc.constantFrom(1e-5, 1e-6),
    affine: fc.boolean(),
    silu: fc.boolean(),
    offset: fc.constantFrom(0, 0, 3, -50),
    spread: fc.constantFrom(2, 0.01, 100),
    seed: fc.integer(),
  });

describe('groupNorm', () => {
  for (const rank of [2, 3] as const) {
    test.prop([gnCase(rank), fc.constantFrom('f32', 'f16') as fc.Arbitrary<DType>, fc.boolean()], { numRuns: RUNS })(
      `${rank}D channels-last maps, any group count, affine and SiLU, f32 and f16 storage, out of place and in place: |err| <= |γ|·(1e-5·(1+|z|) + 4u·|mean|·rstd) + 1e-6 (+ 2⁻¹⁰|y| f16)`,
      async (c, dtype, inPlace) => {
        const gpu = await getGpu();
        if (dtype === 'f16' && !gpu.hasF16) return;
        await checkGroupNorm(gpu, c, dtype, undefined, inPlace);
      },
    );
  }

  test.each([false, true])(
    'many chunks per group, C not a multiple of the 64 lanes, a mean 10⁴ times the spread (naive E[x²]−E[x]² fails); in place: %s',
    async (inPlace) => {
      const gpu = await getGpu();
      // 48×50 positions × 130 channels: 19 chunks of 127 rows per sample (lanes 0..63 then 64..127, 128..129); groups of 13 channels.
      await checkGroupNorm(
        gpu,
        { n: 2, sp: [48, 50], groups: 10, perGroup: 13, eps: 1e-6, affine: true, silu: true, offset: 1e4, spread: 1, seed: 5 },
        'f32',
        undefined,
        inPlace,
      );
    },
  );

  // The main loop's clamped duplicate lanes must not store in place (they would store twice-normalised values).
  test.each([
    [5, 1, 'scalar path, 5 lanes per row: 12 row slots and 4 clamped duplicate lanes'],
    [4, 3, 'vector path, 3 lanes per row: 21 row slots and a duplicate lane'],
    [4, 65, 'vector path, 65 vectors per row: a second block of 1 live and 63 duplicate lanes'],
  ] as const)('in place, %i groups of %i channels (%s): every element normalised once', async (groups, perGroup, _why) => {
    const gpu = await getGpu();
    // 37·29 rows per sample: not a multiple of the row slots, so the tail loop runs too.
    const c: GnCase = { n: 2, sp: [37, 29], groups, perGroup, eps: 1e-6, affine: true, silu: true, offset: 3, spread: 2, seed: perGroup };
    await checkGroupNorm(gpu, c, 'f32', undefined, true);
  });

  test.prop([gnCase(2), fc.constantFrom(2, 3, 7), fc.constantFrom('f32', 'f16') as fc.Arbitrary<DType>, fc.boolean()], {
    numRuns: Math.max(3, Math.ceil(RUNS / 3)),
  })(
    'maps over the binding limit (small, artificial) are split into offset-bound ranges, out of place and in place: every binding within the limit',
    async (c, parts, dtype, inPlace) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      const big = { ...c, sp: c.sp.map((d) => d + 6) };
      const C = big.groups * big.perGroup;
      const es = dtype === 'f32' ? 4 : 2;
      const xBytes = big.n * big.sp[0]! * big.sp[1]! * C * es;
      // At least the launcher's alignment slack plus one chunk of row slots (up to 64 rows).
      const limit = Math.max(Math.ceil(xBytes / parts), 256 + 8 + 64 * C * es);
      const before = gpu.recorder.dispatches;
      await checkGroupNorm(gpu, big, dtype, limit, inPlace);
      expect(gpu.recorder.dispatches - before).toBeGreaterThanOrEqual(3);
    },
  );

  test.each([
    ['f32', false],
    ['f16', false],
    ['f32', true],
    ['f16', true],
  ] as const)(
    'a VAE-like map (128 channels: 4-channel vector path) split over the binding limit (%s, in place: %s)',
    async (dtype, inPlace) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      const c: GnCase = {
        n: 2,
        sp: [30, 31],
        groups: 32,
        perGroup: 4,
        eps: 1e-6,
        affine: true,
        silu: true,
        offset: 0.5,
        spread: 3,
        seed: 77,
      };
      const es = dtype === 'f32' ? 4 : 2;
      await checkGroupNorm(gpu, c, dtype, Math.ceil((30 * 31 * 128 * es) / 3), inPlace);
    },
  );

  test('a sample gives bitwise the same result alone and in a batch (chunking depends on the sample only)', async () => {
    const gpu = await getGpu();
    const shape = [1, 9, 13, 96];
    const n = 9 * 13 * 96;
    const a = values(n, 3, 'f32', 2, 1);
    const b = values(n, 4, 'f32', 5, -2);
    const pair = new Float32Array(2 * n);
    pair.set(a);
    pair.set(b, n);
    await gpu.scopeAsync(async () => {
      const run = (v: Float32Array, batch: number) =>
        gpu.read(groupNorm(gpu, gpu.upload(v, [batch, ...shape.slice(1)]), {}, { groups: 32, silu: true }));
      const [ya, yb, both] = [await run(a, 1), await run(b, 1), await run(pair, 2)];
      expect(both.subarray(0, n)).toEqual(ya);
      expect(both.subarray(n)).toEqual(yb);
    });
  });

  test('bad arguments give ShapeErrors naming the tensors', async () => {
    const gpu = await getGpu();
    gpu.scope(() => {
      const x = gpu.zeros([1, 4, 4, 12]);
      expect(() => groupNorm(gpu, x, {}, { groups: 5 })).toThrow(/5 groups do not divide the 12 channels of x \[1, 4, 4, 12\]/);
      expect(() => groupNorm(gpu, x, { gamma: gpu.zeros([6]), beta: gpu.zeros([6]) }, { groups: 3 })).toThrow(
        /gamma \[6\] f32 must hold 12/,
      );
      expect(() => groupNorm(gpu, x, { gamma: gpu.zeros([12]) }, { groups: 3 })).toThrow(/both gamma and beta/);
      expect(() => groupNorm(gpu, gpu.zeros([12]), {}, { groups: 3 })).toThrow(/must be \[N, \.\.\.spatial, C\]/);
    });
  });
});

interface LnCase {
  rows: number[];
  D: number;
  eps: number;
  affine: boolean;
  offset: number;
  seed: number;
}

/** Layer norm bound: two-pass statistics in f32 over D values (the mean shifted by the first value): |err| <= |γ|·(D·u·8·(1+|z|) + 4u·|mean|·rstd) + 1e-6 (+ 2⁻¹⁰|y| f16). */
async function checkLayerNorm(gpu: Gpu, c: LnCase, dtype: DType, maxBindingBytes?: number, impl: LayerNormPath = 'row') {
  const shape = [...c.rows, c.D];
  const numel = shape.reduce((a, b) => a * b, 1);
  const xv = values(numel, c.seed, dtype, 2, c.offset);
  const gv = c.affine ? values(c.D, c.seed ^ 0x51ed27, dtype, 1.5) : undefined;
  const bv = c.affine ? values(c.D, c.seed ^ 0x2545f49, dtype, 1) : undefined;
  const want = layerNormRef(xv, c.D, c.eps, { gamma: gv, beta: bv });
  const z = layerNormRef(xv, c.D, c.eps);
  await gpu.scopeAsync(async () => {
    const x = gpu.upload(xv, shape, dtype);
    const gamma = gv && gpu.upload(gv, [c.D], dtype);
    const beta = bv && gpu.upload(bv, [c.D], dtype);
    let y: Tensor | undefined;
    const seen = bindings(gpu, () => {
      y = poisoned(gpu, shape, dtype, () => layerNorm(gpu, x, { gamma, beta }, { eps: c.eps, maxBindingBytes, impl }));
    });
    if (maxBindingBytes !== undefined) expectSplit(seen, [x, y as Tensor], maxBindingBytes);
    const got = await gpu.read(y as Tensor);
    const rows = numel / c.D;
    const means = new Float64Array(rows);
    const rstds = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      let sq = 0;
      for (let k = 0; k < c.D; k++) sum += xv[r * c.D + k] as number;
      means[r] = sum / c.D;
      for (let k = 0; k < c.D; k++) sq += ((xv[r * c.D + k] as number) - (means[r] as number)) ** 2;
      rstds[r] = 1 / Math.sqrt(sq / c.D + c.eps);
    }
    for (let i = 0; i < numel; i++) {
      const r = Math.floor(i / c.D);
      const mean = means[r] as number;
      const rstd = rstds[r] as number;
      const zi = z[i] as number;
      const ga = gv ? Math.abs(gv[i % c.D] as number) : 1;
      const w = want[i] as number;
      const tol =
        ga * (8 * c.D * U * (1 + Math.abs(zi)) + 4 * U * Math.abs(mean) * rstd) + 1e-6 + (dtype === 'f16' ? 2 ** -10 * Math.abs(w) : 0);
      if (!(Math.abs((got[i] as number) - w) <= tol))
        throw new Error(`${dtype} ${JSON.stringify(c)}: element ${i}: got ${got[i]}, want ${w}, tol ${tol}`);
    }
  });
}

const lnCase: fc.Arbitrary<LnCase> = fc.record({
  rows: fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 80 })), { minLength: 0, maxLength: 2 }),
  D: fc.oneof(fc.constantFrom(1, 2, 7, 64, 320, 768, 1280), fc.integer({ min: 1, max: 300 })),
  eps: fc.constantFrom(1e-5, 1e-6),
  affine: fc.boolean(),
  offset: fc.constantFrom(0, 0, 5, -1000),
  seed: fc.integer(),
});

describe('layerNorm', () => {
  test.prop([lnCase, fc.constantFrom('f32', 'f16') as fc.Arbitrary<DType>, fc.constantFrom<LayerNormPath>('row', 'workgroup')], {
    numRuns: RUNS,
  })(
    'last axis, affine or not, f32 and f16 storage, both paths: |err| <= |γ|·(8·D·u·(1+|z|) + 4u·|mean|·rstd) + 1e-6 (+ 2⁻¹⁰|y| f16)',
    async (c, dtype, impl) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      await checkLayerNorm(gpu, c, dtype, undefined, impl);
    },
  );

  test.each(['row', 'workgroup'] as const)(
    'rows led by an outlier (the shifted one-pass variance would cancel) take the exact second pass (%s path)',
    async (impl) => {
      const gpu = await getGpu();
      const D = 300;
      const rows = 70;
      const xv = values(rows * D, 17, 'f32', 2);
      for (let r = 0; r < rows; r++) xv[r * D] = r % 2 ? 3000 : -1e4;
      const want = layerNormRef(xv, D, 1e-5);
      await gpu.scopeAsync(async () => {
        const x = gpu.upload(xv, [rows, D]);
        const got = await gpu.read(poisoned(gpu, [rows, D], 'f32', () => layerNorm(gpu, x, {}, { impl })));
        // |z| <= sqrt(D) here; the statistics are exact to a few D·u, the mean is O(100) with rstd O(0.02).
        for (let i = 0; i < got.length; i++)
          expect(Math.abs((got[i] as number) - (want[i] as number))).toBeLessThanOrEqual(8 * D * U * 20 + 1e-6);
      });
    },
  );

  test('rows over the binding limit (small, artificial) are split into offset-bound ranges', async () => {
    const gpu = await getGpu();
    const before = gpu.recorder.dispatches;
    await checkLayerNorm(gpu, { rows: [3, 77], D: 77, eps: 1e-5, affine: true, offset: 1, seed: 9 }, 'f32', 8192);
    expect(gpu.recorder.dispatches - before).toBeGreaterThan(4);
    await checkLayerNorm(gpu, { rows: [3, 77], D: 77, eps: 1e-5, affine: true, offset: 1, seed: 9 }, 'f32', 8192, 'workgroup');
  });

  test('gamma of the wrong size is a ShapeError naming it', async () => {
    const gpu = await getGpu();
    gpu.scope(() => {
      const x = gpu.zeros([2, 5, 8]);
      expect(() => layerNorm(gpu, x, { gamma: gpu.zeros([5]), beta: gpu.zeros([5]) })).toThrow(/gamma \[5\] f32 must hold 8/);
    });
  });
});
