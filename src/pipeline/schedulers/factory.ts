/** Builds a scheduler from a `scheduler_config.json`, as diffusers' `Cls.from_config(config, **overrides)`. */
import { ConfigError } from '../../runtime/errors.js';
import { type SchedulerClassName, type SchedulerConfig, configForClass, resolveSchedulerName } from './config.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral.js';
import { EulerDiscreteScheduler } from './euler.js';
import type { LatentOps } from './latent-ops.js';
import { LMSDiscreteScheduler } from './lms.js';
import { parseJsonLenient } from '../../io/json.js';
import { PNDMScheduler } from './pndm.js';
import type { Scheduler } from './scheduler.js';

export interface SchedulerChoice {
  /** A class name or alias (`euler_a`, `dpmpp_2m`…); default: the config's `_class_name`. */
  scheduler?: string;
  /** Option overrides, e.g. `{ use_karras_sigmas: true }` (keys the chosen class knows). */
  overrides?: SchedulerConfig;
  /** Where the config came from, for error messages. */
  source?: string;
}

type Ctor = new <T>(ops: LatentOps<T>, config: SchedulerConfig, source?: string) => Scheduler<T>;

const CLASSES: Record<SchedulerClassName, Ctor> = {
  DDIMScheduler: DDIMScheduler as Ctor,
  PNDMScheduler: PNDMScheduler as Ctor,
  EulerDiscreteScheduler: EulerDiscreteScheduler as Ctor,
  EulerAncestralDiscreteScheduler: EulerAncestralDiscreteScheduler as Ctor,
  DPMSolverMultistepScheduler: DPMSolverMultistepScheduler as Ctor,
  LMSDiscreteScheduler: LMSDiscreteScheduler as Ctor,
};

/**
 * The scheduler named by `choice.scheduler` (default: `config._class_name`) built from `config`: keys the class
 * knows are inherited from `config`, the rest take the class defaults, then `choice.overrides` apply. So
 * `schedulerFromConfig(pndmConfig, ops, { scheduler: 'euler' })` is diffusers'
 * `EulerDiscreteScheduler.from_config(pipe.scheduler.config)`.
 */
export function schedulerFromConfig<T>(config: SchedulerConfig | string, ops: LatentOps<T>, choice: SchedulerChoice = {}): Scheduler<T> {
  const source = choice.source ?? 'scheduler_config.json';
  const parsed = typeof config === 'string' ? parseJsonLenient(config, source) : config;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('BAD_CONFIG', `${source}: a scheduler config must be a JSON object`);
  }
  const cfg = parsed as SchedulerConfig;
  const name = choice.scheduler ?? (typeof cfg._class_name === 'string' ? cfg._class_name : undefined);
  if (name === undefined) {
    throw new ConfigError('BAD_CONFIG', `${source}: no "_class_name"; say which scheduler to build`);
  }
  const cls = resolveSchedulerName(name);
  const merged = configForClass(cls, cfg, choice.overrides);
  return new CLASSES[cls](ops, merged, source);
}
