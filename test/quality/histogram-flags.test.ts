/**
 * Fidelity flags on synthetic images whose answer is known by construction: blank (constant, or a faint
 * ±0.5%-of-range noise), saturated (most pixels clipped at black/white), low contrast (everything within a 5%
 * band), out of distribution (a histogram unlike the reference set's); ordinary tissue-like images pass. The
 * W1 distance is checked against closed forms (two point masses: their distance).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  DEFAULT_HISTOGRAM_THRESHOLDS,
  HISTOGRAM_BINS,
  intensityFlags,
  intensityStats,
  referenceHistogram,
  wasserstein1,
} from '../../src/quality/histogram-flags.js';
import { type Plane, makePlane } from '../../src/quality/plane.js';
import { constantPlane, lcg, noiseOf, plus, randomPlane, xrayLike } from './planes.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);

const flagsOf = (p: Plane, ref?: ReturnType<typeof referenceHistogram>) =>
  intensityFlags(intensityStats(p), DEFAULT_HISTOGRAM_THRESHOLDS, ref).map((f) => f.flag);

describe('intensity flags', () => {
  test('ordinary tissue-like images earn no flag', () => {
    for (let s = 1; s <= 6; s++) {
      expect(flagsOf(randomPlane(64, 48, s, 0.1, 8))).toEqual([]);
      expect(flagsOf(xrayLike(s))).toEqual([]);
    }
  });

  test('blank: constant images (any level) and a faint noise image; the detail names value and threshold', () => {
    for (const v of [0.3, 0.8]) expect(flagsOf(constantPlane(40, 30, v))).toContain('blank');
    expect(flagsOf(plus(constantPlane(40, 30, 0.5), noiseOf(40, 30, 3), 0.01))).toContain('blank');
    const [blank] = intensityFlags(intensityStats(constantPlane(20, 20, 0.5)));
    expect(blank?.detail).toMatch(/intensity std 0\.000 < 0\.010/);
  });

  test('saturated: 60% of pixels clipped to black or white; 40% is not', () => {
    const clip = (fraction: number, value: number) => {
      const p = randomPlane(50, 40, 9, 0.1, 8);
      const rnd = lcg(4);
      return makePlane(
        50,
        40,
        p.data.map((v) => (rnd() < fraction ? value : v)),
      );
    };
    expect(flagsOf(clip(0.6, 0))).toContain('saturated');
    expect(flagsOf(clip(0.6, 1))).toContain('saturated');
    expect(flagsOf(clip(0.4, 0))).not.toContain('saturated');
    expect(intensityFlags(intensityStats(clip(0.6, 1))).find((f) => f.flag === 'saturated')?.detail).toMatch(/white 6\d\.\d%/);
  });

  test('low contrast: a tissue image squeezed to an eighth of its range is flagged (and not blank); at a third it is not', () => {
    const p = xrayLike(5);
    const squeeze = (k: number) =>
      makePlane(
        64,
        48,
        p.data.map((v) => 0.4 + k * v),
      );
    expect(flagsOf(squeeze(0.12))).toEqual(['low-contrast']);
    expect(flagsOf(squeeze(0.33))).toEqual([]);
  });

  test.prop([fc.integer({ min: 0, max: HISTOGRAM_BINS - 1 }), fc.integer({ min: 0, max: HISTOGRAM_BINS - 1 })], { numRuns: RUNS })(
    'W1 of two point masses is the distance between their bins; W1 is symmetric and 0 on itself',
    (i, j) => {
      const a = new Float64Array(HISTOGRAM_BINS);
      const b = new Float64Array(HISTOGRAM_BINS);
      a[i] = 1;
      b[j] = 1;
      expect(wasserstein1(a, b)).toBeCloseTo(Math.abs(i - j) / HISTOGRAM_BINS, 12);
      expect(wasserstein1(b, a)).toBeCloseTo(wasserstein1(a, b), 12);
      expect(wasserstein1(a, a)).toBe(0);
    },
  );
});

describe('out-of-distribution histograms against a reference set', () => {
  const reference = Array.from({ length: 8 }, (_, s) => intensityStats(xrayLike(100 + s)));
  const ref = referenceHistogram(reference);

  test('the threshold is the largest leave-one-out distance, so no reference image is flagged', () => {
    expect(ref.leaveOneOut).toHaveLength(8);
    expect(ref.threshold).toBe(Math.max(...ref.leaveOneOut));
    for (const s of reference) expect(intensityFlags(s, DEFAULT_HISTOGRAM_THRESHOLDS, ref).map((f) => f.flag)).toEqual([]);
  });

  test('an inverted image (same contrast, mirrored histogram) and a much darker one are flagged; a new image like the reference is not', () => {
    const p = xrayLike(7);
    expect(
      flagsOf(
        makePlane(
          64,
          48,
          p.data.map((v) => 0.9 - v),
        ),
        ref,
      ),
    ).toEqual(['out-of-distribution']);
    expect(
      flagsOf(
        makePlane(
          64,
          48,
          p.data.map((v) => v * 0.35),
        ),
        ref,
      ),
    ).toContain('out-of-distribution');
    for (const s of [300, 301, 302]) expect(flagsOf(xrayLike(s), ref)).toEqual([]);
  });

  test('fewer than 2 reference images, or a quantile outside (0, 1], is a BAD_ARGUMENT error saying why', () => {
    expect(() => referenceHistogram(reference.slice(0, 1))).toThrow(/at least 2 reference images \(got 1\)/);
    expect(() => referenceHistogram(reference, 0)).toThrow(/oodQuantile must be in \(0, 1\]/);
    expect(referenceHistogram(reference, 0.5).threshold).toBeLessThanOrEqual(ref.threshold);
  });
});
