/**
 * MedVAE cases (`fixtures/medvae`): the reference preprocessing of the PNG and NIfTI inputs, and the model
 * cases (posterior read-outs, decoded z and mean, stage-2 latents, the 3D sliding-window latent), computed by
 * `computeMedvaeCase` in the reference's layout and compared with the stored outputs.
 */
import { computeMedvaeCase } from '../../pipeline/medvae/fixture-case.js';
import { type OutputCheck, failedCheck } from '../compare.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput } from '../runner.js';

export const runMedvaeCase: CaseRunner = async ({ gpu }, m, c) => {
  const tensors = await readCaseTensors(m, c);
  const got = await computeMedvaeCase(
    {
      gpu,
      caseDir: m.dir,
      modelDir: c.model ? caseModelDir(m, c) : undefined,
      input: (name) => {
        const t = tensorOf(tensors, name, c.name);
        return { shape: t.shape, data: valuesOf(t) };
      },
    },
    c,
  );
  const checks: OutputCheck[] = [];
  for (const name of Object.keys(c.outputs ?? {})) {
    const g = got.get(name);
    if (g) checks.push(checkOutput(c, name, g, valuesOf(tensorOf(tensors, name, c.name))));
    else checks.push(failedCheck({ case: c.name, module: c.module, output: name }, 'the MedVAE runner computes no such output'));
  }
  return checks;
};
