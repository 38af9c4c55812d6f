/**
 * SSIM and MS-SSIM against values computed independently in Python (test/fixtures/quality/make_reference.py:
 * scikit-image 0.19 `structural_similarity` for SSIM, a numpy implementation of pytorch_msssim v1.0's `ms_ssim`
 * conventions for MS-SSIM), to 1e-7 absolute (the planes are float32, the reference float64: the observed error is ~1e-8); then properties
 * over random sizes (11 — the window —, primes, odd sides that pad at every scale) and values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { decodePng } from '../../src/io/png.js';
import { ssim as medvaeSsim } from '../../src/pipeline/medvae/metrics.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { downsample2x, msSsim, msSsimScalesThatFit } from '../../src/quality/ms-ssim.js';
import { type Plane, makePlane, resizeArea, toPlane } from '../../src/quality/plane.js';
import { ssimAndCs, ssimPlanes } from '../../src/quality/ssim.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const dir = join(import.meta.dirname, '../fixtures/quality');
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  ssim: { a: string; b: string; data_range: number; ssim: number; cs: number }[];
  ms_ssim: { a: string; b: string; data_range: number; ms_ssim: number; scales: number }[];
};
const plane = (name: string) => toPlane(decodePng(readFileSync(join(dir, name)), name));
const scaled = (p: Plane, k: number) =>
  makePlane(
    p.width,
    p.height,
    p.data.map((v) => v * k),
  );

/** A deterministic random plane: a smooth field (sum of bumps) plus uniform noise of amplitude `noise`. */
function randomPlane(w: number, h: number, seed: number, noise = 0.1): Plane {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const bumps = Array.from({ length: 4 }, () => ({ x: rnd() * w, y: rnd() * h, r: 2 + rnd() * Math.max(w, h) * 0.3, a: rnd() }));
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0.2;
      for (const b of bumps) v += 0.5 * b.a * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
      data[y * w + x] = Math.min(1, Math.max(0, v + noise * (rnd() - 0.5)));
    }
  }
  return makePlane(w, h, data);
}

