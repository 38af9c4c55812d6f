/** EulerAncestralDiscreteScheduler (k-diffusion `sample_euler_ancestral`) as in diffusers 0.30.3. */
import { ConfigError } from '../../runtime/errors.js';
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { f32, npArange, npLinspace, roundHalfEven } from './numeric.js';
import type { StepNoise, StepOptions, StepResult } from './scheduler.js';
import { SigmaScheduler } from './sigma-scheduler.js';

export class EulerAncestralDiscreteScheduler<T> extends SigmaScheduler<T> {
  readonly className = 'EulerAncestralDiscreteScheduler' as const;

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'EulerAncestralDiscreteScheduler', config, source);
    if (this.predictionType === 'sample') {
      throw new ConfigError(
        'BAD_CONFIG',
        'EulerAncestralDiscreteScheduler: prediction_type "sample" is not implemented in diffusers either',
      );
    }
    if (this.reader.bool('rescale_betas_zero_snr')) {
      this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
      this.trainSigmas.set(this.alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a)))));
      this.logSigmas.set(this.trainSigmas.map((s) => Math.log(s)));
    }
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.numInferenceSteps = n;
    const N = this.numTrainTimesteps;
    let timesteps: number[];
    if (this.timestepSpacing === 'linspace') {
      timesteps = npLinspace(0, N - 1, n)
        .map(f32)
        .reverse();
    } else if (this.timestepSpacing === 'leading') {
      const ratio = Math.floor(N / n);
      timesteps = Array.from({ length: n }, (_, i) => f32(roundHalfEven(i * ratio) + this.stepsOffset)).reverse();
    } else {
      timesteps = npArange(N, 0, -N / n).map((x) => f32(roundHalfEven(x) - 1));
    }
    this.sigmas = Float32Array.from([...this.interpSigmas(timesteps), 0]);
    this.timesteps = timesteps;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  stepNoise(): StepNoise {
    return 'used';
  }

  step(modelOutput: T, t: number, sample: T, options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const i = this.initStepIndex(t);
    const sigmaFrom = this.sigmaAt(i);
    const sigmaTo = this.sigmaAt(i + 1);
    const x0 = this.predictX0(sample, modelOutput, sigmaFrom);
    // float32 scalars, as diffusers computes them with 0-d tensors.
    const from2 = f32(sigmaFrom * sigmaFrom);
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const S = Combo.of<T>([1, sample]);
    const derivative = S.minus(x0).times(1 / sigmaFrom);
    const noise = this.noiseRequired(options.noise, 'ancestral sampling adds fresh noise every step');
    const prev = S.plus(derivative, sigmaDown - sigmaFrom).plus(Combo.of([sigmaUp, noise]));
    const prevSample = prev.materialize(this.ops);
    const predOriginalSample = options.returnPredOriginal ? x0.materialize(this.ops) : undefined;
    this.stepIndex = i + 1;
    return { prevSample, predOriginalSample };
  }
}
