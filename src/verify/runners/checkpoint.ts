/**
 * `torch_checkpoint` cases: a PyTorch checkpoint (zip or legacy pickle, F32 or F16, tensors that are views of
 * shared storages) must yield exactly the tensors of its reference safetensors file: same names, shapes and
 * values (an F16 checkpoint: the reference rounded to F16). Read through the engine's weight reader, the one
 * model loading uses; every tensor is compared exactly.
 */
import { openWeights } from '../../io/weights.js';
import { roundToF16 } from '../../runtime/dtype.js';
import { ConfigError } from '../../runtime/errors.js';
import { type OutputCheck, compareOutput, failedCheck } from '../compare.js';
import { joinFixturePath } from '../manifest.js';
import type { CaseRunner } from '../runner.js';

export const runCheckpointCase: CaseRunner = async (_ctx, m, c) => {
  if (typeof c.file !== 'string') throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} has no "file"`);
  let refPath: string;
  if (typeof c.expected === 'string') refPath = joinFixturePath(m.dir, c.expected);
  else if (typeof c.same_tensors_as === 'string') refPath = joinFixturePath(m.root, c.same_tensors_as.split(' ')[0] as string);
  else throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} names no reference ("expected" or "same_tensors_as")`);
  const f16 = c.dtype === 'F16';
  const where = (output: string) => ({ case: c.name, module: c.module, output });
  const ckpt = await openWeights(joinFixturePath(m.dir, c.file));
  const ref = await openWeights(refPath);
  try {
    const checks: OutputCheck[] = [];
    const names = new Set([...ckpt.keys(), ...ref.keys()]);
    const missing = ref.keys().filter((k) => !ckpt.info(k));
    const extra = ckpt.keys().filter((k) => !ref.info(k));
    if (missing.length || extra.length) {
      checks.push(
        failedCheck(
          where('tensor names'),
          `missing ${missing.slice(0, 5).join(', ') || 'none'}; unexpected ${extra.slice(0, 5).join(', ') || 'none'}`,
        ),
      );
    }
    if (typeof c.tensor_count === 'number' && ckpt.keys().length !== c.tensor_count) {
      checks.push(failedCheck(where('tensor count'), `${ckpt.keys().length} tensors, the manifest says ${c.tensor_count}`));
    }
    const tensorChecks: OutputCheck[] = [];
    for (const name of [...names].sort()) {
      const a = ckpt.info(name);
      const b = ref.info(name);
      if (!a || !b) continue;
      if (a.shape.join(',') !== b.shape.join(',')) {
        tensorChecks.push(failedCheck(where(name), `shape [${a.shape}] vs the reference [${b.shape}]`));
        continue;
      }
      if (f16 && a.dtype !== 'F16') tensorChecks.push(failedCheck(where(name), `stored as ${a.dtype}, the case says F16`));
      const got = (await ckpt.read(name, 'f32')) as Float32Array;
      const want = (await ref.read(name, 'f32')) as Float32Array;
      tensorChecks.push(compareOutput(where(name), got, f16 ? roundToF16(want) : want, undefined));
    }
    // One row for the whole state dict when every tensor matches; the failing tensors by name otherwise.
    const failing = tensorChecks.filter((k) => !k.pass);
    if (failing.length) checks.push(...failing);
    else
      checks.push({
        ...where(`all ${tensorChecks.length} tensors`),
        maxAbs: 0,
        maxRel: 0,
        tolAbs: 0,
        tolRel: 0,
        pass: tensorChecks.length > 0,
      });
    return checks;
  } finally {
    await ckpt.close();
    await ref.close();
  }
};
