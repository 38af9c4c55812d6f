/**
 * PNDMScheduler (Liu et al. 2022) as in diffusers 0.30.3: Runge–Kutta warm-up steps (`skip_prk_steps: false`)
 * then linear multistep (PLMS). With `skip_prk_steps` (every Stable Diffusion config), the schedule has N+1
 * entries: the second timestep repeats and the second call averages the first two model outputs.
 */
import { ConfigError } from '../../runtime/errors.js';
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { npLinspace, roundHalfEven } from './numeric.js';
import { Scheduler, type StepNoise, type StepOptions, type StepResult } from './scheduler.js';

export class PNDMScheduler<T> extends Scheduler<T> {
  readonly className = 'PNDMScheduler' as const;
  readonly finalAlphaCumprod: number;
  readonly skipPrkSteps: boolean;
  private prkTimesteps: number[] = [];
  /** Retained copies of past model outputs (at most 4). */
  private ets: T[] = [];
  private counter = 0;
  private curSample: T | null = null;
  /** Runge–Kutta accumulator over retained model outputs. */
  private curModelOutput: T[] = [];
  private curModelOutputCoeffs: number[] = [];

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'PNDMScheduler', config, source);
    this.finalAlphaCumprod = this.reader.bool('set_alpha_to_one') ? 1 : (this.alphasCumprod[0] as number);
    this.skipPrkSteps = this.reader.bool('skip_prk_steps');
    if (this.predictionType === 'sample') {
      throw new ConfigError(
        'BAD_CONFIG',
        'PNDMScheduler: prediction_type "sample" is not supported (diffusers supports epsilon and v_prediction)',
      );
    }
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.reset();
    this.numInferenceSteps = n;
    const N = this.numTrainTimesteps;
    let base: number[];
    if (this.timestepSpacing === 'linspace') base = npLinspace(0, N - 1, n).map(roundHalfEven);
    else if (this.timestepSpacing === 'leading') base = this.leadingTimesteps(n).reverse();
    else base = this.trailingTimesteps(n).reverse();
    let plms: number[];
    if (this.skipPrkSteps) {
      this.prkTimesteps = [];
      plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
    } else {
      const half = Math.floor(Math.floor(N / n) / 2);
      const last4 = base.slice(-4);
      const prk = last4.flatMap((t) => [t, t + half]);
      // prk[:-1].repeat(2)[1:-1][::-1]
      this.prkTimesteps = prk
        .slice(0, -1)
        .flatMap((t) => [t, t])
        .slice(1, -1)
        .reverse();
      plms = base.slice(0, -3).reverse();
    }
    this.timesteps = [...this.prkTimesteps, ...plms];
  }

  stepNoise(): StepNoise {
    return 'none';
  }

  override reset(): void {
    for (const e of this.ets) this.ops.drop(e);
    for (const m of this.curModelOutput) this.ops.drop(m);
    if (this.curSample) this.ops.drop(this.curSample);
    this.ets = [];
    this.curModelOutput = [];
    this.curModelOutputCoeffs = [];
    this.curSample = null;
    this.counter = 0;
  }

  private keepCopy(x: T): T {
    return this.ops.retain(this.ops.lincomb([[1, x]]));
  }

  step(modelOutput: T, t: number, sample: T, _options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const prevSample =
      this.counter < this.prkTimesteps.length && !this.skipPrkSteps
        ? this.stepPrk(modelOutput, t, sample)
        : this.stepPlms(modelOutput, t, sample);
    this.counter++;
    return { prevSample };
  }

  private stepPrk(modelOutput: T, t: number, sample: T): T {
    const ratio = Math.floor(this.numTrainTimesteps / (this.numInferenceSteps as number));
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(ratio / 2);
    const prevT = t - diffToPrev;
    const timestep = this.prkTimesteps[Math.floor(this.counter / 4) * 4] as number;
    const phase = this.counter % 4;
    let mo: Combo<T>;
    if (phase === 0 || phase === 1 || phase === 2) {
      const copy = this.keepCopy(modelOutput);
      this.curModelOutput.push(copy);
      this.curModelOutputCoeffs.push(phase === 0 ? 1 / 6 : 1 / 3);
      if (phase === 0) {
        this.ets.push(this.keepCopy(modelOutput));
        if (this.curSample) this.ops.drop(this.curSample);
        this.curSample = this.keepCopy(sample);
      }
      mo = Combo.of([1, modelOutput]);
    } else {
      mo = Combo.of([1 / 6, modelOutput]);
      this.curModelOutput.forEach((m, i) => {
        mo = mo.plus(Combo.of([this.curModelOutputCoeffs[i] as number, m]));
      });
    }
    const cur = this.curSample ?? sample;
    const prev = this.prevSample(Combo.of([1, cur]), timestep, prevT, mo).materialize(this.ops);
    if (phase === 3) {
      for (const m of this.curModelOutput) this.ops.drop(m);
      this.curModelOutput = [];
      this.curModelOutputCoeffs = [];
    }
    return prev;
  }

  private stepPlms(modelOutput: T, t: number, sample: T): T {
    const ratio = Math.floor(this.numTrainTimesteps / (this.numInferenceSteps as number));
    let timestep = t;
    let prevT = t - ratio;
    if (this.counter !== 1) {
      while (this.ets.length > 3) this.ops.drop(this.ets.shift() as T);
      this.ets.push(this.keepCopy(modelOutput));
    } else {
      prevT = t;
      timestep = t + ratio;
    }
    const e = this.ets;
    const at = (k: number) => Combo.of([1, e[e.length - k] as T]);
    let mo: Combo<T>;
    let S = Combo.of<T>([1, sample]);
    let releaseCurSample = false;
    if (e.length === 1 && this.counter === 0) {
      mo = Combo.of([1, modelOutput]);
      if (this.curSample) this.ops.drop(this.curSample);
      this.curSample = this.keepCopy(sample);
    } else if (e.length === 1 && this.counter === 1) {
      mo = Combo.of<T>([0.5, modelOutput]).plus(at(1), 0.5);
      S = Combo.of([1, this.curSample as T]);
      releaseCurSample = true;
    } else if (e.length === 2) {
      mo = at(1).times(1.5).plus(at(2), -0.5);
    } else if (e.length === 3) {
      mo = at(1)
        .times(23 / 12)
        .plus(at(2), -16 / 12)
        .plus(at(3), 5 / 12);
    } else {
      mo = at(1)
        .times(55 / 24)
        .plus(at(2), -59 / 24)
        .plus(at(3), 37 / 24)
        .plus(at(4), -9 / 24);
    }
    // As diffusers: the multistep combination of model outputs first, then the update of the sample (one
    // combined pass would round every history term at the sample's magnitude).
    const combined = e.length > 1 || this.counter === 1 ? mo.materialize(this.ops) : null;
    const prev = this.prevSample(S, timestep, prevT, combined ? Combo.of([1, combined]) : mo).materialize(this.ops);
    if (combined) this.ops.drop(combined);
    if (releaseCurSample) {
      this.ops.drop(this.curSample as T);
      this.curSample = null;
    }
    return prev;
  }

  /** diffusers `_get_prev_sample` (formula (9) of the PNDM paper). */
  private prevSample(sample: Combo<T>, t: number, prevT: number, modelOutput: Combo<T>): Combo<T> {
    const aT = this.alphasCumprod[t] as number;
    const aPrev = prevT >= 0 ? (this.alphasCumprod[prevT] as number) : this.finalAlphaCumprod;
    const bT = 1 - aT;
    const bPrev = 1 - aPrev;
    let mo = modelOutput;
    if (this.predictionType === 'v_prediction') mo = mo.times(Math.sqrt(aT)).plus(sample, Math.sqrt(bT));
    const sampleCoeff = Math.sqrt(aPrev / aT);
    const denom = aT * Math.sqrt(bPrev) + Math.sqrt(aT * bT * aPrev);
    return sample.times(sampleCoeff).plus(mo, -(aPrev - aT) / denom);
  }

  addNoise(original: T, noise: T, t: number): T {
    return this.addNoiseByAlpha(original, noise, t);
  }
}
