/**
 * Scheduler cases: `Cls.from_config(scheduler_config.json)`, `set_timesteps(N)`, then a rollout from
 * `sample0 · init_noise_sigma` feeding the stored model output of each step (and, for the ancestral and
 * Euler samplers, the stored step noise), run on the GPU with the same `LatentOps` the pipelines use.
 * `model_outputs` and `step_noises` are the rollout's given inputs, so they are reported, not computed.
 */
import { readJsonConfig } from '../../io/hub.js';
import { GpuLatentOps } from '../../pipeline/schedulers/gpu-latent-ops.js';
import { schedulerFromConfig } from '../../pipeline/schedulers/factory.js';
import type { Tensor } from '../../runtime/tensor.js';
import { type OutputCheck, notComputed } from '../compare.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput, stack } from '../runner.js';

const GIVEN = new Set(['model_outputs', 'step_noises']);

export const runSchedulerCase: CaseRunner = async ({ gpu }, m, c) => {
  const { nodeFileTree } = await import('../../io/node-fs.js');
  const tensors = await readCaseTensors(m, c);
  const dir = caseModelDir(m, c);
  const config = await readJsonConfig(nodeFileTree(dir), 'scheduler_config.json');
  const get = (name: string) => tensorOf(tensors, name, c.name);
  const f32 = (name: string) => Float32Array.from(valuesOf(get(name)));
  const ops = new GpuLatentOps(gpu);
  const s = schedulerFromConfig<Tensor>(config, ops, { source: `${dir}/scheduler_config.json` });
  const steps = Number(c.params?.num_inference_steps);
  s.setTimesteps(steps);
  const sample0 = get('sample0');
  const shape = sample0.shape;
  const per = sample0.data.length;
  const rowOf = (name: string, i: number) => f32(name).subarray(i * per, (i + 1) * per);
  const got: Record<string, ArrayLike<number>> = {
    // Float timesteps are stored as float32.
    timesteps: get('timesteps').dtype === 'F32' ? s.timesteps.map(Math.fround) : s.timesteps,
    init_noise_sigma: [s.initNoiseSigma],
  };
  if (s.sigmas) got.sigmas = s.sigmas;
  const inputs: Float32Array[] = [];
  const samples: Float32Array[] = [];
  const x0s: Float32Array[] = [];
  const wantX0 = c.outputs?.pred_original_samples !== undefined;
  await gpu.scopeAsync(async () => {
    let sample = ops.lincomb([[s.initNoiseSigma, gpu.upload(f32('sample0'), shape)]]);
    got.initial_sample = await gpu.read(sample);
    for (const [i, t] of s.timesteps.entries()) {
      const input = s.scaleModelInput(sample, t);
      inputs.push(await gpu.read(input));
      const noise = tensors.has('step_noises') ? gpu.upload(rowOf('step_noises', i), shape) : undefined;
      const r = s.step(gpu.upload(rowOf('model_outputs', i), shape), t, sample, { noise, returnPredOriginal: wantX0 });
      samples.push(await gpu.read(r.prevSample));
      if (wantX0 && r.predOriginalSample) x0s.push(await gpu.read(r.predOriginalSample));
      sample = r.prevSample;
    }
    s.reset();
  });
  got.scaled_model_inputs = stack(inputs);
  got.samples = stack(samples);
  if (wantX0) got.pred_original_samples = stack(x0s);
  const checks: OutputCheck[] = [];
  for (const name of Object.keys(c.outputs ?? {})) {
    const where = { case: c.name, module: c.module, output: name };
    if (GIVEN.has(name)) checks.push(notComputed(where, 'an input the rollout is given'));
    else checks.push(checkOutput(c, name, got[name] ?? [], valuesOf(get(name))));
  }
  return checks;
};
