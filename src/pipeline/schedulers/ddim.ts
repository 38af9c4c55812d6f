/** DDIMScheduler (Song et al. 2020) as in diffusers 0.30.3, with η and `clip_sample`. */
import { ConfigError } from '../../runtime/errors.js';
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { npLinspace, roundHalfEven } from './numeric.js';
import { Scheduler, type StepNoise, type StepOptions, type StepResult } from './scheduler.js';

export class DDIMScheduler<T> extends Scheduler<T> {
  readonly className = 'DDIMScheduler' as const;
  readonly finalAlphaCumprod: number;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'DDIMScheduler', config, source);
    this.finalAlphaCumprod = this.reader.bool('set_alpha_to_one') ? 1 : (this.alphasCumprod[0] as number);
    this.clipSample = this.reader.bool('clip_sample');
    this.clipSampleRange = this.reader.number('clip_sample_range');
    if (this.reader.bool('thresholding')) {
      throw new ConfigError(
        'BAD_CONFIG',
        'DDIMScheduler: "thresholding" (dynamic thresholding for pixel-space models) is not supported; set it to false',
      );
    }
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.numInferenceSteps = n;
    const N = this.numTrainTimesteps;
    if (this.timestepSpacing === 'linspace') {
      this.timesteps = npLinspace(0, N - 1, n)
        .map(roundHalfEven)
        .reverse();
    } else if (this.timestepSpacing === 'leading') {
      this.timesteps = this.leadingTimesteps(n);
    } else {
      this.timesteps = this.trailingTimesteps(n);
    }
  }

  stepNoise(eta = 0): StepNoise {
    return eta > 0 ? 'used' : 'none';
  }

  private alphaAt(t: number): number {
    return t >= 0 ? (this.alphasCumprod[t] as number) : this.finalAlphaCumprod;
  }

  step(modelOutput: T, t: number, sample: T, options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const eta = options.eta ?? 0;
    // diffusers uses N // n for the previous timestep whatever the spacing.
    const prevT = t - Math.floor(this.numTrainTimesteps / (this.numInferenceSteps as number));
    const aT = this.alphaAt(t);
    const aPrev = this.alphaAt(prevT);
    const bT = 1 - aT;
    const S = Combo.of<T>([1, sample]);
    const M = Combo.of<T>([1, modelOutput]);
    let x0: Combo<T>;
    let eps: Combo<T>;
    if (this.predictionType === 'epsilon') {
      x0 = S.minus(M.times(Math.sqrt(bT))).times(1 / Math.sqrt(aT));
      eps = M;
    } else if (this.predictionType === 'sample') {
      x0 = M;
      eps = S.minus(x0.times(Math.sqrt(aT))).times(1 / Math.sqrt(bT));
    } else {
      x0 = S.times(Math.sqrt(aT)).minus(M.times(Math.sqrt(bT)));
      eps = M.times(Math.sqrt(aT)).plus(S.times(Math.sqrt(bT)));
    }
    let clipped: T | null = null;
    if (this.clipSample) {
      const raw = x0.materialize(this.ops);
      clipped = this.ops.clamp(raw, -this.clipSampleRange, this.clipSampleRange);
      this.ops.drop(raw);
      x0 = Combo.of<T>([1, clipped]);
    }
    const variance = ((1 - aPrev) / bT) * (1 - aT / aPrev);
    const std = eta * Math.sqrt(variance);
    if (options.useClippedModelOutput) eps = S.minus(x0.times(Math.sqrt(aT))).times(1 / Math.sqrt(bT));
    let prev = x0.times(Math.sqrt(aPrev)).plus(eps.times(Math.sqrt(1 - aPrev - std * std)));
    if (eta > 0) prev = prev.plus(Combo.of([std, this.noiseRequired(options.noise, `eta = ${eta} > 0`)]));
    const prevSample = prev.materialize(this.ops);
    let predOriginalSample: T | undefined;
    if (options.returnPredOriginal) predOriginalSample = clipped ?? x0.materialize(this.ops);
    else if (clipped) this.ops.drop(clipped);
    return { prevSample, predOriginalSample };
  }

  addNoise(original: T, noise: T, t: number): T {
    return this.addNoiseByAlpha(original, noise, t);
  }
}
