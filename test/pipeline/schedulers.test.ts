/**
 * Every scheduler case of test/fixtures/schedulers (diffusers 0.30.3, 7 schedulers × N ∈ {4, 20, 50}) on the
 * CPU ops: timesteps (exact), sigmas and init_noise_sigma, and the full rollout (scaled model inputs, samples,
 * predicted x₀) within each output's stated tolerance (max_abs, and max_rel relative to the tensor's scale).
 */
import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../src/pipeline/schedulers/factory.js';
import { CpuLatentOps } from '../../src/pipeline/schedulers/latent-ops.js';
import { diff } from '../helpers/compare.js';
import { f32 } from '../helpers/read-safetensors.js';
import { type Tolerance, loadCaseConfig, loadCaseTensors, loadSchedulerManifest, row } from './scheduler-fixtures.js';

const cases = loadSchedulerManifest();

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  const d = diff(got, want);
  expect(d.nonFinite, `${what}: non-finite values`).toBe(0);
  expect(d.maxAbs, `${what}: max abs error ${d.maxAbs} at ${d.worstIndex} (tolerance ${tol.max_abs})`).toBeLessThanOrEqual(tol.max_abs);
  expect(d.maxRel, `${what}: max rel error ${d.maxRel} (tolerance ${tol.max_rel})`).toBeLessThanOrEqual(tol.max_rel);
}

describe('schedulers match diffusers 0.30.3 (CPU ops)', () => {
  it('covers all 21 manifest cases', () => {
    expect(cases.length).toBe(21);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const t = loadCaseTensors(c);
    const ops = new CpuLatentOps();
    const s = schedulerFromConfig(loadCaseConfig(c), ops, { source: c.model });
    expect(s.className).toBe(c.module);
    s.setTimesteps(c.params.num_inference_steps);

    // Timesteps: integer ones exactly; float ones (Euler F32, LMS stored as F32) exactly as float32.
    const ts = t.get('timesteps');
    if (!ts) throw new Error('no timesteps');
    const want = Array.from(ts.data as ArrayLike<number | bigint>, Number);
    expect(s.timesteps.map((x) => (ts.dtype === 'F32' ? Math.fround(x) : x))).toEqual(want);
    expect(s.timesteps.length).toBe(c.params.n_step_calls);

    if (t.has('sigmas')) expectWithin(s.sigmas ?? [], f32(t, 'sigmas'), c.outputs.sigmas!.tolerance, 'sigmas');
    expectWithin([s.initNoiseSigma], f32(t, 'init_noise_sigma'), c.outputs.init_noise_sigma!.tolerance, 'init_noise_sigma');

    const sample0 = f32(t, 'sample0');
    let sample = ops.lincomb([[s.initNoiseSigma, sample0]]);
    expectWithin(sample, f32(t, 'initial_sample'), c.outputs.initial_sample!.tolerance, 'initial_sample');
    const scaled = t.get('scaled_model_inputs')!;
    const outs = t.get('model_outputs')!;
    const samples = t.get('samples')!;
    const x0s = t.get('pred_original_samples');
    const noises = t.get('step_noises');
    const got = { inputs: [] as number[], samples: [] as number[], x0s: [] as number[] };
    s.timesteps.forEach((ti, i) => {
      const input = s.scaleModelInput(sample, ti);
      const noise = noises ? row(noises, i) : undefined;
      const r = s.step(row(outs, i), ti, sample, { noise, returnPredOriginal: x0s !== undefined });
      // Per step, the absolute bound (the relative one is defined over the whole stacked output, below).
      const tolS = c.outputs.samples!.tolerance;
      expect(diff(input, row(scaled, i)).maxAbs, `step ${i} scaled_model_input`).toBeLessThanOrEqual(
        c.outputs.scaled_model_inputs!.tolerance.max_abs,
      );
      expect(diff(r.prevSample, row(samples, i)).maxAbs, `step ${i} prev_sample`).toBeLessThanOrEqual(tolS.max_abs);
      got.inputs.push(...input);
      got.samples.push(...r.prevSample);
      if (x0s) got.x0s.push(...r.predOriginalSample!);
      sample = r.prevSample;
    });
    expectWithin(got.inputs, scaled.data as Float32Array, c.outputs.scaled_model_inputs!.tolerance, 'scaled_model_inputs');
    expectWithin(got.samples, samples.data as Float32Array, c.outputs.samples!.tolerance, 'samples');
    if (x0s) expectWithin(got.x0s, x0s.data as Float32Array, c.outputs.pred_original_samples!.tolerance, 'pred_original_samples');
  });
});
