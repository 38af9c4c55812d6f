/**
 * Scheduler behaviour the diffusers fixtures do not cover, checked against values derived independently of
 * the implementation (each expectation says where it comes from): trailing/leading/linspace spacings, Karras
 * sigmas, PNDM's Runge–Kutta warm-up, img2img timestep selection and add_noise, `from_config` inheritance,
 * the lenient config JSON, and a "perfect model" identity that every deterministic sampler must satisfy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../src/pipeline/schedulers/factory.js';
import { img2imgTimesteps } from '../../src/pipeline/schedulers/img2img.js';
import { CpuLatentOps } from '../../src/pipeline/schedulers/latent-ops.js';
import { parseJsonLenient } from '../../src/io/json.js';
import type { LMSDiscreteScheduler } from '../../src/pipeline/schedulers/lms.js';
import type { SigmaScheduler } from '../../src/pipeline/schedulers/sigma-scheduler.js';
import { MedgpuError } from '../../src/runtime/errors.js';
import { diff } from '../helpers/compare.js';

const fixtures = join(import.meta.dirname, '../fixtures/pipelines');
const sd1Config = readFileSync(join(fixtures, 'sd1/scheduler/scheduler_config.json'), 'utf8'); // PNDM, SD1.x hub layout
const sd2Config = readFileSync(join(fixtures, 'sd2/scheduler/scheduler_config.json'), 'utf8'); // DDIM v-prediction
const ops = new CpuLatentOps();
const make = (name: string, overrides: Record<string, unknown> = {}, config: string = sd1Config) =>
  schedulerFromConfig(config, ops, { scheduler: name, overrides });

describe('timestep spacings (diffusers formulas, evaluated by hand)', () => {
  it('trailing: round(arange(N, 0, -N/n)) - 1', () => {
    // N/n = 100: 1000, 900, ..., 100, minus 1. This is also Table 2 "trailing" of Lin et al. 2023 (arXiv 2305.08891).
    const ddim = make('DDIMScheduler', { timestep_spacing: 'trailing' });
    ddim.setTimesteps(10);
    expect(ddim.timesteps).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    // N/n = 333.33…: 1000, 666.67, 333.33 → 1000, 667, 333 → minus 1.
    ddim.setTimesteps(3);
    expect(ddim.timesteps).toEqual([999, 666, 332]);
    const dpm = make('DPMSolverMultistepScheduler', { timestep_spacing: 'trailing' });
    dpm.setTimesteps(4);
    expect(dpm.timesteps).toEqual([999, 749, 499, 249]);
    // PNDM keeps its repeated second entry: [249, 499, 749, 999] ascending, then PLMS order.
    const pndm = make('PNDMScheduler', { timestep_spacing: 'trailing' });
    pndm.setTimesteps(4);
    expect(pndm.timesteps).toEqual([999, 749, 749, 499, 249]);
  });

  it('trailing Euler: sigmas are the train sigmas at those timesteps, init sigma is the largest', () => {
    const euler = make('EulerDiscreteScheduler', { timestep_spacing: 'trailing' }) as SigmaScheduler<Float32Array>;
    euler.setTimesteps(3);
    expect(euler.timesteps).toEqual([999, 666, 332]);
    const train = euler.trainSigmas;
    expect(Array.from(euler.sigmas!)).toEqual([train[999], train[666], train[332], 0]);
    // linspace/trailing: init_noise_sigma = max sigma (not √(σ²+1) as for leading).
    expect(euler.initNoiseSigma).toBe(train[999]);
  });

  it('leading (N // n · i + steps_offset) and linspace (round(linspace(0, N-1, n)))', () => {
    const ddim = make('DDIMScheduler');
    ddim.setTimesteps(10);
    expect(ddim.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    const lin = make('DDIMScheduler', { timestep_spacing: 'linspace' });
    lin.setTimesteps(10); // linspace(0, 999, 10) = 0, 111, …, 999 exactly
    expect(lin.timesteps).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    lin.setTimesteps(4); // 0, 333, 666, 999
    expect(lin.timesteps).toEqual([999, 666, 333, 0]);
  });
});

describe('Karras sigmas', () => {
  // σᵢ = (σ_max^{1/7} + i/(n−1)·(σ_min^{1/7} − σ_max^{1/7}))^7 (Karras et al. 2022, eq. 5), σ_min/σ_max = the
  // train sigmas at t = 0 and 999. Numbers from numpy 1.x evaluating that formula on the fixture alphas_cumprod
  // (σ_min = 0.029167532920837402, σ_max = 14.614645004272461); timesteps from diffusers' `_sigma_to_t`
  // (log-sigma interpolation) in numpy.
  const want = [14.614645004272463, 4.796543349553059, 1.2741052142677387, 0.24795169137433257, 0.029167532920837392];
  const wantT = [999.0, 785.9539622562461, 427.4897887338678, 58.89149383388134, 0.0];

  it('Euler: use_karras_sigmas', () => {
    const euler = make('EulerDiscreteScheduler', { use_karras_sigmas: true, timestep_spacing: 'linspace' });
    euler.setTimesteps(5);
    const sigmas = Array.from(euler.sigmas!);
    expect(sigmas[5]).toBe(0);
    expect(diff(sigmas.slice(0, 5), want.map(Math.fround)).maxRel).toBeLessThanOrEqual(1e-7);
    expect(diff(euler.timesteps, wantT).maxAbs).toBeLessThanOrEqual(2e-4);
    // Independent evaluation of the formula from the schedule's own train sigmas.
    const train = (euler as SigmaScheduler<Float32Array>).trainSigmas;
    const a = train[999]! ** (1 / 7);
    const b = train[0]! ** (1 / 7);
    const formula = [0, 1, 2, 3, 4].map((i) => Math.fround((a + (i / 4) * (b - a)) ** 7));
    expect(diff(sigmas.slice(0, 5), formula).maxRel).toBeLessThanOrEqual(1e-7);
  });

  it('LMS and DPM-Solver: same sigmas; DPM rounds the timesteps and repeats the last sigma', () => {
    const lms = make('LMSDiscreteScheduler', { use_karras_sigmas: true, timestep_spacing: 'linspace' });
    lms.setTimesteps(5);
    expect(diff(Array.from(lms.sigmas!).slice(0, 5), want.map(Math.fround)).maxRel).toBeLessThanOrEqual(1e-7);
    const dpm = make('DPMSolverMultistepScheduler', { use_karras_sigmas: true });
    dpm.setTimesteps(5);
    expect(dpm.timesteps).toEqual([999, 786, 427, 59, 0]);
    const s = Array.from(dpm.sigmas!);
    expect(diff(s.slice(0, 5), want.map(Math.fround)).maxRel).toBeLessThanOrEqual(1e-7);
    expect(s[5]).toBe(s[4]);
  });
});

describe('PNDM Runge–Kutta warm-up (skip_prk_steps = false)', () => {
  it('timesteps: 12 PRK entries (half steps, each twice) then PLMS', () => {
    // _timesteps = 0, 100, …, 900; PRK from the last 4 with half-step 50: repeat(2) + tile([0, 50]) →
    // 600 650 … 950, drop the last, repeat each twice, trim both ends, reverse; PLMS = _timesteps[:-3] reversed.
    const pndm = make('PNDMScheduler', { skip_prk_steps: false, steps_offset: 0 });
    pndm.setTimesteps(10);
    expect(pndm.timesteps).toEqual([900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600, 600, 500, 400, 300, 200, 100, 0]);
  });
});

/**
 * With a model that predicts the true noise ε of x_t = √ᾱ·x₀ + √(1−ᾱ)·ε (or x₀ + σ·ε), every deterministic
 * sampler here lands on x₀ exactly in exact arithmetic: DDIM/PNDM transfer exactly given ε, PLMS/PRK/LMS
 * combine identical predictions with weights summing to one, Euler moves along ε, DPM-Solver++'s update is
 * exact when x₀ is. In float32 the result must be within rounding. (Not PLMS with v-prediction: its warm-up
 * averages v-predictions of two different noise levels, which is not ε-consistent; diffusers does the same.)
 */
