/**
 * LMSDiscreteScheduler (k-diffusion `sample_lms`) as in diffusers 0.30.3: a linear multistep method of up to
 * order 4 in sigma. diffusers integrates each Lagrange basis polynomial with scipy `quad`; the integrand is a
 * polynomial of degree < 4, so a 4-point Gauss–Legendre rule integrates it exactly (we use 8 points).
 */
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { integrate, npArange, npLinspace, roundHalfEven } from './numeric.js';
import type { StepNoise, StepOptions, StepResult } from './scheduler.js';
import { karrasSigmas, sigmaToT } from './schedule.js';
import { SigmaScheduler } from './sigma-scheduler.js';

export class LMSDiscreteScheduler<T> extends SigmaScheduler<T> {
  readonly className = 'LMSDiscreteScheduler' as const;
  readonly useKarrasSigmas: boolean;
  /** Multistep order used by `step` (diffusers' `order` argument of `step`, default 4). */
  lmsOrder = 4;
  /** Retained derivatives, oldest first. */
  private derivatives: T[] = [];

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'LMSDiscreteScheduler', config, source);
    this.useKarrasSigmas = this.reader.bool('use_karras_sigmas');
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.reset();
    this.numInferenceSteps = n;
    const N = this.numTrainTimesteps;
    let timesteps: number[];
    if (this.timestepSpacing === 'linspace') {
      timesteps = npLinspace(0, N - 1, n).reverse();
    } else if (this.timestepSpacing === 'leading') {
      const ratio = Math.floor(N / n);
      timesteps = Array.from({ length: n }, (_, i) => roundHalfEven(i * ratio) + this.stepsOffset).reverse();
    } else {
      timesteps = npArange(N, 0, -N / n).map((x) => roundHalfEven(x) - 1);
    }
    let sigmas = this.interpSigmas(timesteps);
    if (this.useKarrasSigmas) {
      sigmas = karrasSigmas(sigmas[sigmas.length - 1] as number, sigmas[0] as number, n);
      timesteps = sigmas.map((s) => sigmaToT(s, this.logSigmas));
    }
    this.sigmas = Float32Array.from([...sigmas, 0]);
    this.timesteps = timesteps;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  stepNoise(): StepNoise {
    return 'none';
  }

  override reset(): void {
    for (const d of this.derivatives) this.ops.drop(d);
    this.derivatives = [];
  }

  /** ∫ over [σ_t, σ_{t+1}] of the Lagrange basis polynomial of history entry `current` (diffusers `get_lms_coefficient`). */
  lmsCoefficient(order: number, t: number, current: number): number {
    const s = (k: number) => this.sigmaAt(k);
    const basis = (tau: number) => {
      let prod = 1;
      for (let k = 0; k < order; k++) {
        if (k === current) continue;
        prod *= (tau - s(t - k)) / (s(t - current) - s(t - k));
      }
      return prod;
    };
    return integrate(basis, s(t), s(t + 1));
  }

  step(modelOutput: T, t: number, sample: T, options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const i = this.initStepIndex(t);
    const sigma = this.sigmaAt(i);
    const x0 = this.predictX0(sample, modelOutput, sigma);
    // derivative = (sample - x0) / sigma, kept as a tensor for the next steps.
    const derivative = x0.times(-1 / sigma);
    const withSample = derivative.plus(Combo.of<T>([1, sample]), 1 / sigma);
    this.derivatives.push(this.ops.retain(withSample.materialize(this.ops)));
    if (this.derivatives.length > this.lmsOrder) this.ops.drop(this.derivatives.shift() as T);
    const order = Math.min(i + 1, this.lmsOrder);
    const newestFirst = [...this.derivatives].reverse();
    // diffusers sums the (small) history terms first and then adds the sample; adding each term to the
    // sample instead costs up to `order` roundings at the sample's magnitude, which the tolerance notices.
    const terms = Array.from({ length: order }, (_, k) => [this.lmsCoefficient(order, i, k), newestFirst[k] as T] as const);
    const update = this.ops.lincomb(terms);
    const prevSample = this.ops.lincomb([
      [1, sample],
      [1, update],
    ]);
    this.ops.drop(update);
    const predOriginalSample = options.returnPredOriginal ? x0.materialize(this.ops) : undefined;
    this.stepIndex = i + 1;
    return { prevSample, predOriginalSample };
  }
}
