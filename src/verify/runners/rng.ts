/**
 * `torch_cpu_rng` cases: `g = torch.Generator('cpu').manual_seed(seed)`, `randn(shape)`, then from the same
 * generator `rand(shape2)` and `randn(shape)` again. Must match bit for bit (the stored values are float32,
 * compared exactly).
 */
import { TorchGenerator } from '../../pipeline/rng.js';
import { ConfigError } from '../../runtime/errors.js';
import { compareOutput } from '../compare.js';
import { joinFixturePath, tensorOf, valuesOf } from '../manifest.js';
import { type CaseRunner, cached } from '../runner.js';

export const runRngCase: CaseRunner = async (ctx, m, c) => {
  const { loadSafetensors } = await import('../../io/safetensors.js');
  if (typeof c.file !== 'string' || !Array.isArray(c.shape) || typeof c.randn !== 'string') {
    throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} needs "file", "shape", "randn" (and "rand_after", "randn_after")`);
  }
  const path = joinFixturePath(m.dir, c.file);
  // All cases share one file: read it once per run.
  const tensors = await cached(ctx, `rng:${path}`, () => loadSafetensors(path));
  const seed = typeof c.seed === 'string' ? BigInt(c.seed) : BigInt(c.seed as number);
  const n = (c.shape as number[]).reduce((a, b) => a * b, 1);
  const g = new TorchGenerator(seed);
  const checks = [];
  const exact = (output: string, got: ArrayLike<number>, key: string) =>
    compareOutput({ case: c.name, module: c.module, output }, got, valuesOf(tensorOf(tensors, key, c.name)), undefined);
  checks.push(exact('randn', g.randn(n), c.randn));
  if (typeof c.rand_after === 'string') {
    const want = tensorOf(tensors, c.rand_after, c.name);
    checks.push(exact('rand_after', g.rand(want.data.length), c.rand_after));
  }
  if (typeof c.randn_after === 'string') checks.push(exact('randn_after', g.randn(n), c.randn_after));
  return checks;
};
