/** Pipeline options the diffusers fixtures do not cover: tiled VAE decoding (f16 is in pipeline-f16.test.ts). */
import { afterAll, describe, expect, it } from 'vitest';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

describe('pipeline options', async () => {
  const gpu = await getGpu();
  const sd2 = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2');
  afterAll(() => sd2.release());

  // The first run compiles every kernel of the pipeline: a minute or more on lavapipe with a cold shader cache.
  it('vaeTiling decodes in tiles when the latents exceed one tile, and is a no-op when they fit', { timeout: 240_000 }, async () => {
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
