/** EulerDiscreteScheduler (Karras et al. 2022, Algorithm 2) as in diffusers 0.30.3. */
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { f32 } from './numeric.js';
import type { StepNoise, StepOptions, StepResult } from './scheduler.js';
import { karrasSigmas, sigmaToT } from './schedule.js';
import { SigmaScheduler } from './sigma-scheduler.js';

/** Euler's stochastic "churn" options (diffusers `step` arguments; all off by default). */
export interface EulerChurn {
  sChurn: number;
  sTmin: number;
  sTmax: number;
  sNoise: number;
}

export class EulerDiscreteScheduler<T> extends SigmaScheduler<T> {
  readonly className = 'EulerDiscreteScheduler' as const;
  readonly useKarrasSigmas: boolean;
  readonly finalSigmasType: 'zero' | 'sigma_min';
  readonly timestepType: 'discrete' | 'continuous';
  churn: EulerChurn = { sChurn: 0, sTmin: 0, sTmax: Number.POSITIVE_INFINITY, sNoise: 1 };

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'EulerDiscreteScheduler', config, source);
    this.reader.require('interpolation_type', ['linear'], 'linear');
    this.useKarrasSigmas = this.reader.bool('use_karras_sigmas');
    this.finalSigmasType = this.reader.oneOf('final_sigmas_type', ['zero', 'sigma_min'] as const);
    this.timestepType = this.reader.oneOf('timestep_type', ['discrete', 'continuous'] as const);
    this.rescaleZeroSnrIfConfigured();
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.numInferenceSteps = n;
    let timesteps = this.spacedTimesteps(n);
    let sigmas = this.interpSigmas(timesteps);
    if (this.useKarrasSigmas) {
      const sMin = this.reader.has('sigma_min') ? this.reader.number('sigma_min') : (sigmas[sigmas.length - 1] as number);
      const sMax = this.reader.has('sigma_max') ? this.reader.number('sigma_max') : (sigmas[0] as number);
      sigmas = karrasSigmas(sMin, sMax, n);
      timesteps = sigmas.map((s) => f32(sigmaToT(s, this.logSigmas)));
    }
    const last = this.finalSigmasType === 'zero' ? 0 : (this.trainSigmas[0] as number);
    this.sigmas = Float32Array.from([...sigmas, last]);
    if (this.timestepType === 'continuous' && this.predictionType === 'v_prediction') {
      timesteps = Array.from(this.sigmas.subarray(0, n), (s) => f32(0.25 * f32(Math.log(s))));
    }
    this.timesteps = timesteps;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  stepNoise(): StepNoise {
    // diffusers draws the noise before checking gamma, so it is drawn even when unused.
    return this.gammaAt(this.stepIndex ?? 0) > 0 ? 'used' : 'ignored';
  }

  private gammaAt(index: number): number {
    const sigma = this.sigmas?.[index] ?? 0;
    const { sChurn, sTmin, sTmax } = this.churn;
    const n = (this.sigmas?.length ?? 1) - 1;
    return sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / n, 2 ** 0.5 - 1) : 0;
  }

  step(modelOutput: T, t: number, sample: T, options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const i = this.initStepIndex(t);
    const sigma = this.sigmaAt(i);
    const gamma = this.gammaAt(i);
    const sigmaHat = sigma * (gamma + 1);
    let S = Combo.of<T>([1, sample]);
    if (gamma > 0) {
      const noise = this.noiseRequired(options.noise, 's_churn > 0');
      S = S.plus(Combo.of([this.churn.sNoise * Math.sqrt(sigmaHat * sigmaHat - sigma * sigma), noise]));
    }
    // x0: diffusers uses sigma_hat for epsilon and sigma for v-prediction.
    let x0: Combo<T>;
    if (this.predictionType === 'epsilon') x0 = S.plus(Combo.of([-sigmaHat, modelOutput]));
    else if (this.predictionType === 'sample') x0 = Combo.of([1, modelOutput]);
    else x0 = Combo.of<T>([-sigma / Math.sqrt(sigma * sigma + 1), modelOutput]).plus(S, 1 / (sigma * sigma + 1));
    const derivative = S.minus(x0).times(1 / sigmaHat);
    const dt = this.sigmaAt(i + 1) - sigmaHat;
    const prevSample = S.plus(derivative, dt).materialize(this.ops);
    const predOriginalSample = options.returnPredOriginal ? x0.materialize(this.ops) : undefined;
    this.stepIndex = i + 1;
    return { prevSample, predOriginalSample };
  }
}
