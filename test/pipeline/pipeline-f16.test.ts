/**
 * f16 storage (weights and activations in f16; latents, scheduler and attention/norm math in f32) on the
 * sd2 fixture case (gelu, v-prediction, CFG 7.5, 4 DDIM steps) against diffusers' float32 image. The bound is
 * empirical: the f16 image differs by ~0.007 of full scale; 0.03 leaves room for other adapters' f16
 * rounding and still fails if any part computed in f16 were wrong (errors then are O(0.1-1)). Only f16
 * kernels run here, so the file stays fast with a cold shader cache.
 */
import { describe, expect, it } from 'vitest';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import { readCaseTensors, readManifest, tensorOf, valuesOf } from '../../src/verify/manifest.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';

const manifest = await readManifest('test/fixtures/pipelines/manifest.json');

describe('f16 pipeline', () => {
  it("dtype 'f16' reproduces diffusers' f32 image within 0.03 (or, without shader-f16, a clear error)", async () => {
    const gpu = await getGpu();
    if (!gpu.hasF16) {
      await expect(StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2', { dtype: 'f16' })).rejects.toMatchObject({
        code: 'MISSING_FEATURE',
      });
      return;
    }
    const c = manifest.cases.find((k) => k.name === 'sd2_vpred_ddim_cfg7.5');
    if (!c) throw new Error('fixture case sd2_vpred_ddim_cfg7.5 missing');
    const p = c.params as Record<string, string | number>;
    const t = await readCaseTensors(manifest, c);
    const half = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd2', { dtype: 'f16' });
    try {
      expect(half.unet.dtype).toBe('f16');
      const r = await half.generate({
        prompt: String(p.prompt),
        negativePrompt: String(p.negative_prompt),
        numInferenceSteps: Number(p.num_inference_steps),
        guidanceScale: Number(p.guidance_scale),
        width: Number(p.width),
        height: Number(p.height),
        scheduler: 'ddim',
        latents: Float32Array.from(valuesOf(tensorOf(t, 'latents', c.name))),
      });
      const d = diff(r.images[0] as Float32Array, valuesOf(tensorOf(t, 'image', c.name)));
      expect(d.nonFinite).toBe(0);
      expect(d.maxAbs).toBeLessThan(0.03);
      // It really ran in f16: far outside the f32 tolerance.
      expect(d.maxAbs).toBeGreaterThan(c.outputs?.image?.tolerance?.max_abs ?? 0);
    } finally {
      half.release();
    }
  }, 240_000);
});
