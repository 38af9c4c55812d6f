/**
 * The near-copy detector on planted duplicates: a reference set of 8 distinct tissue-like images, and queries
 * that are an exact copy, a lightly noised copy (uniform noise of amplitude 0.04), a 1-pixel-shifted copy and a
 * resized copy (a near copy saved at another size) — all flagged, each with the right reference — and 5 new
 * images, none flagged. By SSIM on the common grid, and by the latent of the tiny random-weight MedVAE fixture
 * (medvae_4_1_2d): copies are found by the latent too, and the exact copy is flagged at the default threshold
 * (random weights make the latent a weak measure, so the noised/shifted copies are only required to rank above
 * every distinct image).
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { MedVAE } from '../../src/pipeline/medvae/medvae.js';
import { assessQuality, type QualityItem } from '../../src/quality/assess.js';
import {
  DEFAULT_NEAR_COPY_OPTIONS,
  meanLatent,
  medvaeLatent,
  nearestByLatent,
  nearestBySsim,
  prepareForNearCopy,
} from '../../src/quality/near-copy.js';
import { type Plane, resizeArea } from '../../src/quality/plane.js';
import { getGpu } from '../helpers/gpu.js';
import { noiseOf, plus, randomPlane, shifted } from './planes.js';

/** The reference set, the planted copies and the distinct images at one size (the structure scales with it). */
function dataset(w: number, h: number) {
  const reference = Array.from({ length: 8 }, (_, i) => randomPlane(w, h, 100 + i, 0.02, 14));
  const planted: { name: string; plane: Plane; of: number }[] = [
    { name: 'exact copy of #3', plane: reference[3] as Plane, of: 3 },
    { name: 'noised copy of #5', plane: plus(reference[5] as Plane, noiseOf(w, h, 1), 0.04), of: 5 },
    { name: '1-pixel-shifted copy of #1', plane: shifted(reference[1] as Plane, 1, 1), of: 1 },
    { name: 'copy of #6 resized by 5/4', plane: resizeArea(reference[6] as Plane, (w * 5) / 4, (h * 5) / 4), of: 6 },
  ];
  const distinct = Array.from({ length: 5 }, (_, i) => randomPlane(w, h, 500 + i, 0.02, 14));
  return { reference, planted, distinct };
}
// Near copies are judged on a grid no larger than the images (shrinking averages pixel noise away, as it does
// for 256-512 px generations on the default 128 grid).
const { reference, planted, distinct } = dataset(96, 80);

describe('near copies by SSIM on the common grid (threshold 0.95)', () => {
  for (const [grid, w, h] of [
    [64, 96, 80],
    [DEFAULT_NEAR_COPY_OPTIONS.grid, 192, 160],
  ] as const) {
    test(`grid ${grid}, ${w}x${h} images: every planted copy is flagged with its source; no distinct image is`, () => {
      const { reference, planted, distinct } = dataset(w, h);
      const refs = reference.map((p) => prepareForNearCopy(p, grid));
      for (const c of planted) {
        const n = nearestBySsim(prepareForNearCopy(c.plane, grid), refs);
        expect({ name: c.name, index: n.index, flagged: n.ssim >= 0.95 }).toEqual({ name: c.name, index: c.of, flagged: true });
      }
      expect(nearestBySsim(prepareForNearCopy(planted[0]?.plane as Plane, grid), refs).ssim).toBeCloseTo(1, 12);
      for (const d of distinct) expect(nearestBySsim(prepareForNearCopy(d, grid), refs).ssim).toBeLessThan(0.9);
    });
  }

  test('a grid outside 16..1024 and an empty reference set are BAD_ARGUMENT errors', () => {
    expect(() => prepareForNearCopy(reference[0] as Plane, 8)).toThrow(/grid must be an integer from 16 to 1024 pixels, got 8/);
    expect(() => nearestBySsim(prepareForNearCopy(reference[0] as Plane, 32), [])).toThrow(/reference set is empty/);
  });
});

describe('near copies by MedVAE latent (tiny medvae_4_1_2d fixture)', () => {
  const weights = join(import.meta.dirname, '../fixtures/medvae/medvae_4_1_2d/model.safetensors');

  test('copies rank their source first; the exact copy has cosine 1 and RMS 0; distinct images stay below every copy', async () => {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_2d', weights });
    try {
      const refs: Float32Array[] = [];
      for (const p of reference) refs.push(await medvaeLatent(mvae, p, 64));
      expect(refs[0]?.length).toBe((64 / 4) * (64 / 4) * mvae.latentChannels);
      const centre = meanLatent(refs);
      const copies = [];
      for (const c of planted) {
        const n = nearestByLatent(await medvaeLatent(mvae, c.plane, 64), refs, centre);
        expect({ name: c.name, index: n.index }).toEqual({ name: c.name, index: c.of });
        copies.push(n);
      }
      expect(copies[0]?.cosine).toBeCloseTo(1, 5);
      expect(copies[0]?.rms).toBeLessThan(1e-6);
      const lowestCopy = Math.min(...copies.map((c) => c.cosine));
      for (const d of distinct) expect(nearestByLatent(await medvaeLatent(mvae, d, 64), refs, centre).cosine).toBeLessThan(lowestCopy);
      await expect(medvaeLatent(mvae, reference[0] as Plane, 66)).rejects.toThrow(/multiple of medvae_4_1_2d's downsampling factor 4/);
    } finally {
      await mvae.dispose();
    }
  });

  test('assessQuality flags the planted copies (SSIM or latent) and names the source and the measure', async () => {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_2d', weights });
    const item = (file: string, plane: Plane): QualityItem => ({ file, prompt: 'p', seed: null, load: async () => plane });
    try {
      const report = await assessQuality(
        [...planted.map((c, i) => item(`copy${i}.png`, c.plane)), ...distinct.map((d, i) => item(`new${i}.png`, d))],
        reference.map((p, i) => item(`real${i}.png`, p)),
        { input: 'synthetic', referenceFolder: 'real', medvae: mvae, nearCopy: { grid: 64 } },
      );
      const nearCopy = report.images.filter((im) => im.flags.some((f) => f.flag === 'near-copy')).map((im) => im.file);
      expect(nearCopy).toEqual(['copy0.png', 'copy1.png', 'copy2.png', 'copy3.png']);
      const exact = report.images[0];
      expect(exact?.nearestBySsim).toEqual({ file: 'real3.png', ssim: expect.closeTo(1, 12) });
      expect(exact?.nearestByLatent?.file).toBe('real3.png');
      expect(exact?.flags.find((f) => f.flag === 'near-copy')?.detail).toMatch(
        /SSIM 1\.0000 >= 0\.95 to real3\.png; MedVAE latent cosine 1\.0000/,
      );
      expect(report.settings.nearCopy.medvaeModel).toBe('medvae_4_1_2d');
      expect(report.summary.byFlag['near-copy']).toBe(4);
    } finally {
      await mvae.dispose();
    }
  });
});