describe('perfect-model identity', () => {
  const n = 64;
  const x0 = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 1.3) * 0.8));
  const eps = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i * 0.7 + 0.3) * 1.2));
  const cases: [string, Record<string, unknown>, number][] = [
    ['DDIMScheduler', { set_alpha_to_one: true }, 20],
    ['PNDMScheduler', { set_alpha_to_one: true }, 20],
    ['PNDMScheduler', { set_alpha_to_one: true, skip_prk_steps: false }, 20],
    ['EulerDiscreteScheduler', {}, 20],
    ['EulerDiscreteScheduler', { use_karras_sigmas: true }, 20],
    ['LMSDiscreteScheduler', {}, 20],
    ['DPMSolverMultistepScheduler', {}, 20],
    ['DPMSolverMultistepScheduler', { solver_order: 3 }, 20],
    ['DPMSolverMultistepScheduler', { solver_type: 'heun' }, 20],
    ['DDIMScheduler', { set_alpha_to_one: true, prediction_type: 'v_prediction' }, 20],
    ['EulerDiscreteScheduler', { prediction_type: 'v_prediction' }, 20],
    ['DPMSolverMultistepScheduler', { prediction_type: 'v_prediction' }, 20],
    ['DPMSolverMultistepScheduler', { prediction_type: 'sample' }, 20],
  ];
  it.each(cases.map(([name, o, steps]) => [`${name} ${JSON.stringify(o)}`, name, o, steps] as const))('%s', (_l, name, o, steps) => {
    const s = make(name, o);
    s.setTimesteps(steps);
    const sigmaBased = s.sigmas !== null;
    // The noise level of the sample the model sees at step i, as (alpha, sigma) of x = alpha·x0 + sigma·eps.
    const level = (i: number, t: number): [number, number] => {
      if (s.className === 'DPMSolverMultistepScheduler') {
        const sig = s.sigmas![i]!;
        return [1 / Math.sqrt(sig * sig + 1), sig / Math.sqrt(sig * sig + 1)];
      }
      if (sigmaBased) return [1, s.sigmas![i]!];
      const a = s.alphasCumprod[t]!;
      return [Math.sqrt(a), Math.sqrt(1 - a)];
    };
    let sample = ops.lincomb([
      [level(0, s.timesteps[0]!)[0], x0],
      [level(0, s.timesteps[0]!)[1], eps],
    ]);
    s.timesteps.forEach((t, i) => {
      let out: Float32Array;
      if (s.predictionType === 'epsilon') out = eps;
      else if (s.predictionType === 'sample') out = x0;
      else {
        // v = α·ε − σ·x₀ in variance-preserving form.
        const sig = sigmaBased ? s.sigmas![i]! : Math.sqrt((1 - s.alphasCumprod[t]!) / s.alphasCumprod[t]!);
        const a = 1 / Math.sqrt(sig * sig + 1);
        out = ops.lincomb([
          [a, eps],
          [-sig * a, x0],
        ]);
      }
      s.scaleModelInput(sample, t);
      sample = s.step(out, t, sample).prevSample;
    });
    expect(diff(sample, x0).maxAbs).toBeLessThanOrEqual(2e-5);
  });
});

