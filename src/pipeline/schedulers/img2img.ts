/** diffusers `StableDiffusionImg2ImgPipeline.get_timesteps`: which timesteps run for a given `strength`. */
import { MedgpuError } from '../../runtime/errors.js';
import type { Scheduler } from './scheduler.js';

export interface Img2ImgSchedule {
  /** The timesteps that run, starting with the one the init latents are noised to. */
  timesteps: number[];
  /** How many denoising steps run (`num_inference_steps - t_start`). */
  numSteps: number;
  /** `t_start · order`: the index of `timesteps[0]` in the full schedule (also set as the begin index). */
  beginIndex: number;
}

/**
 * After `setTimesteps(numInferenceSteps)`: `init_timestep = min(int(steps·strength), steps)`,
 * `t_start = max(steps - init_timestep, 0)`, the schedule from `t_start·order` on, and `set_begin_index`.
 */
export function img2imgTimesteps<T>(scheduler: Scheduler<T>, numInferenceSteps: number, strength: number): Img2ImgSchedule {
  if (!(strength >= 0 && strength <= 1)) {
    throw new MedgpuError('BAD_ARGUMENT', `strength must be in [0, 1], got ${strength}`);
  }
  const initTimestep = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
  const tStart = Math.max(numInferenceSteps - initTimestep, 0);
  const beginIndex = tStart * scheduler.order;
  scheduler.setBeginIndex(beginIndex);
  return { timesteps: scheduler.timesteps.slice(beginIndex), numSteps: numInferenceSteps - tStart, beginIndex };
}
