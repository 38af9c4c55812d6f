/**
 * The schedulers driving GPU tensors through GpuLatentOps: 4-step rollouts of every scheduler class compared
 * with the CPU ops (same coefficients, so only float32 kernel rounding differs: bound 1e-5 relative to the
 * tensor's scale) and with the diffusers fixture within its tolerance; no tensor leaks once the scheduler is
 * reset; and clip_sample's clamp.
 */
import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../src/pipeline/schedulers/factory.js';
import { GpuLatentOps } from '../../src/pipeline/schedulers/gpu-latent-ops.js';
import { CpuLatentOps } from '../../src/pipeline/schedulers/latent-ops.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { f32 } from '../helpers/read-safetensors.js';
import { loadCaseConfig, loadCaseTensors, loadSchedulerManifest, row } from './scheduler-fixtures.js';

const cases = loadSchedulerManifest().filter((c) => c.params.num_inference_steps === 4);

describe('schedulers on the GPU', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: GPU rollout = CPU rollout = diffusers', async (_name, c) => {
    const gpu = await getGpu();
    const t = loadCaseTensors(c);
    const shape = t.get('sample0')!.shape;
    const cpuOps = new CpuLatentOps();
    const gpuOps = new GpuLatentOps(gpu);
    const cpu = schedulerFromConfig(loadCaseConfig(c), cpuOps);
    const dev = schedulerFromConfig(loadCaseConfig(c), gpuOps);
    cpu.setTimesteps(c.params.num_inference_steps);
    dev.setTimesteps(c.params.num_inference_steps);
    const before = gpu.memory().liveBytes;
    let cpuSample = cpuOps.lincomb([[cpu.initNoiseSigma, f32(t, 'sample0')]]);
    let devSample: Tensor = gpu.upload(cpuSample, shape);
    const outs = t.get('model_outputs')!;
    const noises = t.get('step_noises');
    const samples = t.get('samples')!;
    const tol = c.outputs.samples!.tolerance;
    for (const [i, ti] of cpu.timesteps.entries()) {
      const cpuIn = cpu.scaleModelInput(cpuSample, ti);
      const devIn = dev.scaleModelInput(devSample, ti);
      expect(diff(await gpu.read(devIn), cpuIn).maxRel, `step ${i} model input`).toBeLessThanOrEqual(1e-6);
      if (devIn !== devSample) devIn.release();
      const out = row(outs, i);
      const noise = noises ? row(noises, i) : undefined;
      const devOut = gpu.upload(out, shape);
      const devNoise = noise ? gpu.upload(noise, shape) : undefined;
      const r = cpu.step(out, ti, cpuSample, { noise });
      const d = dev.step(devOut, ti, devSample, { noise: devNoise });
      // The caller owns its inputs and the returned sample; the scheduler keeps copies of what it needs.
      devOut.release();
      devNoise?.release();
      devSample.release();
      devSample = d.prevSample;
      cpuSample = r.prevSample;
      const got = await gpu.read(devSample);
      expect(diff(got, cpuSample).maxRel, `step ${i}: GPU vs CPU ops`).toBeLessThanOrEqual(1e-5);
      expect(diff(got, row(samples, i)).maxAbs, `step ${i}: GPU vs diffusers`).toBeLessThanOrEqual(tol.max_abs);
    }
    devSample.release();
    dev.reset();
    expect(gpu.memory().liveBytes, 'tensors left alive after reset').toBe(before);
  });

  it('GpuLatentOps.clamp: exact inside the range, the bound outside', async () => {
    const gpu = await getGpu();
    const ops = new GpuLatentOps(gpu);
    const x = Float32Array.from({ length: 257 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 3));
    x[0] = 0.5;
    x[1] = -0.5;
    x[2] = 1e-30;
    const y = await gpu.read(ops.clamp(gpu.upload(x, [x.length]), -0.5, 0.5));
    const want = new CpuLatentOps().clamp(x, -0.5, 0.5);
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]!) <= 0.5) expect(y[i], `element ${i}`).toBe(want[i]);
      else expect(Math.abs(y[i]! - want[i]!), `element ${i}`).toBeLessThanOrEqual(1e-7);
    }
  });

  it('DDIM with clip_sample: GPU step = CPU step, x₀ within the clip range', async () => {
    const gpu = await getGpu();
    const ddim = cases.find((c) => c.name === 'ddim_4steps')!;
    const t = loadCaseTensors(ddim);
    const shape = t.get('sample0')!.shape;
    const config = { ...loadCaseConfig(ddim), clip_sample: true, clip_sample_range: 0.5 };
    const cpu = schedulerFromConfig(config, new CpuLatentOps());
    const dev = schedulerFromConfig(config, new GpuLatentOps(gpu));
    cpu.setTimesteps(4);
    dev.setTimesteps(4);
    const sample = f32(t, 'sample0');
    const out = row(t.get('model_outputs')!, 0);
    const ti = cpu.timesteps[0]!;
    const r = cpu.step(out, ti, sample, { returnPredOriginal: true });
    const d = dev.step(gpu.upload(out, shape), ti, gpu.upload(sample, shape), { returnPredOriginal: true });
    const want = r.predOriginalSample!;
    // The range is narrow enough that some values are clipped and some are not.
    expect(want.some((v) => Math.abs(v) === 0.5) && want.some((v) => Math.abs(v) < 0.5)).toBe(true);
    expect(Math.max(...want.map(Math.abs))).toBe(0.5);
    expect(diff(await gpu.read(d.predOriginalSample!), want).maxAbs).toBeLessThanOrEqual(1e-6);
    expect(diff(await gpu.read(d.prevSample), r.prevSample).maxRel).toBeLessThanOrEqual(1e-5);
  });
});
