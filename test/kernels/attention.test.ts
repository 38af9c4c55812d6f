import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type AttentionSpec, attention, attentionPath, headDimPlan } from '../../src/kernels/attention.js';
import { attentionRef } from '../../src/kernels/reference/attention.js';
import { type DType, roundToF16 } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { bindings } from '../helpers/bindings.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);
const U = 2 ** -24;

/** Deterministic values in [-spread, spread] (integers when `ints`), rounded to the storage dtype. */
const values = (n: number, seed: number, dtype: DType, spread = 1.5, ints = false) => {
  let s = seed >>> 0 || 1;
  const v = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s / 2 ** 32) * 2 - 1;
    return ints ? Math.round(u * spread) : u * spread;
  });
  return dtype === 'f16' ? roundToF16(v) : v;
};

interface Case {
  B: number;
  Nq: number;
  Nk: number;
  H: number;
  d: number;
  causal: boolean;
  scale?: number;
  seed: number;
}

/**
 * Error bound per output element of query (b, i, h). Each probability carries a relative error
 * ε = 2·(d + 8)·u·S + 16u, where S = |scale|·max_j Σ_c|q_c·k_jc| bounds the score's terms (the f32 dot
 * product, the scaling into base 2 and exp2's own error); a weighted mean of V with weights off by ε is off
 * by at most 2ε·max|v|. The running sums add 2·(Nk + 16)·u·max|v| (one rounding per key, one per block
 * rescale, the final division). f16 storage adds the output rounding 2⁻¹⁰·|o|. `tight` replaces S-based
 * dot-product error by 0 when the inputs make every score exact (small integers), leaving 4u·S for the
 * base-2 scaling.
 */
function bound(c: Case, r: ReturnType<typeof attentionRef>, idx: number, o: number, dtype: DType, tight: boolean): number {
  const row = Math.floor(idx / c.d);
  const b = Math.floor(row / (c.Nq * c.H));
  const rest = row % (c.Nq * c.H);
  const i = Math.floor(rest / c.H);
  const h = rest % c.H;
  const q = (b * c.Nq + i) * c.H + h;
  const S = r.scoreAbs[q] as number;
  const eps = (tight ? 4 * U * S : 2 * (c.d + 8) * U * S) + 16 * U;
  return (r.vAbs[q] as number) * (2 * eps + 2 * (c.Nk + 16) * U) + (dtype === 'f16' ? 2 ** -10 * Math.abs(o) : 0) + 1e-30;
}

async function check(gpu: Gpu, c: Case, dtype: DType, extra: AttentionSpec = {}, opts: { ints?: number } = {}) {
  const qShape = [c.B, c.Nq, c.H, c.d];
  const kShape = [c.B, c.Nk, c.H, c.d];
  const nq = c.B * c.Nq * c.H * c.d;
  const nk = c.B * c.Nk * c.H * c.d;
  const ints = opts.ints !== undefined;
  const qv = values(nq, c.seed, dtype, opts.ints ?? 1.5, ints);
  const kv = values(nk, c.seed ^ 0x9e3779b9, dtype, opts.ints ?? 1.5, ints);
  const vv = values(nk, c.seed ^ 0x85ebca6b, dtype, 1);
  const want = attentionRef(qv, kv, vv, { ...c });
  await gpu.scopeAsync(async () => {
    const q = gpu.upload(qv, qShape, dtype);
    const k = gpu.upload(kv, kShape, dtype);
    const v = gpu.upload(vv, kShape, dtype);
    let y: Tensor | undefined;
    const seen = bindings(gpu, () => {
      y = gpu.scope(() => {
        const out = gpu.empty(qShape, dtype);
        gpu.poison(out);
        out.release();
        return attention(gpu, { q, k, v }, { causal: c.causal, scale: c.scale, ...extra });
      });
    });
    if (extra.maxBindingBytes !== undefined) {
      const mine = new Set([q.buffer, k.buffer, v.buffer, (y as Tensor).buffer]);
      const ranges = seen.filter((s) => mine.has(s.buffer));
      expect(ranges.length).toBeGreaterThan(4);
      for (const s of ranges) expect(s.size).toBeLessThanOrEqual(extra.maxBindingBytes);
    }
    expect((y as Tensor).shape).toEqual(qShape);
    const got = await gpu.read(y as Tensor);
    for (let i = 0; i < got.length; i++) {
      const w = want.y[i] as number;
      const tol = bound(c, want, i, w, dtype, ints);
      if (!(Math.abs((got[i] as number) - w) <= tol)) {
        throw new Error(`${dtype} ${JSON.stringify(c)} ${JSON.stringify(extra)}: element ${i}: got ${got[i]}, want ${w}, tol ${tol}`);
      }
    }
  });
}