function noiseOf(w: number, h: number, seed: number): Float32Array {
  let s = seed >>> 0 || 7;
  return Float32Array.from({ length: w * h }, () => {
    s = (Math.imul(s, 22695477) + 1) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

const plus = (p: Plane, n: Float32Array, t: number) =>
  makePlane(
    p.width,
    p.height,
    p.data.map((v, i) => v + t * (n[i] as number)),
  );

describe('SSIM against scikit-image (abs error <= 1e-7)', () => {
  test.each(reference.ssim.map((c) => [`${c.a} vs ${c.b} (L=${c.data_range})`, c] as const))('%s', (_name, c) => {
    let a = plane(c.a);
    let b = plane(c.b);
    if (c.data_range !== 1) {
      a = scaled(a, c.data_range);
      b = scaled(b, c.data_range);
    }
    const r = ssimAndCs(a, b, { dataRange: c.data_range });
    expect(Math.abs(r.ssim - c.ssim)).toBeLessThanOrEqual(1e-7);
    expect(Math.abs(r.cs - c.cs)).toBeLessThanOrEqual(1e-7);
  });
});

describe('MS-SSIM against the numpy pytorch_msssim-convention reference (abs error <= 1e-7)', () => {
  test.each(reference.ms_ssim.map((c) => [`${c.a} vs ${c.b}`, c] as const))('%s', (_name, c) => {
    const r = msSsim(plane(c.a), plane(c.b), { dataRange: c.data_range });
    expect(r.scales).toBe(c.scales);
    expect(Math.abs(r.value - c.ms_ssim)).toBeLessThanOrEqual(1e-7);
  });
});

const side = fc.oneof(fc.constantFrom(11, 12, 13, 17, 23, 31, 37), fc.integer({ min: 11, max: 70 }));

describe('SSIM properties (random sizes and values)', () => {
  test.prop([side, side, fc.integer(), fc.integer()], { numRuns: RUNS })('SSIM(x, x) = 1, symmetric, within [-1, 1]', (w, h, s1, s2) => {
    const x = randomPlane(w, h, s1);
    const y = randomPlane(w, h, s2, 0.8);
    expect(ssimPlanes(x, x)).toBeCloseTo(1, 12);
    const xy = ssimAndCs(x, y);
    const yx = ssimAndCs(y, x);
    expect(Math.abs(xy.ssim - yx.ssim)).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(xy.cs - yx.cs)).toBeLessThanOrEqual(1e-12);
    expect(xy.ssim).toBeGreaterThanOrEqual(-1);
    expect(xy.ssim).toBeLessThanOrEqual(1);
    expect(xy.ssim).toBeLessThan(1);
  });

  test.prop([side, side, fc.integer(), fc.integer()], { numRuns: RUNS })(
    'SSIM decreases as the same noise grows (t = 0.05 < 0.2 < 0.6)',
    (w, h, s, ns) => {
      const x = randomPlane(w, h, s, 0);
      const n = noiseOf(w, h, ns);
      const v = [0.05, 0.2, 0.6].map((t) => ssimPlanes(x, plus(x, n, t)));
      expect(v[0]).toBeGreaterThan(v[1] as number);
      expect(v[1]).toBeGreaterThan(v[2] as number);
    },
  );

  test.prop([side, side, fc.integer(), fc.integer()], { numRuns: Math.ceil(RUNS / 5) })(
    "agrees with MedVAE's reconstruction SSIM (the same scikit-image convention, written separately) to 1e-9",
    (w, h, s1, s2) => {
      const x = randomPlane(w, h, s1);
      const y = randomPlane(w, h, s2, 0.5);
      const grid = (p: Plane) => ({ channels: 1, spatial: [h, w], data: p.data });
      expect(Math.abs(ssimPlanes(x, y) - medvaeSsim(grid(x), grid(y), 1))).toBeLessThanOrEqual(1e-9);
    },
  );

  test('sizes: under 11 pixels a side, or two sizes, is a ShapeError naming the sizes', () => {
    expect(() => ssimPlanes(randomPlane(10, 40, 1), randomPlane(10, 40, 2))).toThrow(/10x40 image is smaller than SSIM's 11x11/);
    expect(() => ssimPlanes(randomPlane(20, 20, 1), randomPlane(21, 20, 2))).toThrow(ShapeError);
    expect(() => ssimPlanes(randomPlane(20, 20, 1), randomPlane(21, 20, 2))).toThrow(/20x20 and 21x20/);
  });
});

describe('MS-SSIM properties', () => {
  test.prop([fc.integer({ min: 11, max: 200 }), fc.integer({ min: 11, max: 200 })], { numRuns: RUNS * 4 })(
    'scales that fit: the coarsest level has >= 11 pixels a side, one more would not (side n -> ceil(n/2))',
    (w, h) => {
      const k = msSsimScalesThatFit(w, h);
      const at = (n: number, i: number): number => (i === 0 ? n : Math.ceil(at(n, i - 1) / 2));
      expect(k).toBeGreaterThanOrEqual(1);
      expect(k).toBeLessThanOrEqual(5);
      expect(Math.min(at(w, k - 1), at(h, k - 1))).toBeGreaterThanOrEqual(11);
      if (k < 5) expect(Math.min(at(w, k), at(h, k))).toBeLessThan(11);
      expect(k === 5).toBe(Math.min(w, h) > 160);
    },
  );

  test.prop([fc.integer({ min: 11, max: 90 }), fc.integer({ min: 11, max: 90 }), fc.integer(), fc.integer()], { numRuns: RUNS })(
    'MS-SSIM(x, x) = 1; symmetric; in [0, 1]; decreases as the same noise grows',
    (w, h, s, ns) => {
      const x = randomPlane(w, h, s, 0);
      expect(msSsim(x, x).value).toBeCloseTo(1, 12);
      const n = noiseOf(w, h, ns);
      const y = plus(x, n, 0.3);
      const xy = msSsim(x, y).value;
      expect(Math.abs(xy - msSsim(y, x).value)).toBeLessThanOrEqual(1e-12);
      expect(xy).toBeGreaterThanOrEqual(0);
      expect(xy).toBeLessThan(1);
      const v = [0.05, 0.2, 0.6].map((t) => msSsim(x, plus(x, n, t)).value);
      expect(v[0]).toBeGreaterThan(v[1] as number);
      expect(v[1]).toBeGreaterThan(v[2] as number);
    },
  );

  test('asking for more scales than fit, or an image under 11 pixels, is a ShapeError that says what fits', () => {
    const x = randomPlane(64, 50, 3);
    expect(msSsim(x, x, { scales: 2 }).scales).toBe(2);
    expect(() => msSsim(x, x, { scales: 4 })).toThrow(/64x50 image has room for 3 scales, not 4/);
    expect(() => msSsim(randomPlane(9, 30, 1), randomPlane(9, 30, 1))).toThrow(/9x30 image is smaller/);
  });

  test("downsampling pads an odd side with zeros on both ends and divides by 4 (pytorch_msssim's avg_pool2d)", () => {
    // 3 x 2: rows padded to [0, r0, r1, r2, 0], so the outputs are (0 + r0)/4-style edges.
    const p = makePlane(2, 3, Float32Array.from([1, 2, 3, 4, 5, 6]));
    const d = downsample2x(p);
    expect([d.width, d.height]).toEqual([1, 2]);
    expect([...d.data]).toEqual([(1 + 2) / 4, (3 + 4 + 5 + 6) / 4]);
    const e = downsample2x(makePlane(3, 1, Float32Array.from([4, 8, 12])));
    expect([e.width, e.height]).toEqual([2, 1]);
    expect([...e.data]).toEqual([1, 5]);
  });
});

describe('planes', () => {
  test('luminance of an RGB image uses the BT.601 weights; 16-bit gray is scaled by 65535; alpha is ignored', () => {
    const rgba = toPlane({ width: 1, height: 1, channels: 4, bitDepth: 8, data: Uint8Array.from([255, 0, 0, 7]) });
    expect(rgba.data[0]).toBeCloseTo(0.299, 6);
    const g16 = toPlane({ width: 2, height: 1, channels: 1, bitDepth: 16, data: Uint16Array.from([65535, 32768]) });
    expect([...g16.data].map((v) => +v.toFixed(5))).toEqual([1, +(32768 / 65535).toFixed(5)]);
  });

  test.prop([fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4 }), fc.integer()], {
    numRuns: RUNS,
  })('area resizing keeps the mean on integer shrinks and constants everywhere', (w, h, k, s) => {
    const p = randomPlane(w * k, h * k, s);
    const r = resizeArea(p, w, h);
    const mean = (q: Plane) => q.data.reduce((a, b) => a + b, 0) / q.data.length;
    expect(Math.abs(mean(r) - mean(p))).toBeLessThan(1e-5);
    const c = resizeArea(makePlane(w * k, h * k, new Float32Array(w * k * h * k).fill(0.4)), w + 3, h * 2 + 1);
    for (const v of c.data) expect(v).toBeCloseTo(0.4, 6);
  });
});