describe('img2img', () => {
  it('get_timesteps: init = min(int(n·strength), n), t_start = n − init', () => {
    // The fixtures' sd1_img2img_ddim_strength0.6 case: 5 steps → [801, 601, 401, 201, 1], strength 0.6 runs 3.
    const ddim = make('DDIMScheduler');
    ddim.setTimesteps(5);
    expect(ddim.timesteps).toEqual([801, 601, 401, 201, 1]);
    expect(img2imgTimesteps(ddim, 5, 0.6)).toEqual({ timesteps: [401, 201, 1], numSteps: 3, beginIndex: 2 });
    expect(img2imgTimesteps(ddim, 5, 1).numSteps).toBe(5);
    expect(img2imgTimesteps(ddim, 5, 0).timesteps).toEqual([]);
    // int(10 · 0.7) = int(7.000000000000001) = 7
    ddim.setTimesteps(10);
    expect(img2imgTimesteps(ddim, 10, 0.7).numSteps).toBe(7);
    expect(() => img2imgTimesteps(ddim, 10, 1.5)).toThrow(MedgpuError);
  });

  it('add_noise: √ᾱ·x + √(1−ᾱ)·ε (DDIM); x + σ·ε at the begin index (Euler); α·x + σ·ε (DPM)', () => {
    const x = Float32Array.from([1, -2, 0.5]);
    const e = Float32Array.from([0.25, 1, -1]);
    const ddim = make('DDIMScheduler');
    ddim.setTimesteps(5);
    const a = ddim.alphasCumprod[401]!;
    expect(
      diff(
        ddim.addNoise(x, e, 401),
        Array.from(x, (v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * e[i]!),
      ).maxAbs,
    ).toBeLessThan(1e-6);
    const euler = make('EulerDiscreteScheduler');
    euler.setTimesteps(5);
    const { timesteps } = img2imgTimesteps(euler, 5, 0.6);
    const sigma = euler.sigmas![2]!;
    expect(
      diff(
        euler.addNoise(x, e, timesteps[0]!),
        Array.from(x, (v, i) => v + sigma * e[i]!),
      ).maxAbs,
    ).toBeLessThan(1e-6);
    const dpm = make('DPMSolverMultistepScheduler');
    dpm.setTimesteps(5);
    img2imgTimesteps(dpm, 5, 0.6);
    const s = dpm.sigmas![2]!;
    const al = 1 / Math.sqrt(s * s + 1);
    expect(
      diff(
        dpm.addNoise(x, e, dpm.timesteps[2]!),
        Array.from(x, (v, i) => al * v + s * al * e[i]!),
      ).maxAbs,
    ).toBeLessThan(1e-6);
  });
});

describe('from_config and options', () => {
  it('inherits the stored config as diffusers Cls.from_config does', () => {
    // Values of the fixture manifest's pipeline cases (params.scheduler_config, timesteps), diffusers 0.30.3.
    const dpm = make('DPMSolverMultistepScheduler');
    expect(dpm.config.timestep_spacing).toBe('leading'); // inherited from PNDM, not DPM's "linspace" default
    expect(dpm.config.steps_offset).toBe(1);
    expect(dpm.config.solver_type).toBe('midpoint');
    expect(dpm.config.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    dpm.setTimesteps(5);
    expect(dpm.timesteps).toEqual([831, 665, 499, 333, 167]);
    const euler = make('euler', {}, sd2Config);
    expect(euler.predictionType).toBe('v_prediction');
    euler.setTimesteps(3);
    expect(euler.timesteps).toEqual([667, 334, 1]);
    // Without a choice, the stored class.
    expect(schedulerFromConfig(sd1Config, ops).className).toBe('PNDMScheduler');
    expect(schedulerFromConfig(sd2Config, ops).className).toBe('DDIMScheduler');
  });

  it('rejects unknown schedulers, unknown overrides and unsupported options with typed errors', () => {
    expect(() => make('HeunDiscreteScheduler')).toThrow(/unknown scheduler "HeunDiscreteScheduler"/);
    expect(() => make('euler', { solver_order: 2 })).toThrow(/EulerDiscreteScheduler has no option "solver_order"/);
    expect(() => make('ddim', { thresholding: true })).toThrow(MedgpuError);
    expect(() => make('dpm', { algorithm_type: 'dpmsolver' })).toThrow(/final_sigmas_type "zero"/);
    expect(() => make('ddim', { timestep_spacing: 'weird' })).toThrow(/timestep_spacing/);
    const s = make('ddim');
    expect(() => s.step(new Float32Array(1), 1, new Float32Array(1))).toThrow(/setTimesteps/);
    s.setTimesteps(4);
    expect(() => s.step(new Float32Array(1), 751, new Float32Array(1), { eta: 1 })).toThrow(/options.noise/);
    expect(() => s.setTimesteps(0)).toThrow(/num_inference_steps/);
    const ea = make('euler_a');
    ea.setTimesteps(4);
    expect(ea.stepNoise()).toBe('used');
    expect(() => ea.step(new Float32Array(1), ea.timesteps[0]!, new Float32Array(1))).toThrow(/options.noise/);
    expect(make('euler').stepNoise()).toBe('ignored');
    expect(make('ddim').stepNoise(0.5)).toBe('used');
  });

  it('LMS coefficients integrate the Lagrange basis exactly', () => {
    const lms = make('LMSDiscreteScheduler') as LMSDiscreteScheduler<Float32Array>;
    lms.setTimesteps(10);
    const s = Array.from(lms.sigmas!);
    // order 1: ∫ 1 dτ over [σ₃, σ₄]
    expect(lms.lmsCoefficient(1, 3, 0)).toBeCloseTo(s[4]! - s[3]!, 12);
    // order 2, newest entry: ∫ (τ − σ₂)/(σ₃ − σ₂) dτ over [σ₃, σ₄] = ((σ₄−σ₂)² − (σ₃−σ₂)²) / (2(σ₃−σ₂))
    const closed = ((s[4]! - s[2]!) ** 2 - (s[3]! - s[2]!) ** 2) / (2 * (s[3]! - s[2]!));
    expect(lms.lmsCoefficient(2, 3, 0)).toBeCloseTo(closed, 12);
    // the basis sums to 1, so the coefficients sum to σ₄ − σ₃
    const sum = [0, 1, 2, 3].reduce((acc, k) => acc + lms.lmsCoefficient(4, 3, k), 0);
    expect(sum).toBeCloseTo(s[4]! - s[3]!, 12);
  });
});

describe('lenient config JSON', () => {
  it('reads the bare NaN / Infinity / -Infinity Python writes, and leaves strings alone', () => {
    const v = parseJsonLenient('{"a": -Infinity, "b": [NaN, Infinity], "c": "-Infinity NaN", "d": "x\\"Infinity"}') as Record<
      string,
      unknown
    >;
    expect(v.a).toBe(Number.NEGATIVE_INFINITY);
    expect(v.b).toEqual([Number.NaN, Number.POSITIVE_INFINITY]);
    expect(v.c).toBe('-Infinity NaN');
    expect(v.d).toBe('x"Infinity');
    expect(() => parseJsonLenient('{"a": }', 'x.json')).toThrow(/x.json: invalid JSON at line 1, column 7: unexpected "}"/);
  });
});
