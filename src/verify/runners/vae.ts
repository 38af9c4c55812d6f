/**
 * `AutoencoderKL` cases: encode (mean, logvar, std, latent_sample with the stored noise, and the sample
 * scaled by `scaling_factor`) or decode (latent → image). NCHW at the edges.
 */
import { scale } from '../../kernels/elementwise.js';
import { permute } from '../../kernels/layout.js';
import { AutoencoderKL } from '../../nn/vae/autoencoder-kl.js';
import type { Tensor } from '../../runtime/tensor.js';
import { type OutputCheck, failedCheck } from '../compare.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput } from '../runner.js';

export const runVaeCase: CaseRunner = async ({ gpu }, m, c) => {
  const tensors = await readCaseTensors(m, c);
  const get = (name: string) => tensorOf(tensors, name, c.name);
  const model = await AutoencoderKL.fromPretrained(gpu, caseModelDir(m, c));
  const checks: OutputCheck[] = [];
  try {
    await gpu.scopeAsync(async () => {
      const nhwc = (name: string) => {
        const t = get(name);
        return permute(gpu, gpu.upload(Float32Array.from(valuesOf(t)), t.shape), [0, 2, 3, 1]);
      };
      const check = async (name: string, t: Tensor) => {
        checks.push(checkOutput(c, name, await gpu.read(permute(gpu, t, [0, 3, 1, 2])), valuesOf(get(name))));
      };
      if (tensors.has('image') && c.inputs?.image) {
        const dist = model.encode(gpu, nhwc('image'), { noise: tensors.has('noise') ? nhwc('noise') : undefined });
        const sample = dist.sample;
        const outputs: Record<string, Tensor | undefined> = {
          mean: dist.mean,
          logvar: dist.logvar,
          std: dist.std,
          latent_sample: sample,
          latent_sample_scaled: sample && scale(gpu, sample, model.scalingFactor),
        };
        for (const name of Object.keys(c.outputs ?? {})) {
          const t = outputs[name];
          if (t) await check(name, t);
          else checks.push(failedCheck({ case: c.name, module: c.module, output: name }, 'AutoencoderKL has no such output'));
        }
      } else {
        await check('image', model.decode(gpu, nhwc('latent')));
      }
    });
  } finally {
    model.release();
  }
  return checks;
};
