/**
 * StableDiffusionPipeline against diffusers 0.30.3 on the tiny sd1/sd2 fixture pipelines: every output of
 * every text-to-image case (prompt embeddings, timesteps, the UNet batch of every step, the latents after
 * every step, final latents, image) within the manifest's tolerance; then the API's behaviour: seed parity,
 * several images per prompt, guidance off, progress, cancellation without leaks, argument errors.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/runtime/tensor.js';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import type { TraceEvent } from '../../src/pipeline/diffusion/options.js';
import { TorchGenerator } from '../../src/pipeline/rng.js';
import { readManifest } from '../../src/verify/manifest.js';
import { runPipelineCase } from '../../src/verify/runners/pipeline.js';
import { getGpu } from '../helpers/gpu.js';
import { expectCaseChecks } from '../helpers/fixture-checks.js';

const manifest = await readManifest('test/fixtures/pipelines/manifest.json');
const cache = new Map<string, unknown>();
afterAll(() => {
  for (const p of cache.values()) (p as StableDiffusionPipeline).release();
});

describe('StableDiffusionPipeline vs diffusers fixtures', () => {
  for (const c of manifest.cases.filter((k) => k.module === 'StableDiffusionPipeline')) {
    it(`${c.name}: every output within the manifest tolerance`, async () => {
      const gpu = await getGpu();
      const checks = await runPipelineCase({ gpu, cache }, manifest, c);
      expectCaseChecks(checks, c);
    }, 240_000); // the first case compiles every kernel it uses: a minute or more on lavapipe with a cold shader cache
  }
});

describe('StableDiffusionPipeline API', async () => {
  const gpu = await getGpu();
  const pipe = await StableDiffusionPipeline.fromPretrained(gpu, 'test/fixtures/pipelines/sd1');
  afterAll(() => pipe.release());
  const small = { prompt: 'chest x-ray', numInferenceSteps: 2, width: 32, height: 32, scheduler: 'ddim' };

  it('a seed gives the latents torch.Generator("cpu").manual_seed(seed).randn([B, 4, h, w]) gives (NCHW), bit for bit', async () => {
    const seeded = await pipe.generate({ ...small, seed: 1234 });
    const given = await pipe.generate({ ...small, latents: new TorchGenerator(1234).randn(1 * 4 * 4 * 4) });
    expect(seeded.seed).toBe(1234n);
    expect(seeded.latents).toEqual(given.latents);
    expect(seeded.images[0]).toEqual(given.images[0]);
    const other = await pipe.generate({ ...small, seed: 1235 });
    expect(other.latents).not.toEqual(seeded.latents);
  });

  it('makes numImagesPerPrompt images per prompt, in prompt order, from one batched latent draw', async () => {
    const embeds: Float32Array[] = [];
    const unetBatches: number[] = [];
    const trace = async (e: TraceEvent) => {
      if (e.kind === 'prompt_embeds') embeds.push(await gpu.read(e.tensor));
      if (e.kind === 'unet_output') unetBatches.push((e.tensor as Tensor).dim(0));
    };
    const r = await pipe.generate({ ...small, prompt: ['a', 'b'], numImagesPerPrompt: 2, seed: 7, trace });
    expect(r.images).toHaveLength(4);
    for (const im of r.images) expect(im.length).toBe(32 * 32 * 3);
    expect(unetBatches).toEqual([8, 8]); // CFG doubles the batch of 4
    const e = embeds[0] as Float32Array;
    const row = e.length / 4;
    const rows = [0, 1, 2, 3].map((i) => e.subarray(i * row, (i + 1) * row));
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[3]).toEqual(rows[2]);
    expect(rows[2]).not.toEqual(rows[0]);
    // The batch's latents are one randn([4, 4, 4, 4]) draw.
    const alone = await pipe.generate({
      ...small,
      prompt: ['a', 'b'],
      numImagesPerPrompt: 2,
      latents: new TorchGenerator(7).randn(4 * 64),
    });
    expect(alone.latents).toEqual(r.latents);
  });

  it('guidance ≤ 1 runs a batch of 1 and never encodes the negative prompt', async () => {
    const kinds: string[] = [];
    const batches: number[] = [];
    await pipe.generate({
      ...small,
      guidanceScale: 1,
      negativePrompt: 'ignored',
      seed: 3,
      trace: (e) => {
        kinds.push(e.kind);
        if (e.kind === 'unet_output') batches.push(e.tensor.dim(0));
      },
    });
    expect(kinds).not.toContain('negative_prompt_embeds');
    expect(batches).toEqual([1, 1]);
  });

  it('reports progress after every step and stops cleanly when aborted, leaking no GPU memory', async () => {
    const steps: number[] = [];
    await pipe.generate({ ...small, numInferenceSteps: 3, seed: 1, callback: (p) => void steps.push(p.step) });
    expect(steps).toEqual([1, 2, 3]);
    // The stored PNDM (PLMS, skip_prk_steps) calls the UNet N + 1 times, repeating the second timestep.
    const plms: number[] = [];
    const r = await pipe.generate({
      ...small,
      scheduler: undefined,
      numInferenceSteps: 3,
      seed: 1,
      callback: (p) => void plms.push(p.timestep),
    });
    expect(r.scheduler).toBe('PNDMScheduler');
    expect(plms).toEqual([667, 334, 334, 1]);
    const live = gpu.memory().liveBytes;
    const ac = new AbortController();
    const seen: number[] = [];
    const run = pipe.generate({
      ...small,
      numInferenceSteps: 4,
      scheduler: 'dpm++2m',
      seed: 1,
      signal: ac.signal,
      callback: (p) => {
        seen.push(p.step);
        if (p.step === 2) ac.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(seen).toEqual([1, 2]);
    expect(gpu.memory().liveBytes).toBe(live);
  });

  it('picks a scheduler by name with the stored config, and ancestral noise follows the seed', async () => {
    const a = await pipe.generate({ ...small, scheduler: 'euler_a', seed: 9 });
    const b = await pipe.generate({ ...small, scheduler: 'EulerAncestralDiscreteScheduler', seed: 9 });
    expect(a.scheduler).toBe('EulerAncestralDiscreteScheduler');
    expect(a.images[0]).toEqual(b.images[0]);
    expect(pipe.schedulerClass).toBe('PNDMScheduler');
    pipe.setScheduler('lms');
    expect(pipe.schedulerClass).toBe('LMSDiscreteScheduler');
    pipe.setScheduler(undefined);
    expect(() => pipe.setScheduler('nope')).toThrow(/unknown scheduler "nope"/);
  });

  it('rejects sizes that are not multiples of 8, bad counts and mismatched latents with clear errors', async () => {
    await expect(pipe.generate({ ...small, width: 36 })).rejects.toThrow(/width must be a positive multiple of 8.*try 40/);
    await expect(pipe.generate({ ...small, numInferenceSteps: 0 })).rejects.toThrow(/numInferenceSteps/);
    await expect(pipe.generate({ ...small, prompt: [] })).rejects.toThrow(/at least one prompt/);
    await expect(pipe.generate({ ...small, latents: new Float32Array(10) })).rejects.toThrow(/\[1, 4, 4, 4\] \(NCHW\)/);
    await expect(pipe.generate({ ...small, prompt: ['a', 'b'], negativePrompt: ['x'] })).rejects.toThrow(/one per prompt/);
  });
});
