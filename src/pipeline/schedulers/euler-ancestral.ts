/** EulerAncestralDiscreteScheduler (k-diffusion `sample_euler_ancestral`) as in diffusers 0.30.3. */
import { ConfigError } from '../../runtime/errors.js';
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { f32 } from './numeric.js';
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
    this.rescaleZeroSnrIfConfigured();
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.numInferenceSteps = n;
    const timesteps = this.spacedTimesteps(n);
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
