/**
 * StableDiffusionImg2ImgPipeline against diffusers 0.30.3 (sd1, DDIM, strength 0.6, the reference's
 * posterior and add_noise noise replayed): every output within the manifest tolerance. Then: a seeded run
 * draws the posterior noise first and the add_noise noise second (diffusers' generator order), strength
 * bounds, and image checks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StableDiffusionImg2ImgPipeline } from '../../src/pipeline/diffusion/image-to-image.js';
import { recordedNoise } from '../../src/pipeline/diffusion/noise.js';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import { TorchGenerator } from '../../src/pipeline/rng.js';
import { readManifest } from '../../src/verify/manifest.js';
import { runPipelineCase } from '../../src/verify/runners/pipeline.js';
import { getGpu } from '../helpers/gpu.js';
import { expectCaseChecks } from '../helpers/fixture-checks.js';

const manifest = await readManifest('test/fixtures/pipelines/manifest.json');

describe('StableDiffusionImg2ImgPipeline', async () => {
  const gpu = await getGpu();
  const cache = new Map<string, unknown>();
  afterAll(() => {
    for (const p of cache.values()) (p as StableDiffusionPipeline).release();
  });

  for (const c of manifest.cases.filter((k) => k.module === 'StableDiffusionImg2ImgPipeline')) {
    it(`${c.name}: every output within the manifest tolerance`, async () => {
      const checks = await runPipelineCase({ gpu, cache }, manifest, c);
      expectCaseChecks(checks, c);
    }, 240_000); // the first case compiles every kernel it uses: a minute or more on lavapipe with a cold shader cache
  }

  const image = (w: number, h: number) => ({
    data: Float32Array.from({ length: 3 * w * h }, (_, i) => (i % 97) / 96),
    batch: 1,
    channels: 3,
    height: h,
    width: w,
  });

  it('draws posterior noise then add_noise noise from the seeded generator, and repeats the image for the batch', async () => {
    const base = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd1');
    const pipe = StableDiffusionImg2ImgPipeline.fromPipeline(base);
    try {
      const o = { prompt: 'p', image: image(32, 24), numInferenceSteps: 4, strength: 0.5, scheduler: 'ddim' };
      const seeded = await pipe.generate({ ...o, seed: 5, numImagesPerPrompt: 2 });
      const g = new TorchGenerator(5);
      const replay = await pipe.generate({
        ...o,
        numImagesPerPrompt: 2,
        noise: recordedNoise([g.randn(1 * 4 * 3 * 4), g.randn(2 * 4 * 3 * 4)]),
      });
      expect(seeded.images).toHaveLength(2);
      expect(seeded.latents).toEqual(replay.latents);
      expect(seeded.timesteps).toEqual([251, 1]); // the last int(4·0.5) = 2 of [751, 501, 251, 1]
      expect(seeded.width).toBe(32);
      expect(seeded.height).toBe(24);
    } finally {
      base.release();
    }
  });

  it('rejects a strength that runs no step, out-of-range strength, and images whose sides are not multiples of 8', async () => {
    const pipe = await StableDiffusionImg2ImgPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd1');
    try {
      const o = { prompt: 'p', numInferenceSteps: 4, seed: 1 };
      await expect(pipe.generate({ ...o, image: image(16, 16), strength: 0.2 })).rejects.toThrow(/runs no denoising step/);
      await expect(pipe.generate({ ...o, image: image(16, 16), strength: 1.5 })).rejects.toThrow(/strength must be a number in \[0, 1\]/);
      await expect(pipe.generate({ ...o, image: image(20, 16) })).rejects.toThrow(/width must be a positive multiple of 8/);
    } finally {
      pipe.release();
    }
  });
});
