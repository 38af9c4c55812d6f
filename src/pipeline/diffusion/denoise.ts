/**
 * The denoising loop shared by text-to-image and image-to-image, as diffusers 0.30.3 runs it:
 *
 *   for t in timesteps:
 *     x_in = scheduler.scale_model_input(cat([latents] * 2) if cfg else latents, t)
 *     noise_pred = unet(x_in, t, prompt_embeds)          # prompt_embeds = cat([negative, positive])
 *     if cfg: u, c = noise_pred.chunk(2); noise_pred = u + g·(c − u)
 *     latents = scheduler.step(noise_pred, t, latents, eta, generator)
 *
 * Latents stay on the GPU (channels-last) the whole time; the scheduler works on them through its GPU
 * `LatentOps`. Each step ends with one wait for the GPU, which makes progress reports honest and lets an
 * abort take effect between steps.
 */
import { axpby, sub } from '../../kernels/elementwise.js';
import { concat, slice } from '../../kernels/layout.js';
import type { UNet2DConditionModel } from '../../nn/unet/unet-2d-condition.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { Scheduler } from '../schedulers/scheduler.js';
import { nchwToNhwc } from './layout.js';
import type { NoiseSource } from './noise.js';
import { type StepProgress, type TraceEvent, throwIfAborted } from './options.js';

export interface DenoiseArgs {
  gpu: Gpu;
  unet: UNet2DConditionModel;
  scheduler: Scheduler<Tensor>;
  /** [B, T, D] without guidance, [2B, T, D] (negative first) with it. */
  promptEmbeds: Tensor;
  /** null: no classifier-free guidance. */
  guidanceScale: number | null;
  noise: NoiseSource;
  eta: number;
  callback?: (p: StepProgress) => void | Promise<void>;
  signal?: AbortSignal;
  trace?: (e: TraceEvent) => void | Promise<void>;
}

/** `noise_pred_uncond + g · (noise_pred_text − noise_pred_uncond)` on a [2B, ...] batch (uncond first). */
export function guide(gpu: Gpu, pred: Tensor, g: number): Tensor {
  const b = pred.dim(0) / 2;
  return gpu.scope(() => {
    const u = slice(gpu, pred, 0, 0, b);
    const c = slice(gpu, pred, 0, b, 2 * b);
    return axpby(gpu, 1, u, g, sub(gpu, c, u));
  });
}

/**
 * Runs `timesteps` from `latents` [B, h, w, C] (consumed: released when replaced) and returns the final
 * latents. On any error or abort every tensor of the run is freed, the scheduler's history included.
 */
export async function denoise(a: DenoiseArgs, latents: Tensor, timesteps: readonly number[]): Promise<Tensor> {
  const { gpu, unet, scheduler } = a;
  const [b, h, w, c] = latents.shape as [number, number, number, number];
  const start = Date.now();
  let current = latents;
  try {
    for (const [i, t] of timesteps.entries()) {
      throwIfAborted(a.signal, `before step ${i + 1} of ${timesteps.length}`);
      const next = await gpu.scopeAsync(async () => {
        const scaled = scheduler.scaleModelInput(current, t);
        const input = a.guidanceScale !== null ? concat(gpu, [scaled, scaled], 0) : scaled;
        // forwardAsync: the first step frees the pool buffers it evicts as it goes (see there)
        const out = await unet.forwardAsync(gpu, input, t, a.promptEmbeds);
        if (a.trace) await a.trace({ kind: 'unet_output', step: i, tensor: out });
        const pred = a.guidanceScale !== null ? guide(gpu, out, a.guidanceScale) : out;
        const mode = scheduler.stepNoise(a.eta);
        let stepNoise: Tensor | undefined;
        if (mode !== 'none') {
          // diffusers draws `randn_tensor(model_output.shape, generator)` inside step; 'ignored' draws too,
          // so the generator advances exactly as in diffusers.
          const drawn = a.noise.randn([b, c, h, w]);
          if (mode === 'used') stepNoise = gpu.upload(nchwToNhwc(drawn, b, c, h, w), [b, h, w, c], 'f32', 'step noise');
        }
        return scheduler.step(pred, t, current, { eta: a.eta, noise: stepNoise }).prevSample;
      });
      current.release();
      current = next;
      if (a.trace) await a.trace({ kind: 'step_latents', step: i, tensor: current });
      await gpu.sync();
      await a.callback?.({ step: i + 1, numSteps: timesteps.length, timestep: t, elapsedMs: Date.now() - start });
    }
    return current;
  } catch (e) {
    current.release();
    throw e;
  } finally {
    scheduler.reset();
  }
}
