import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { type ConvSpec, conv, convGeometry, convPath, planChunks, prepareConvWeight, subgroupBlock } from '../../src/kernels/conv.js';
import { convRef } from '../../src/kernels/reference/conv.js';
import { roundToF16, toF16Array } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { getGpu } from '../helpers/gpu.js';

const RUNS = Number(process.env.FC_RUNS ?? 12);

const values = (n: number, seed: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
};
const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

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

// Channel counts around the kernel's 8-channel chunks and 4-channel vec4s (1, primes, non-multiples).
const chan = fc.oneof(fc.constantFrom(1, 3, 4, 7, 8, 13), fc.integer({ min: 1, max: 40 }));
const caseArb = (rank: 2 | 3): fc.Arbitrary<Case> =>
  fc.record({
    rank: fc.constant(rank),
    n: fc.integer({ min: 1, max: 2 }),
    sp: fc.array(fc.integer({ min: 1, max: rank === 2 ? 11 : 6 }), { minLength: rank, maxLength: rank }),
    cin: chan,
    cout: fc.oneof(chan, fc.constantFrom(32, 33, 64, 70)),
    k: fc.constantFrom(1, 3),
    stride: fc.constantFrom(1, 2),
    pad: fc.constantFrom('none', 'same', 'end') as fc.Arbitrary<Case['pad']>,
    bias: fc.boolean(),
    residual: fc.boolean(),
    scale: fc.constantFrom(1, 0.5, 1 / 1.41),
    seed: fc.integer(),
  });

const paddingOf = (c: Case) =>
  Array.from({ length: c.rank }, () =>
    c.pad === 'none' ? ([0, 0] as const) : c.pad === 'same' ? ([(c.k - 1) / 2, (c.k - 1) / 2] as const) : ([0, 1] as const),
  );

const U32 = 2 ** -24;

/**
 * The error bound of an f32-accumulated conv: K products (exact for f16 inputs; one rounding each for f32)
 * summed with at most K + 2 roundings (bias, residual) in any order is off by <= (K + 3)·u·Σ|terms|
 * (Higham, recursive summation), then scaled (one more rounding, u·|y|); f16 storage rounds once more by
 * 2^-11·|y|, or half an f16 subnormal step for tiny values.
 */
function convBound(want: { data: Float64Array; absSum: Float64Array; k: number }, scale: number, dtype: 'f32' | 'f16') {
  const out = dtype === 'f32' ? 2 * U32 : 2 ** -11 + U32;
  const sub = dtype === 'f32' ? 0 : 2 ** -25;
  return Float64Array.from(want.data, (y, i) => (want.k + 3) * U32 * want.absSum[i]! * Math.abs(scale) + out * Math.abs(y) + sub);
}

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>, what: string) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bound[i]!)) throw new Error(`${what}: element ${i}: got ${got[i]}, want ${want[i]} (|err| ${err} > bound ${bound[i]})`);
  }
}

/** Runs one case on the GPU (poisoned output) and compares with the float64 reference. */
async function check(gpu: Gpu, c: Case, dtype: 'f32' | 'f16', extra: ConvSpec = {}) {
  const padding = paddingOf(c);
  // A kernel larger than the padded input gives no output: skip those (they are an error, tested below).
  if (c.sp.some((d, i) => d + padding[i]![0] + padding[i]![1] < c.k)) return;
  const xShape = [c.n, ...c.sp, c.cin];
  const wShape = [c.cout, c.cin, ...Array(c.rank).fill(c.k)];
  const round = (v: Float32Array) => (dtype === 'f16' ? roundToF16(v) : v);
  const xv = round(values(prod(xShape), c.seed));
  const wv = round(values(prod(wShape), c.seed ^ 0x9e3779b9));
  const bv = round(values(c.cout, c.seed ^ 0x85ebca6b));
  const spec: ConvSpec = { stride: c.stride, padding, scale: c.scale, ...extra };
  const stride = Array(c.rank).fill(c.stride);
  const outShape = convGeometry(xShape, c.cin, c.cout, wShape.slice(2), spec).outShape;
  const rv = round(values(prod(outShape), c.seed ^ 0x27d4eb2f));
  const want = convRef({
    x: xv,
    xShape,
    w: wv,
    wShape,
    bias: c.bias ? bv : undefined,
    residual: c.residual ? rv : undefined,
    stride,
    padding,
    scale: c.scale,
  });
  await gpu.scopeAsync(async () => {
    const x = gpu.upload(xv, xShape, dtype);
    // f16 weights also go in as raw bits, the way an F16 checkpoint hands them over.
    const w = prepareConvWeight(gpu, dtype === 'f16' ? toF16Array(wv) : wv, wShape, dtype);
    const bias = c.bias ? gpu.upload(bv, [c.cout], dtype) : undefined;
    const residual = c.residual ? gpu.upload(rv, want.shape, dtype) : undefined;
    const y = gpu.scope(() => {
      const out = gpu.empty(want.shape, dtype);
      gpu.poison(out);
      out.release();
      return conv(gpu, x, w, { bias, residual }, spec);
    });
    expect(y.shape).toEqual(want.shape);
    expectWithin(await gpu.read(y), want.data, convBound(want, c.scale, dtype), `${dtype} ${JSON.stringify(c)} ${JSON.stringify(extra)}`);
  });
}

