/**
 * What the sigma-parameterised schedulers (Euler, Euler ancestral, LMS) share: x_t = x₀ + σ·ε, the model
 * input scaled by 1/√(σ²+1), x₀ predicted from the model output, and `add_noise` = x₀ + σ·ε.
 */
import { Combo } from './combo.js';
import type { SchedulerClassName, SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { f32, interpUniform, npArange, npLinspace, roundHalfEven } from './numeric.js';
import { Scheduler } from './scheduler.js';
import { trainSigmas } from './schedule.js';

export abstract class SigmaScheduler<T> extends Scheduler<T> {
  /** σ of every train timestep (float32). */
  readonly trainSigmas: Float32Array;
  /** log σ of every train timestep (float32, `np.log` of the float32 sigmas). */
  readonly logSigmas: Float32Array;

  constructor(ops: LatentOps<T>, cls: SchedulerClassName, config: SchedulerConfig, source?: string) {
    super(ops, cls, config, source);
    this.trainSigmas = trainSigmas(this.alphasCumprod);
    this.logSigmas = this.trainSigmas.map((s) => Math.log(s));
  }

  /**
   * diffusers' `rescale_betas_zero_snr` for the sigma schedulers (Euler, Euler ancestral): the last ᾱ set close
   * to 0 without being 0, so the first sigma is not infinite; train sigmas follow.
   */
  protected rescaleZeroSnrIfConfigured(): void {
    if (!this.reader.bool('rescale_betas_zero_snr')) return;
    this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    this.trainSigmas.set(this.alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a)))));
    this.logSigmas.set(this.trainSigmas.map((s) => Math.log(s)));
  }

  /** The float32 timesteps of `n` steps for the configured `timestep_spacing` (Euler and Euler ancestral). */
  protected spacedTimesteps(n: number): number[] {
    const N = this.numTrainTimesteps;
    if (this.timestepSpacing === 'linspace') {
      return npLinspace(0, N - 1, n)
        .map(f32)
        .reverse();
    }
    if (this.timestepSpacing === 'leading') {
      const ratio = Math.floor(N / n);
      return Array.from({ length: n }, (_, i) => f32(roundHalfEven(i * ratio) + this.stepsOffset)).reverse();
    }
    return npArange(N, 0, -N / n).map((x) => f32(roundHalfEven(x) - 1));
  }

  /** `np.interp(timesteps, arange(N), sigmas)` in float64. */
  protected interpSigmas(timesteps: readonly number[]): number[] {
    return timesteps.map((t) => interpUniform(t, this.trainSigmas));
  }

  /** max σ, or √(max σ² + 1) for `leading` spacing, in float32 as diffusers computes it. */
  override get initNoiseSigma(): number {
    const sigmas = this.sigmas;
    if (!sigmas) return 1;
    let max = Number.NEGATIVE_INFINITY;
    for (const s of sigmas) max = Math.max(max, s);
    if (this.timestepSpacing === 'linspace' || this.timestepSpacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  protected sigmaAt(i: number): number {
    const s = this.sigmas?.[i];
    if (s === undefined) throw new Error(`${this.className}: step index ${i} is past the end of the schedule`);
    return s;
  }

  override scaleModelInput(sample: T, t: number): T {
    this.requireTimesteps();
    const sigma = this.sigmaAt(this.initStepIndex(t));
    return this.ops.lincomb([[1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))), sample]]);
  }

  /** x₀ from the model output at noise level σ. */
  protected predictX0(sample: T, modelOutput: T, sigma: number): Combo<T> {
    if (this.predictionType === 'epsilon') return Combo.of<T>([1, sample], [-sigma, modelOutput]);
    if (this.predictionType === 'sample') return Combo.of<T>([1, modelOutput]);
    // v-prediction: denoised = model_output·c_out + input·c_skip
    return Combo.of<T>([-sigma / Math.sqrt(sigma * sigma + 1), modelOutput], [1 / (sigma * sigma + 1), sample]);
  }

  /** diffusers `add_noise` for sigma schedulers: x₀ + σ·ε at the begin index (img2img) or at `t`'s index. */
  addNoise(original: T, noise: T, t: number): T {
    // diffusers: the timestep's own index without a begin index; else the current step (inpainting, after
    // the first step) or the begin index (img2img, before it).
    const index = this.beginIndex === null ? this.indexForTimestep(t) : (this.stepIndex ?? this.beginIndex);
    return this.ops.lincomb([
      [1, original],
      [this.sigmaAt(index), noise],
    ]);
  }
}
