/** `CLIPTextModel` cases: every hidden state, the final output, the pooled output and diffusers' clip_skip. */
import { CLIPTextModel } from '../../nn/clip/text-model.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { OutputCheck } from '../compare.js';
import { caseModelDir, readCaseTensors, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, checkOutput } from '../runner.js';

export const runTextEncoderCase: CaseRunner = async ({ gpu }, m, c) => {
  const tensors = await readCaseTensors(m, c);
  const ids = tensorOf(tensors, 'input_ids', c.name);
  const [batch] = ids.shape as [number, number];
  const model = await CLIPTextModel.fromPretrained(gpu, caseModelDir(m, c));
  const want = (name: string) => valuesOf(tensorOf(tensors, name, c.name));
  const checks: OutputCheck[] = [];
  try {
    await gpu.scopeAsync(async () => {
      const idValues = valuesOf(ids);
      const out = model.forward(gpu, idValues, batch, { outputHiddenStates: true });
      const hidden = out.hiddenStates as Tensor[];
      const read = (t: Tensor) => gpu.read(t);
      const all: Float32Array[] = [];
      for (const h of hidden) all.push(await read(h));
      const stacked = new Float32Array(all.reduce((s, a) => s + a.length, 0));
      for (const [i, a] of all.entries()) stacked.set(a, i * a.length);
      checks.push(checkOutput(c, 'last_hidden_state', await read(out.lastHiddenState), want('last_hidden_state')));
      checks.push(checkOutput(c, 'pooler_output', await read(out.poolerOutput), want('pooler_output')));
      checks.push(checkOutput(c, 'hidden_states', stacked, want('hidden_states')));
      if (c.outputs?.penultimate_hidden_state) {
        checks.push(checkOutput(c, 'penultimate_hidden_state', all[all.length - 2] as Float32Array, want('penultimate_hidden_state')));
      }
      if (c.outputs?.clip_skip_1) {
        checks.push(checkOutput(c, 'clip_skip_1', await read(model.encodePrompt(gpu, idValues, batch, 1)), want('clip_skip_1')));
      }
    });
  } finally {
    model.release();
  }
  return checks;
};
