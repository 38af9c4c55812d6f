/**
 * Scheduler configs as diffusers 0.30.3 reads them: each class has its own `__init__` defaults, and
 * `Cls.from_config(config)` keeps the keys the class knows, fills the rest with the class defaults and ignores
 * the others. That is how a pipeline's stored PNDM config becomes, say, an Euler config that still carries
 * `steps_offset: 1` and `timestep_spacing: "leading"` (and why the result differs from Euler's own defaults).
 */
import type { ConfigReader } from '../../nn/config.js';
import { ConfigError } from '../../runtime/errors.js';

export type SchedulerClassName =
  | 'DDIMScheduler'
  | 'PNDMScheduler'
  | 'EulerDiscreteScheduler'
  | 'EulerAncestralDiscreteScheduler'
  | 'DPMSolverMultistepScheduler'
  | 'LMSDiscreteScheduler';

export type SchedulerConfig = Readonly<Record<string, unknown>>;

const COMMON = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  steps_offset: 0,
} as const;

/** The `__init__` signature defaults of each class in diffusers 0.30.3. */
export const SCHEDULER_DEFAULTS: Readonly<Record<SchedulerClassName, SchedulerConfig>> = {
  DDIMScheduler: {
    ...COMMON,
    clip_sample: true,
    set_alpha_to_one: true,
    thresholding: false,
    dynamic_thresholding_ratio: 0.995,
    clip_sample_range: 1.0,
    sample_max_value: 1.0,
    timestep_spacing: 'leading',
    rescale_betas_zero_snr: false,
  },
  PNDMScheduler: {
    ...COMMON,
    skip_prk_steps: false,
    set_alpha_to_one: false,
    timestep_spacing: 'leading',
  },
  EulerDiscreteScheduler: {
    ...COMMON,
    interpolation_type: 'linear',
    use_karras_sigmas: false,
    sigma_min: null,
    sigma_max: null,
    timestep_spacing: 'linspace',
    timestep_type: 'discrete',
    rescale_betas_zero_snr: false,
    final_sigmas_type: 'zero',
  },
  EulerAncestralDiscreteScheduler: {
    ...COMMON,
    timestep_spacing: 'linspace',
    rescale_betas_zero_snr: false,
  },
  DPMSolverMultistepScheduler: {
    ...COMMON,
    solver_order: 2,
    thresholding: false,
    dynamic_thresholding_ratio: 0.995,
    sample_max_value: 1.0,
    algorithm_type: 'dpmsolver++',
    solver_type: 'midpoint',
    lower_order_final: true,
    euler_at_final: false,
    use_karras_sigmas: false,
    use_lu_lambdas: false,
    final_sigmas_type: 'zero',
    lambda_min_clipped: Number.NEGATIVE_INFINITY,
    variance_type: null,
    timestep_spacing: 'linspace',
    rescale_betas_zero_snr: false,
  },
  LMSDiscreteScheduler: {
    ...COMMON,
    use_karras_sigmas: false,
    timestep_spacing: 'linspace',
  },
};

export const SCHEDULER_CLASS_NAMES = Object.keys(SCHEDULER_DEFAULTS) as SchedulerClassName[];

/** Short names a user may type (`--scheduler euler_a`), mapped to diffusers class names. */
export const SCHEDULER_ALIASES: Readonly<Record<string, SchedulerClassName>> = {
  ddim: 'DDIMScheduler',
  pndm: 'PNDMScheduler',
  plms: 'PNDMScheduler',
  euler: 'EulerDiscreteScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  euler_ancestral: 'EulerAncestralDiscreteScheduler',
  'euler-ancestral': 'EulerAncestralDiscreteScheduler',
  dpmpp_2m: 'DPMSolverMultistepScheduler',
  'dpm++2m': 'DPMSolverMultistepScheduler',
  'dpm++': 'DPMSolverMultistepScheduler',
  dpm: 'DPMSolverMultistepScheduler',
  lms: 'LMSDiscreteScheduler',
};

/** Resolves a class name or alias (case-insensitive for aliases). */
export function resolveSchedulerName(name: string): SchedulerClassName {
  if ((SCHEDULER_CLASS_NAMES as string[]).includes(name)) return name as SchedulerClassName;
  const alias = SCHEDULER_ALIASES[name.toLowerCase()];
  if (alias) return alias;
  throw new ConfigError(
    'BAD_CONFIG',
    `unknown scheduler "${name}": use one of ${SCHEDULER_CLASS_NAMES.join(', ')} or ${Object.keys(SCHEDULER_ALIASES).join(', ')}`,
  );
}

/**
 * `Cls.from_config(config, **overrides)`: the class defaults, overlaid with the keys of `config` the class
 * knows, overlaid with `overrides` (which must all be keys the class knows).
 */
export function configForClass(cls: SchedulerClassName, config: SchedulerConfig, overrides: SchedulerConfig = {}): SchedulerConfig {
  const defaults = SCHEDULER_DEFAULTS[cls];
  const out: Record<string, unknown> = { ...defaults };
  for (const key of Object.keys(defaults)) if (key in config) out[key] = config[key];
  for (const [key, value] of Object.entries(overrides)) {
    if (key === '_class_name') continue;
    if (!(key in defaults)) {
      throw new ConfigError('BAD_CONFIG', `${cls} has no option "${key}" (its options: ${Object.keys(defaults).join(', ')})`);
    }
    out[key] = value;
  }
  out._class_name = cls;
  return out;
}

export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** Typed access to the options every scheduler shares. */
export function readCommon(cfg: ConfigReader, predictions: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample']) {
  return {
    numTrainTimesteps: cfg.count('num_train_timesteps'),
    betaStart: cfg.number('beta_start'),
    betaEnd: cfg.number('beta_end'),
    betaSchedule: cfg.oneOf('beta_schedule', ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const),
    trainedBetas: cfg.has('trained_betas') ? cfg.numbers('trained_betas') : null,
    predictionType: cfg.oneOf('prediction_type', predictions),
    stepsOffset: cfg.int('steps_offset'),
    timestepSpacing: cfg.oneOf('timestep_spacing', ['leading', 'linspace', 'trailing'] as const),
    rescaleBetasZeroSnr: cfg.has('rescale_betas_zero_snr') ? cfg.bool('rescale_betas_zero_snr') : false,
  };
}