const tokens = fc.oneof(fc.constant(1), fc.constantFrom(2, 7, 31, 33, 77), fc.integer({ min: 1, max: 90 }));
const caseArb = (d: fc.Arbitrary<number>): fc.Arbitrary<Case> =>
  fc.record({
    B: fc.integer({ min: 1, max: 2 }),
    Nq: tokens,
    Nk: tokens,
    H: fc.integer({ min: 1, max: 3 }),
    d,
    causal: fc.boolean(),
    seed: fc.integer(),
  });
/** Head dims 8–160 (SD's 40/80/160, SD2/CLIP's 64, and sizes in between that round up to a bucket). */
const headDim = fc.oneof(fc.constantFrom(8, 40, 64, 80, 160), fc.integer({ min: 8, max: 160 }));

describe('attention', () => {
  test('this adapter takes the subgroup kernel unless told otherwise (so both kernels are tested here)', async () => {
    const gpu = await getGpu();
    expect(attentionPath(gpu, { impl: 'portable' })).toBe('portable');
    if (gpu.hasSubgroups && gpu.info.subgroupMinSize === gpu.info.subgroupMaxSize) expect(attentionPath(gpu)).toBe('subgroup');
    // Head dims map to four pipelines per dtype: 40, 64 and 80 channels in registers, then 40-channel chunks.
    expect([8, 40, 41, 64, 65, 80, 81, 160, 512].map((d) => headDimPlan(d))).toEqual([
      { cols: 40, chunks: 1 },
      { cols: 40, chunks: 1 },
      { cols: 64, chunks: 1 },
      { cols: 64, chunks: 1 },
      { cols: 80, chunks: 1 },
      { cols: 80, chunks: 1 },
      { cols: 40, chunks: 3 },
      { cols: 40, chunks: 4 },
      { cols: 40, chunks: 13 },
    ]);
  });

  test.prop([caseArb(headDim)], { numRuns: RUNS })(
    'f32, self and cross (Nk ≠ Nq), causal or not, multi-head: |err| <= 2ε·max|v| + 2(Nk+16)u·max|v|, ε = 2(d+8)u·S + 16u',
    async (c) => {
      const gpu = await getGpu();
      await check(gpu, c, 'f32');
    },
  );

  test.prop([caseArb(headDim)], { numRuns: Math.ceil(RUNS / 2) })('portable kernel (no subgroups): same bound', async (c) => {
    const gpu = await getGpu();
    await check(gpu, c, 'f32', { impl: 'portable' });
  });

  test.prop([caseArb(fc.oneof(fc.constantFrom(8, 40), fc.integer({ min: 8, max: 40 })))], { numRuns: Math.ceil(RUNS / 2) })(
    // f16 differs from f32 only in the loads and the final store, the same code for every head dim: one
    // bucket (d <= 40) keeps the compile count down.
    'f16 storage, f32 math (upcast_attention): same bound plus 2⁻¹⁰·|o| output rounding',
    async (c) => {
      const gpu = await getGpu();
      if (!gpu.hasF16) return;
      await check(gpu, c, 'f16');
    },
  );

  test.each([
    ['subgroup', 'f32'],
    ['portable', 'f32'],
    ['subgroup', 'f16'],
  ] as const)(
    'logits up to ±3000 (exp overflows a naive softmax), exact integer scores (%s, %s): tight bound 8u·S',
    async (impl, dtype) => {
      const gpu = await getGpu();
      if (dtype === 'f16' && !gpu.hasF16) return;
      // q, k integers in [-9, 9], scale 1, d 40: scores are exact integers up to ~3000.
      await check(gpu, { B: 1, Nq: 45, Nk: 70, H: 2, d: 40, causal: false, scale: 1, seed: 3 }, dtype, { impl }, { ints: 9 });
      await check(gpu, { B: 1, Nq: 45, Nk: 70, H: 2, d: 40, causal: true, scale: 1, seed: 4 }, dtype, { impl }, { ints: 9 });
    },
  );

  test('CLIP text encoder shape: [1, 77, 12, 64] causal', async () => {
    const gpu = await getGpu();
    await check(gpu, { B: 1, Nq: 77, Nk: 77, H: 12, d: 64, causal: true, seed: 11 }, 'f32');
  });

  test('single head, d = 512 (VAE / MedVAE mid-block) and 333 in 40-channel chunks, tokens not a multiple of the tiles', async () => {
    const gpu = await getGpu();
    await check(gpu, { B: 1, Nq: 100, Nk: 100, H: 1, d: 512, causal: false, seed: 12 }, 'f32');
    await check(gpu, { B: 2, Nq: 37, Nk: 70, H: 1, d: 333, causal: true, seed: 13 }, 'f32');
    await check(gpu, { B: 2, Nq: 37, Nk: 70, H: 1, d: 333, causal: false, seed: 14 }, 'f32', { impl: 'portable' });
  });

  test.prop([caseArb(fc.constantFrom(40, 64)), fc.constantFrom(2, 3, 5)], { numRuns: Math.max(3, Math.ceil(RUNS / 3)) })(
    'inputs over the binding limit (small, artificial) are split by batch and by query ranges: every binding within the limit',
    async (c, parts) => {
      const gpu = await getGpu();
      const big = { ...c, B: c.B + 1, Nq: c.Nq + 40 };
      const row = big.H * big.d * 4;
      // K/V of one batch item must fit; Q is cut into `parts` pieces at most.
      const limit = Math.max(big.Nk * row, Math.ceil((big.Nq * row) / parts), 32 * row) + 256 + 8;
      await check(gpu, big, 'f32', { maxBindingBytes: limit });
    },
  );

  test('chunked head dims split too: the f32 scratch is planned within the limit', async () => {
    const gpu = await getGpu();
    const c = { B: 2, Nq: 70, Nk: 20, H: 1, d: 200, causal: false, seed: 15 };
    await check(gpu, c, 'f32', { maxBindingBytes: 32 * 200 * 4 + 256 + 8 });
  });

  test('Nq = Nk = 16384, d = 64: peak pool memory is the output alone, far below an N×N f32 score matrix (1 GiB)', async () => {
    const gpu = await getGpu();
    const N = 16384;
    const d = 64;
    const qv = values(N * d, 21, 'f32');
    const kv = values(N * d, 22, 'f32');
    const vv = values(N * d, 23, 'f32', 1);
    await gpu.scopeAsync(async () => {
      const q = gpu.upload(qv, [1, N, 1, d]);
      const k = gpu.upload(kv, [1, N, 1, d]);
      const v = gpu.upload(vv, [1, N, 1, d]);
      await gpu.sync();
      gpu.pool.resetPeak();
      const live = gpu.memory().liveBytes;
      const y = attention(gpu, { q, k, v });
      const got = await gpu.read(y);
      const extra = gpu.memory().peakLiveBytes - live;
      expect(extra).toBeLessThan(N * N * 4);
      // O(N·d): nothing beyond the output itself (its pool size class is at most 25% larger).
      expect(extra).toBeLessThanOrEqual(1.25 * N * d * 4);
      // Spot-check rows against the reference (one query at a time, the full reference is O(N²·d)).
      for (const i of [0, 4097, N - 1]) {
        const one = attentionRef(qv.subarray(i * d, (i + 1) * d), kv, vv, { B: 1, Nq: 1, Nk: N, H: 1, d });
        for (let c = 0; c < d; c++) {
          const tol = bound({ B: 1, Nq: 1, Nk: N, H: 1, d, causal: false, seed: 0 }, one, c, 0, 'f32', false);
          expect(Math.abs((got[i * d + c] as number) - (one.y[c] as number))).toBeLessThanOrEqual(tol);
        }
      }
    });
  });

  test('bad shapes give ShapeErrors naming the tensors', async () => {
    const gpu = await getGpu();
    gpu.scope(() => {
      const q = gpu.zeros([1, 4, 2, 8]);
      expect(() => attention(gpu, { q, k: gpu.zeros([1, 5, 2, 9]), v: gpu.zeros([1, 5, 2, 9]) })).toThrow(
        /K \[1, 5, 2, 9\].*K must be \[1, Nk, 2, 8\]/,
      );
      expect(() => attention(gpu, { q, k: gpu.zeros([1, 5, 2, 8]), v: gpu.zeros([1, 6, 2, 8]) })).toThrow(/V must have K's shape/);
      expect(() => attention(gpu, { q: gpu.zeros([4, 16]), k: q, v: q })).toThrow(/expected Q \[B, Nq, H, d\]/);
      expect(() => attention(gpu, { q, k: gpu.zeros([1, 0, 2, 8]), v: gpu.zeros([1, 0, 2, 8]) })).toThrow(/no keys/);
    });
  });
});
