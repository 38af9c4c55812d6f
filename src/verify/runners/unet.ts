/** `UNet2DConditionModel` cases: (sample, timestep, encoder_hidden_states) → out, NCHW at the edges. */
import { permute } from '../../kernels/layout.js';
import { UNet2DConditionModel } from '../../nn/unet/unet-2d-condition.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput } from '../runner.js';

export const runUNetCase: CaseRunner = async ({ gpu }, m, c) => {
  const tensors = await readCaseTensors(m, c);
  const get = (name: string) => tensorOf(tensors, name, c.name);
  const variant = typeof c.params?.variant === 'string' ? c.params.variant : undefined;
  const model = await UNet2DConditionModel.fromPretrained(gpu, caseModelDir(m, c), { variant });
  try {
    const sample = get('sample');
    const ehs = get('encoder_hidden_states');
    // The case stores the per-sample timesteps diffusers used (a scalar is expanded to the batch).
    const timesteps = Array.from(valuesOf(get('timestep')));
    const got = await gpu.scopeAsync(async () => {
      const x = permute(gpu, gpu.upload(Float32Array.from(valuesOf(sample)), sample.shape), [0, 2, 3, 1]);
      const context = gpu.upload(Float32Array.from(valuesOf(ehs)), ehs.shape);
      const out = model.forward(gpu, x, timesteps, context);
      return gpu.read(permute(gpu, out, [0, 3, 1, 2]));
    });
    return [checkOutput(c, 'out', got, valuesOf(get('out')))];
  } finally {
    model.release();
  }
};