const dtypeArb = fc.constantFrom('f32', 'f16') as fc.Arbitrary<'f32' | 'f16'>;

describe('conv', () => {
  for (const impl of ['auto', 'portable', 'tiled'] as const) {
    for (const rank of [2, 3] as const) {
      test.prop([caseArb(rank), dtypeArb], { numRuns: RUNS })(
        `conv${rank}d (${impl}) matches the float64 reference within (K+3)·2^-24·Σ|terms| + output rounding`,
        async (c, dtype) => {
          const gpu = await getGpu();
          if (dtype === 'f16' && !gpu.hasF16) return;
          await check(gpu, c, dtype, { impl });
        },
      );
    }
  }

  // The subgroup kernel's big block (64 pixels × 2 vec4s per lane) is what large convs get on lavapipe; the
  // random shapes above are small and get the 16 × 1 block. Both dtypes: each is its own pipeline, and a cold
  // compile of one takes 1–3 minutes on lavapipe (66 s on a quiet machine), hence the time limit.
  test.prop([fc.oneof(caseArb(2), caseArb(3)), dtypeArb], { numRuns: RUNS })(
    'the subgroup kernel with the big block (rows 64, cols 2) matches the float64 reference',
    async (c, dtype) => {
      const gpu = await getGpu();
      if (convPath(gpu) !== 'subgroup' || (dtype === 'f16' && !gpu.hasF16)) return;
      await check(gpu, c, dtype, { rows: 64, cols: 2 });
    },
    900_000,
  );

  test('the big block goes to real-size convs only (its compile is minutes on lavapipe)', () => {
    const block = (x: number[], cin: number, cout: number, k: number[]) => subgroupBlock(convGeometry(x, cin, cout, k, { padding: 1 }));
    expect(block([2, 64, 64, 320], 320, 320, [3, 3])).toEqual({ rows: 64, cols: 2 }); // SD1.5 UNet at 512²
    expect(block([2, 8, 8, 1280], 1280, 1280, [3, 3])).toEqual({ rows: 64, cols: 2 });
    expect(block([1, 64, 64, 64, 128], 128, 128, [3, 3, 3])).toEqual({ rows: 64, cols: 2 }); // MedVAE-3D
    expect(block([2, 4, 4, 1280], 1280, 1280, [3, 3])).toEqual({ rows: 16, cols: 1 }); // 32 pixels
    expect(block([2, 16, 16, 32], 32, 32, [3, 3])).toEqual({ rows: 16, cols: 1 }); // the fixture UNets
    expect(block([1, 32, 32, 64], 64, 64, [3, 3])).toEqual({ rows: 16, cols: 1 });
    expect(block([1, 512, 512, 128], 128, 3, [3, 3])).toEqual({ rows: 16, cols: 1 }); // the VAE's conv_out
  });

  test.prop([caseArb(2), caseArb(3), fc.constantFrom(2, 3, 5)], { numRuns: Math.max(3, Math.ceil(RUNS / 3)) })(
    'splits work into offset-bound ranges when inputs/outputs exceed a (small, artificial) binding limit',
    async (c2, c3, parts) => {
      const gpu = await getGpu();
      // The limit is a fraction of the input's bytes, but at least one output line and the input rows it
      // reads, plus the slack the launcher reserves for aligning offsets (256 + 16 bytes here).
      const limitFor = (c: Case) => {
        const plane = c.rank === 3 ? c.sp[1]! * c.sp[2]! : c.sp[c.rank - 1]!;
        const xBytes = 4 * c.n * prod(c.sp) * c.cin;
        const line = 4 * (c.rank === 3 ? 3 : 1) * (3 * plane * c.cin + c.sp[c.rank - 1]! * (c.cout + 3));
        return Math.max(Math.ceil(xBytes / parts), line + 2 * Number(gpu.limits.minStorageBufferOffsetAlignment) + 64);
      };
      const big2 = { ...c2, sp: c2.sp.map((d) => d + 8), cin: c2.cin + 8 };
      const before = gpu.recorder.dispatches;
      await check(gpu, big2, 'f32', { maxBindingBytes: limitFor(big2) });
      expect(gpu.recorder.dispatches - before).toBeGreaterThan(1);
      const big3 = { ...c3, sp: c3.sp.map((d) => d + 3) };
      await check(gpu, big3, 'f32', { maxBindingBytes: limitFor(big3), impl: 'portable' });
      await check(gpu, big2, 'f32', { maxBindingBytes: limitFor(big2), impl: 'tiled' });
    },
  );

  test('SD-like 3x3 320->320 at 16x16 (residual, scale) and the VAE downsampler (stride 2, pad end)', async () => {
    const gpu = await getGpu();
    const base = { rank: 2, n: 2, bias: true, residual: true, scale: 1 / 1.41, seed: 7 } as const;
    await check(gpu, { ...base, sp: [16, 16], cin: 320, cout: 320, k: 3, stride: 1, pad: 'same' }, 'f32');
    if (gpu.hasF16) await check(gpu, { ...base, sp: [9, 7], cin: 320, cout: 68, k: 3, stride: 1, pad: 'same' }, 'f16');
    await check(gpu, { ...base, sp: [17, 16], cin: 24, cout: 24, k: 3, stride: 2, pad: 'end' }, 'f32');
    // The tiled (hardware-adapter) kernel at a real width, and with Cin and Cout off its 16-channel tiles.
    await check(gpu, { ...base, sp: [16, 16], cin: 320, cout: 320, k: 3, stride: 1, pad: 'same' }, 'f32', { impl: 'tiled' });
    await check(gpu, { ...base, sp: [9, 7], cin: 40, cout: 68, k: 3, stride: 2, pad: 'end' }, 'f32', { impl: 'tiled' });
  });

  test('an input over the real maxStorageBufferBindingSize (1x520x512x128 f32, 136 MB) is split, not refused', async () => {
    const gpu = await getGpu();
    const [H, W, C, CO] = [520, 512, 128, 4];
    const xBytes = H * W * C * 4;
    expect(xBytes).toBeGreaterThan(Number(gpu.limits.maxStorageBufferBindingSize));
    // Integer-valued data keeps every partial sum exact in f32, so the comparison is exact.
    const xv = new Float32Array(H * W * C);
    for (let i = 0; i < xv.length; i++) xv[i] = ((i * 7) % 5) - 2;
    const wShape = [CO, C, 3, 3];
    const wv = Float32Array.from({ length: prod(wShape) }, (_, i) => ((i * 3) % 7) - 3);
    await gpu.scopeAsync(async () => {
      const x = gpu.upload(xv, [1, H, W, C]);
      const w = prepareConvWeight(gpu, wv, wShape);
      const before = gpu.recorder.dispatches;
      const y = conv(gpu, x, w, {}, { padding: 1 });
      expect(gpu.recorder.dispatches - before).toBeGreaterThan(1);
      const got = await gpu.read(y);
      // Check the pixels at every chunk edge the planner made, and a spread of others.
      const g = convGeometry([1, H, W, C], C, CO, [3, 3], { padding: 1 });
      const limit = Number(gpu.limits.maxStorageBufferBindingSize) - Number(gpu.limits.minStorageBufferOffsetAlignment) - 16;
      const edges = planChunks(g, CO, 4, limit).flatMap((c) => [c.mStart, c.mStart + c.mCount - 1]);
      const pixels = [...edges, ...Array.from({ length: 64 }, (_, i) => Math.floor((i * 4099.7) % (H * W)))];
      for (const m of pixels) {
        const [oy, ox] = [Math.floor(m / W), m % W];
        for (let co = 0; co < CO; co++) {
          let s = 0;
          for (let ty = 0; ty < 3; ty++)
            for (let tx = 0; tx < 3; tx++) {
              const [iy, ix] = [oy - 1 + ty, ox - 1 + tx];
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (let ci = 0; ci < C; ci++) s += xv[(iy * W + ix) * C + ci]! * wv[((co * C + ci) * 3 + ty) * 3 + tx]!;
            }
          expect(got[m * CO + co], `pixel ${m} channel ${co}`).toBe(s);
        }
      }
    });
  }, 120_000);

  test('the auto path on this adapter and bad arguments give typed errors naming the tensors', async () => {
    const gpu = await getGpu();
    if (gpu.hasSubgroups && gpu.info.subgroupMinSize === 8 && gpu.info.subgroupMaxSize === 8) expect(convPath(gpu)).toBe('subgroup');
    await gpu.scopeAsync(async () => {
      const w = prepareConvWeight(gpu, new Float32Array(4 * 3 * 9), [4, 3, 3, 3]);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 2]), w)).toThrow(/has 2 channels, the weight expects 3/);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 5, 3]), w)).toThrow(/\[N, H, W, Cin\]/);
      expect(() => conv(gpu, gpu.zeros([1, 2, 2, 3]), w)).toThrow(/gives no output/);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 3]), w, {}, { stride: 0 })).toThrow(/stride/);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 3]), w, { bias: gpu.zeros([5]) })).toThrow(/bias \[5\]/);
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 3]), w, { residual: gpu.zeros([1, 5, 5, 4]) }, { padding: 1 })).not.toThrow();
      expect(() => conv(gpu, gpu.zeros([1, 5, 5, 3]), w, { residual: gpu.zeros([1, 3, 3, 5]) })).toThrow(/residual \[1, 3, 3, 5\]/);
      expect(() => prepareConvWeight(gpu, new Float32Array(5), [4, 3, 3, 3])).toThrow(/\[4, 3, 3, 3\]/);
      expect(() => prepareConvWeight(gpu, new Float32Array(5), [4, 3, 3])).toThrow(/must be \[Cout, Cin, kh, kw\]/);
    });
  });
});
