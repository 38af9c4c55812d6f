/**
 * Pipeline options the diffusers fixtures do not cover: f16 storage (weights and activations in f16, latents
 * and scheduler in f32) against the f32 pipeline, and tiled VAE decoding. The f16 bound is empirical: on
 * sd2 (gelu, v-prediction, CFG 7.5, 4 DDIM steps) the image differs by ~0.007 of full scale; 0.03 leaves
 * room for other adapters' f16 rounding, and still fails if any part computed in f16 were wrong (errors then
 * are O(0.1-1)).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

describe('pipeline options', async () => {
  const gpu = await getGpu();
  const sd2 = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2');
  afterAll(() => sd2.release());

  it("dtype 'f16' gives the f32 pipeline's image within 0.03 (or, without shader-f16, a clear error)", async () => {
    if (!gpu.hasF16) {
      await expect(StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2', { dtype: 'f16' })).rejects.toMatchObject({
        code: 'MISSING_FEATURE',
      });
      return;
    }
    const half = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2', { dtype: 'f16' });
    try {
      const o = { prompt: 'Moderate cardiomegaly', negativePrompt: 'text', numInferenceSteps: 4, seed: 3, scheduler: 'ddim' };
      const a = await sd2.generate(o);
      const b = await half.generate(o);
      expect(half.unet.dtype).toBe('f16');
      const d = diff(b.images[0] as Float32Array, a.images[0] as Float32Array);
      expect(d.nonFinite).toBe(0);
      expect(d.maxAbs).toBeLessThan(0.03);
      expect(d.maxAbs).toBeGreaterThan(0); // it really ran in f16
    } finally {
      half.release();
    }
  });

  it('vaeTiling decodes in tiles when the latents exceed one tile, and is a no-op when they fit', async () => {
    const o = { prompt: 'x', numInferenceSteps: 1, seed: 4, scheduler: 'ddim' };
    // sample_size 64 → one tile is 64 px (8 latent pixels).
    const fits = [
      await sd2.generate({ ...o, width: 64, height: 64 }),
      await sd2.generate({ ...o, width: 64, height: 64, vaeTiling: true }),
    ];
    expect(fits[1]?.images[0]).toEqual(fits[0]?.images[0]);
    const big = [
      await sd2.generate({ ...o, width: 128, height: 96 }),
      await sd2.generate({ ...o, width: 128, height: 96, vaeTiling: true }),
    ];
    expect(big[1]?.latents).toEqual(big[0]?.latents);
    const d = diff(big[1]?.images[0] as Float32Array, big[0]?.images[0] as Float32Array);
    expect(d.nonFinite).toBe(0);
    expect(d.maxAbs).toBeGreaterThan(0);
  });
});
