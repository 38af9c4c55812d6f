/**
 * The scheduler interface, named after diffusers' (`set_timesteps`, `timesteps`, `init_noise_sigma`,
 * `scale_model_input`, `step`, `add_noise`, `order`), and the state every diffusers 0.30.3 scheduler shares:
 * the training schedule, the step index, and the img2img begin index.
 */
import { ConfigReader } from '../../nn/config.js';
import { MedgpuError } from '../../runtime/errors.js';
import { type SchedulerClassName, type SchedulerConfig, configForClass, readCommon } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { npArange, roundHalfEven } from './numeric.js';
import { makeAlphasCumprod, makeBetas } from './schedule.js';

/**
 * Whether `step` draws Gaussian noise (of the sample's shape) from the generator, as diffusers does:
 * `'used'`: pass it as `noise`; `'ignored'`: diffusers draws it but does not use it (Euler at s_churn = 0), so
 * a caller that wants seed parity must still draw it to advance the generator; `'none'`: no draw.
 */
export type StepNoise = 'none' | 'ignored' | 'used';

export interface StepOptions<T> {
  /** The noise `step` would draw (see `stepNoise`), already drawn by the caller in diffusers' order. */
  noise?: T;
  /** DDIM η (0 = deterministic DDIM, 1 = DDPM-like). */
  eta?: number;
  /** DDIM `use_clipped_model_output`. */
  useClippedModelOutput?: boolean;
  /** Also return the predicted x₀ (costs one more kernel on the GPU). */
  returnPredOriginal?: boolean;
}

export interface StepResult<T> {
  prevSample: T;
  predOriginalSample?: T;
}

export abstract class Scheduler<T> {
  abstract readonly className: SchedulerClassName;
  /** diffusers `order`: model evaluations per timestep entry (1 for every scheduler here). */
  readonly order: number = 1;
  /** The full config, as `scheduler.config` in diffusers (class defaults filled in). */
  readonly config: SchedulerConfig;
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  readonly predictionType: 'epsilon' | 'v_prediction' | 'sample';
  readonly timestepSpacing: 'leading' | 'linspace' | 'trailing';
  readonly stepsOffset: number;
  /** Timesteps of the current schedule, in the order `step` is called with them. */
  timesteps: number[] = [];
  /** For sigma-based schedulers: one sigma per timestep plus the final one (float32). */
  sigmas: Float32Array | null = null;
  numInferenceSteps: number | null = null;
  protected stepIndex: number | null = null;
  protected beginIndex: number | null = null;
  protected readonly reader: ConfigReader;

  constructor(
    protected readonly ops: LatentOps<T>,
    cls: SchedulerClassName,
    config: SchedulerConfig,
    source = 'scheduler_config.json',
  ) {
    this.config = configForClass(cls, config);
    this.reader = new ConfigReader(this.config, source);
    const c = readCommon(this.reader);
    this.numTrainTimesteps = c.numTrainTimesteps;
    this.predictionType = c.predictionType;
    this.timestepSpacing = c.timestepSpacing;
    this.stepsOffset = c.stepsOffset;
    this.betas = makeBetas(c);
    this.alphasCumprod = makeAlphasCumprod(this.betas);
  }

  /** Builds the inference schedule for `numInferenceSteps` steps and clears any state of a previous run. */
  abstract setTimesteps(numInferenceSteps: number): void;

  /** Does `step` consume noise? (see StepNoise) */
  abstract stepNoise(eta?: number): StepNoise;

  /** Advances one step: from `sample` at timestep `t` to the previous (less noisy) sample. */
  abstract step(modelOutput: T, t: number, sample: T, options?: StepOptions<T>): StepResult<T>;

  /** Noises clean latents to timestep `t` (img2img). */
  abstract addNoise(original: T, noise: T, t: number): T;

  /** The standard deviation of the initial noise (the pipeline multiplies unit-variance latents by it). */
  get initNoiseSigma(): number {
    return 1;
  }

  /**
   * The UNet input for `sample` at `t`. Returns `sample` itself for schedulers that do not scale (DDIM, PNDM,
   * DPM-Solver), as diffusers does: do not release the result separately when it is `sample`.
   */
  scaleModelInput(sample: T, _t: number): T {
    return sample;
  }

  /** diffusers `set_begin_index`: the step index to start from (img2img sets it to `t_start · order`). */
  setBeginIndex(index: number): void {
    this.beginIndex = index;
  }

  /** The index of the step the next `step` call performs, once known. */
  get currentStepIndex(): number | null {
    return this.stepIndex;
  }

  /** Releases every tensor the scheduler holds (history); `setTimesteps` also does this. */
  reset(): void {}

  protected checkSteps(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.numTrainTimesteps) {
      throw new MedgpuError(
        'BAD_ARGUMENT',
        `${this.className}: num_inference_steps must be an integer in 1..${this.numTrainTimesteps} (num_train_timesteps), got ${n}`,
      );
    }
  }

  protected requireTimesteps(): void {
    if (this.numInferenceSteps === null) {
      throw new MedgpuError('BAD_ARGUMENT', `${this.className}: call setTimesteps(n) before step()`);
    }
  }

  /** diffusers `index_for_timestep`: the position of `t` in the schedule (the second one if it repeats). */
  protected indexForTimestep(t: number): number {
    const hits: number[] = [];
    this.timesteps.forEach((v, i) => {
      if (v === t) hits.push(i);
    });
    if (hits.length === 0) {
      throw new MedgpuError('BAD_ARGUMENT', `${this.className}: timestep ${t} is not in the schedule [${this.timesteps.join(', ')}]`);
    }
    return (hits.length > 1 ? hits[1] : hits[0]) as number;
  }

  /** diffusers `_init_step_index`. */
  protected initStepIndex(t: number): number {
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? this.indexForTimestep(t);
    return this.stepIndex;
  }

  /** The (integer) timestep spacings of diffusers' `leading` and `trailing` options. */
  protected leadingTimesteps(n: number): number[] {
    const ratio = Math.floor(this.numTrainTimesteps / n);
    return Array.from({ length: n }, (_, i) => roundHalfEven(i * ratio) + this.stepsOffset).reverse();
  }

  protected trailingTimesteps(n: number): number[] {
    return npArange(this.numTrainTimesteps, 0, -this.numTrainTimesteps / n).map((x) => roundHalfEven(x) - 1);
  }

  /** `add_noise` of the alpha-based schedulers: √ᾱₜ·x₀ + √(1-ᾱₜ)·ε, coefficients in float32 as torch has them. */
  protected addNoiseByAlpha(original: T, noise: T, t: number): T {
    const a = this.alphasCumprod[t];
    if (a === undefined || !Number.isInteger(t)) {
      throw new MedgpuError('BAD_ARGUMENT', `${this.className}.addNoise: timestep ${t} is not in 0..${this.numTrainTimesteps - 1}`);
    }
    return this.ops.lincomb([
      [Math.fround(Math.sqrt(a)), original],
      [Math.fround(Math.sqrt(Math.fround(1 - a))), noise],
    ]);
  }

  protected noiseRequired(noise: T | undefined, why: string): T {
    if (noise === undefined) {
      throw new MedgpuError('BAD_ARGUMENT', `${this.className}.step needs options.noise (${why}); draw it from the generator`);
    }
    return noise;
  }
}
