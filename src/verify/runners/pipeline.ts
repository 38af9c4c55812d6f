/**
 * Full pipeline cases (`StableDiffusionPipeline` / `StableDiffusionImg2ImgPipeline`): the same arguments and
 * the same noise as the reference run, every intermediate read back through the pipeline's trace and
 * compared: prompt embeddings, timesteps, the raw UNet batch of every step, the latents after every step,
 * the final latents and the decoded image.
 */
import { StableDiffusionImg2ImgPipeline } from '../../pipeline/diffusion/image-to-image.js';
import { nhwcToNchw } from '../../pipeline/diffusion/layout.js';
import { recordedNoise, seededNoise } from '../../pipeline/diffusion/noise.js';
import type { CommonOptions, TraceEvent } from '../../pipeline/diffusion/options.js';
import { StableDiffusionPipeline } from '../../pipeline/diffusion/text-to-image.js';
import { ConfigError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { OutputCheck } from '../compare.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, cached, checkOutput, stack } from '../runner.js';

async function readNchw(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const [b, h, w, c] = t.shape as [number, number, number, number];
  return nhwcToNchw(await gpu.read(t), b, h, w, c);
}

export const runPipelineCase: CaseRunner = async (ctx, m, c) => {
  const { gpu } = ctx;
  const p = (c.params ?? {}) as Record<string, unknown>;
  const tensors = await readCaseTensors(m, c);
  const input = (name: string) => Float32Array.from(valuesOf(tensorOf(tensors, name, c.name)));
  const dir = caseModelDir(m, c);
  const base = await cached(ctx, `pipeline:${dir}`, () => StableDiffusionPipeline.fromPretrained(gpu, dir));

  const got = new Map<string, Float32Array | number[]>();
  const unet: Float32Array[] = [];
  const steps: Float32Array[] = [];
  const trace = async (e: TraceEvent) => {
    if (e.kind === 'timesteps') got.set('timesteps', [...e.timesteps]);
    else if (e.kind === 'prompt_embeds' || e.kind === 'negative_prompt_embeds') got.set(e.kind, await gpu.read(e.tensor));
    else if (e.kind === 'unet_output') unet.push(await readNchw(gpu, e.tensor));
    else if (e.kind === 'step_latents') steps.push(await readNchw(gpu, e.tensor));
  };
  // Draws the reference did not record (Euler's ignored step noise) come from a seeded generator.
  const common: CommonOptions = {
    prompt: String(p.prompt ?? ''),
    negativePrompt: typeof p.negative_prompt === 'string' ? p.negative_prompt : undefined,
    numInferenceSteps: Number(p.num_inference_steps),
    guidanceScale: Number(p.guidance_scale),
    eta: Number(p.eta ?? 0),
    scheduler: typeof p.scheduler_class === 'string' ? p.scheduler_class : undefined,
    trace,
  };
  let result: Awaited<ReturnType<StableDiffusionPipeline['generate']>>;
  if (c.module === 'StableDiffusionPipeline') {
    result = await base.generate({
      ...common,
      noise: recordedNoise([], seededNoise(0)),
      width: Number(p.width),
      height: Number(p.height),
      latents: input('latents'),
    });
  } else if (c.module === 'StableDiffusionImg2ImgPipeline') {
    const init = tensorOf(tensors, 'init_image', c.name);
    const [batch, channels, height, width] = init.shape as [number, number, number, number];
    result = await StableDiffusionImg2ImgPipeline.fromPipeline(base).generate({
      ...common,
      noise: recordedNoise([input('noise_0'), input('noise_1')], seededNoise(0)),
      image: { data: input('init_image'), batch, channels, height, width },
      strength: Number(p.strength),
    });
  } else throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name}: module ${c.module} is not a pipeline`);
  got.set('unet_outputs', stack(unet));
  got.set('step_latents', stack(steps));
  got.set('final_latents', result.latents);
  got.set('image', stack(result.images));

  const checks: OutputCheck[] = [];
  for (const name of Object.keys(c.outputs ?? {})) {
    const value = got.get(name);
    const want = valuesOf(tensorOf(tensors, name, c.name));
    checks.push(checkOutput(c, name, value ?? [], want));
  }
  return checks;
};
