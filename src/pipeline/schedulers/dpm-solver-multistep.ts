/**
 * DPMSolverMultistepScheduler (Lu et al. 2022, DPM-Solver++) as in diffusers 0.30.3: algorithm types
 * `dpmsolver++` (DPM++ 2M, the usual choice), `sde-dpmsolver++` (DPM++ 2M SDE, needs noise) and `dpmsolver`;
 * solver orders 1–3 (3 not with SDE); `midpoint` or `heun` second-order updates; `lower_order_final`,
 * `euler_at_final`, `final_sigmas_type`, Karras sigmas.
 */
import { ConfigError } from '../../runtime/errors.js';
import { Combo } from './combo.js';
import type { SchedulerConfig } from './config.js';
import type { LatentOps } from './latent-ops.js';
import { f32, interpUniform, npArange, npLinspace, roundHalfEven } from './numeric.js';
import { Scheduler, type StepNoise, type StepOptions, type StepResult } from './scheduler.js';
import { karrasSigmas, sigmaToT, trainSigmas } from './schedule.js';

type Algorithm = 'dpmsolver++' | 'sde-dpmsolver++' | 'dpmsolver';

/** α_t, σ_t and λ_t = log α_t − log σ_t of a Karras sigma (α = 1/√(σ²+1), σ_t = σ·α). */
function alphaSigma(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const s = sigma * alpha;
  return { alpha, sigma: s, lambda: Math.log(alpha) - Math.log(s) };
}

export class DPMSolverMultistepScheduler<T> extends Scheduler<T> {
  readonly className = 'DPMSolverMultistepScheduler' as const;
  readonly solverOrder: number;
  readonly algorithm: Algorithm;
  readonly solverType: 'midpoint' | 'heun';
  readonly lowerOrderFinal: boolean;
  readonly eulerAtFinal: boolean;
  readonly useKarrasSigmas: boolean;
  readonly finalSigmasType: 'zero' | 'sigma_min';
  readonly lambdaMinClipped: number;
  private readonly trainSigmas: Float32Array;
  /** The last `solverOrder` converted model outputs (retained), oldest first; null until filled. */
  private modelOutputs: (T | null)[] = [];
  private lowerOrderNums = 0;

