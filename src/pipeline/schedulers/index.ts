export type { LatentOps, Term } from './latent-ops.js';
export { CpuLatentOps } from './latent-ops.js';
export { GpuLatentOps } from './gpu-latent-ops.js';
export { Scheduler, type StepNoise, type StepOptions, type StepResult } from './scheduler.js';
export {
  type SchedulerClassName,
  type SchedulerConfig,
  SCHEDULER_ALIASES,
  SCHEDULER_CLASS_NAMES,
  SCHEDULER_DEFAULTS,
  configForClass,
  resolveSchedulerName,
} from './config.js';
export { schedulerFromConfig, type SchedulerChoice } from './factory.js';
export { img2imgTimesteps, type Img2ImgSchedule } from './img2img.js';
export { DDIMScheduler } from './ddim.js';
export { PNDMScheduler } from './pndm.js';
export { EulerDiscreteScheduler, type EulerChurn } from './euler.js';
export { EulerAncestralDiscreteScheduler } from './euler-ancestral.js';
export { DPMSolverMultistepScheduler } from './dpm-solver-multistep.js';
export { LMSDiscreteScheduler } from './lms.js';