  constructor(ops: LatentOps<T>, config: SchedulerConfig, source?: string) {
    super(ops, 'DPMSolverMultistepScheduler', config, source);
    const r = this.reader;
    this.solverOrder = r.int('solver_order');
    this.algorithm = r.oneOf('algorithm_type', ['dpmsolver++', 'sde-dpmsolver++', 'dpmsolver'] as const);
    this.solverType = r.oneOf('solver_type', ['midpoint', 'heun'] as const);
    this.lowerOrderFinal = r.bool('lower_order_final');
    this.eulerAtFinal = r.bool('euler_at_final');
    this.useKarrasSigmas = r.bool('use_karras_sigmas');
    this.finalSigmasType = r.oneOf('final_sigmas_type', ['zero', 'sigma_min'] as const);
    this.lambdaMinClipped = r.number('lambda_min_clipped');
    r.require('use_lu_lambdas', [false], false);
    r.require('thresholding', [false], false);
    r.require('variance_type', [null], null);
    const maxOrder = this.algorithm === 'sde-dpmsolver++' ? 2 : 3;
    if (this.solverOrder < 1 || this.solverOrder > maxOrder) {
      throw new ConfigError(
        'BAD_CONFIG',
        `DPMSolverMultistepScheduler: solver_order ${this.solverOrder} with ${this.algorithm} must be 1..${maxOrder}`,
      );
    }
    if (this.algorithm === 'dpmsolver' && this.finalSigmasType === 'zero') {
      throw new ConfigError(
        'BAD_CONFIG',
        'DPMSolverMultistepScheduler: final_sigmas_type "zero" is not supported with algorithm_type "dpmsolver"; use "sigma_min"',
      );
    }
    if (r.bool('rescale_betas_zero_snr')) this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  setTimesteps(n: number): void {
    this.checkSteps(n);
    this.reset();
    const N = this.numTrainTimesteps;
    // Clip the schedule where λ_t = log α_t − log σ_t falls below lambda_min_clipped (float32 tensors).
    const lambdas = Array.from(this.alphasCumprod, (a) =>
      f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a)))))),
    );
    const flipped = lambdas.reverse();
    let clipped = 0; // torch.searchsorted(flip(lambda_t), lambda_min_clipped): first index with value >= it
    while (clipped < flipped.length && (flipped[clipped] as number) < this.lambdaMinClipped) clipped++;
    const lastTimestep = N - clipped;
    let timesteps: number[];
    if (this.timestepSpacing === 'linspace') {
      timesteps = npLinspace(0, lastTimestep - 1, n + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, -1);
    } else if (this.timestepSpacing === 'leading') {
      const ratio = Math.floor(lastTimestep / (n + 1));
      timesteps = Array.from({ length: n + 1 }, (_, i) => roundHalfEven(i * ratio))
        .reverse()
        .slice(0, -1)
        .map((t) => t + this.stepsOffset);
    } else {
      timesteps = npArange(lastTimestep, 0, -N / n).map((x) => roundHalfEven(x) - 1);
    }
    let sigmas: number[];
    const logSigmas = this.trainSigmas.map((s) => Math.log(s));
    if (this.useKarrasSigmas) {
      const flippedSigmas = Array.from(this.trainSigmas).reverse();
      sigmas = karrasSigmas(flippedSigmas[flippedSigmas.length - 1] as number, flippedSigmas[0] as number, timesteps.length);
      timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
      // diffusers repeats the last Karras sigma here whatever final_sigmas_type says.
      sigmas = [...sigmas, sigmas[sigmas.length - 1] as number];
    } else {
      sigmas = timesteps.map((t) => interpUniform(t, this.trainSigmas));
      const last = this.finalSigmasType === 'zero' ? 0 : (this.trainSigmas[0] as number);
      sigmas = [...sigmas, last];
    }
    this.sigmas = Float32Array.from(sigmas);
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.modelOutputs = Array<T | null>(this.solverOrder).fill(null);
    this.lowerOrderNums = 0;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  stepNoise(): StepNoise {
    return this.algorithm === 'sde-dpmsolver++' ? 'used' : 'none';
  }

  override reset(): void {
    for (const m of this.modelOutputs) if (m !== null) this.ops.drop(m);
    this.modelOutputs = Array<T | null>(this.solverOrder).fill(null);
    this.lowerOrderNums = 0;
  }

  /** diffusers `index_for_timestep` of this class: the last step for an unknown timestep. */
  protected override indexForTimestep(t: number): number {
    const hits = this.timesteps.flatMap((v, i) => (v === t ? [i] : []));
    if (hits.length === 0) return this.timesteps.length - 1;
    return (hits.length > 1 ? hits[1] : hits[0]) as number;
  }

  private sigma(i: number): number {
    const s = this.sigmas?.[i];
    if (s === undefined) throw new Error(`DPMSolverMultistepScheduler: step index ${i} is past the schedule`);
    return s;
  }

  /** diffusers `convert_model_output`: x₀ (DPM-Solver++) or ε (DPM-Solver) from the model output. */
  private convert(modelOutput: T, sample: T, sigma: number): Combo<T> {
    const { alpha, sigma: s } = alphaSigma(sigma);
    const M = Combo.of<T>([1, modelOutput]);
    const S = Combo.of<T>([1, sample]);
    if (this.algorithm !== 'dpmsolver') {
      if (this.predictionType === 'epsilon') return S.minus(M.times(s)).times(1 / alpha);
      if (this.predictionType === 'sample') return M;
      return S.times(alpha).minus(M.times(s));
    }
    if (this.predictionType === 'epsilon') return M;
    if (this.predictionType === 'sample') return S.minus(M.times(alpha)).times(1 / s);
    return M.times(alpha).plus(S, s);
  }

  step(modelOutput: T, t: number, sample: T, options: StepOptions<T> = {}): StepResult<T> {
    this.requireTimesteps();
    const i = this.initStepIndex(t);
    const n = this.timesteps.length;
    const lowerOrderFinal = i === n - 1 && (this.eulerAtFinal || (this.lowerOrderFinal && n < 15) || this.finalSigmasType === 'zero');
    const lowerOrderSecond = i === n - 2 && this.lowerOrderFinal && n < 15;

    const converted = this.convert(modelOutput, sample, this.sigma(i));
    const kept = this.ops.retain(converted.materialize(this.ops));
    const dropped = this.modelOutputs.shift();
    if (dropped) this.ops.drop(dropped);
    this.modelOutputs.push(kept);

    const noise = this.algorithm === 'sde-dpmsolver++' ? this.noiseRequired(options.noise, 'sde-dpmsolver++') : undefined;
    let prev: Combo<T>;
    if (this.solverOrder === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) prev = this.firstOrder(i, sample, noise);
    else if (this.solverOrder === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) prev = this.secondOrder(i, sample, noise);
    else prev = this.thirdOrder(i, sample);
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    const prevSample = prev.materialize(this.ops);
    this.stepIndex = i + 1;
    return { prevSample };
  }

  private history(k: number): Combo<T> {
    const m = this.modelOutputs[this.modelOutputs.length - k];
    if (!m) throw new Error('DPMSolverMultistepScheduler: missing history');
    return Combo.of([1, m]);
  }

  private firstOrder(i: number, sample: T, noise: T | undefined): Combo<T> {
    const t = alphaSigma(this.sigma(i + 1));
    const s = alphaSigma(this.sigma(i));
    const h = t.lambda - s.lambda;
    const S = Combo.of<T>([1, sample]);
    const m0 = this.history(1);
    if (this.algorithm === 'dpmsolver++') return S.times(t.sigma / s.sigma).plus(m0, -t.alpha * Math.expm1(-h));
    if (this.algorithm === 'dpmsolver') return S.times(t.alpha / s.alpha).plus(m0, -t.sigma * Math.expm1(h));
    const e2h = Math.exp(-2 * h);
    return S.times((t.sigma / s.sigma) * Math.exp(-h))
      .plus(m0, t.alpha * -Math.expm1(-2 * h))
      .plus(Combo.of([t.sigma * Math.sqrt(1 - e2h), noise as T]));
  }

  private secondOrder(i: number, sample: T, noise: T | undefined): Combo<T> {
    const t = alphaSigma(this.sigma(i + 1));
    const s0 = alphaSigma(this.sigma(i));
    const s1 = alphaSigma(this.sigma(i - 1));
    const h = t.lambda - s0.lambda;
    const h0 = s0.lambda - s1.lambda;
    const r0 = h0 / h;
    const m0 = this.history(1);
    const m1 = this.history(2);
    const D0 = m0;
    const D1 = m0.minus(m1).times(1 / r0);
    const S = Combo.of<T>([1, sample]);
    const mid = this.solverType === 'midpoint';
    if (this.algorithm === 'dpmsolver++') {
      const a = t.alpha * Math.expm1(-h);
      return S.times(t.sigma / s0.sigma)
        .plus(D0, -a)
        .plus(D1, mid ? -0.5 * a : t.alpha * (Math.expm1(-h) / h + 1));
    }
    if (this.algorithm === 'dpmsolver') {
      const a = t.sigma * Math.expm1(h);
      return S.times(t.alpha / s0.alpha)
        .plus(D0, -a)
        .plus(D1, mid ? -0.5 * a : -t.sigma * (Math.expm1(h) / h - 1));
    }
    const b = t.alpha * -Math.expm1(-2 * h);
    return S.times((t.sigma / s0.sigma) * Math.exp(-h))
      .plus(D0, b)
      .plus(D1, mid ? 0.5 * b : t.alpha * (-Math.expm1(-2 * h) / (-2 * h) + 1))
      .plus(Combo.of([t.sigma * Math.sqrt(-Math.expm1(-2 * h)), noise as T]));
  }

  private thirdOrder(i: number, sample: T): Combo<T> {
    const t = alphaSigma(this.sigma(i + 1));
    const s0 = alphaSigma(this.sigma(i));
    const s1 = alphaSigma(this.sigma(i - 1));
    const s2 = alphaSigma(this.sigma(i - 2));
    const h = t.lambda - s0.lambda;
    const h0 = s0.lambda - s1.lambda;
    const h1 = s1.lambda - s2.lambda;
    const r0 = h0 / h;
    const r1 = h1 / h;
    const m0 = this.history(1);
    const m1 = this.history(2);
    const m2 = this.history(3);
    const D10 = m0.minus(m1).times(1 / r0);
    const D11 = m1.minus(m2).times(1 / r1);
    const D1 = D10.plus(D10.minus(D11), r0 / (r0 + r1));
    const D2 = D10.minus(D11).times(1 / (r0 + r1));
    const S = Combo.of<T>([1, sample]);
    if (this.algorithm === 'dpmsolver++') {
      return S.times(t.sigma / s0.sigma)
        .plus(m0, -t.alpha * Math.expm1(-h))
        .plus(D1, t.alpha * (Math.expm1(-h) / h + 1))
        .plus(D2, -t.alpha * ((Math.expm1(-h) + h) / (h * h) - 0.5));
    }
    return S.times(t.alpha / s0.alpha)
      .plus(m0, -t.sigma * Math.expm1(h))
      .plus(D1, -t.sigma * (Math.expm1(h) / h - 1))
      .plus(D2, -t.sigma * ((Math.expm1(h) - h) / (h * h) - 0.5));
  }

  /** diffusers `add_noise` of this class: α_t·x₀ + σ_t·ε at the begin index (img2img) or `t`'s index. */
  addNoise(original: T, noise: T, t: number): T {
    const index = this.beginIndex === null ? this.indexForTimestep(t) : (this.stepIndex ?? this.beginIndex);
    const { alpha, sigma } = alphaSigma(this.sigma(index));
    return this.ops.lincomb([
      [alpha, original],
      [sigma, noise],
    ]);
  }
}
