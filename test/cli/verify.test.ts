/**
 * `medgpu verify`: the RNG, tokenizer and scheduler manifests of test/fixtures pass through the module
 * runners (the model manifests are exercised by their own test files); a module without a runner and a case
 * whose runner throws are failures that say why; the CLI prints a table and sets a non-zero exit code.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runVerify } from '../../src/cli/verify.js';
import { verifyFixtures } from '../../src/verify/verify.js';
import { getGpu } from '../helpers/gpu.js';

const tmp = mkdtempSync(join(tmpdir(), 'medgpu-verify-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function writeManifest(folder: string, cases: unknown[]): string {
  const dir = join(tmp, folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ description: 'test', cases }));
  return dir;
}

describe('verifyFixtures', () => {
  it('runs every case of the rng, tokenizer and scheduler manifests, all passing', async () => {
    const gpu = await getGpu();
    const seen: string[] = [];
    const r = await verifyFixtures(gpu, ['test/fixtures/rng', 'test/fixtures/tokenizer', 'test/fixtures/schedulers'], {
      onCase: (_m, c) => seen.push(c.name),
    });
    expect(r.manifests).toHaveLength(3);
    expect(r.cases).toBe(42 + 1 + 21);
    expect(seen).toContain('prompts');
    expect(r.failed).toEqual([]);
    // Exact outputs are compared exactly (token ids, RNG streams, integer timesteps).
    const ids = r.checks.find((k) => k.output === 'input_ids_sd2');
    expect(ids).toMatchObject({ pass: true, maxAbs: 0, tolAbs: 0 });
    // Inputs the manifest lists among outputs, and other libraries' references, are marked, not passed off as checks.
    const na = r.checks.filter((k) => k.notApplicable).map((k) => k.output);
    expect(new Set(na)).toEqual(new Set(['input_ids_openai_clip', 'model_outputs', 'step_noises']));
  }, 120_000);

  it('reads every PyTorch checkpoint case to exactly the reference tensors, and names a mismatch', async () => {
    const gpu = await getGpu();
    const ok = await verifyFixtures(gpu, ['test/fixtures/checkpoints']);
    expect(ok.cases).toBe(4);
    expect(ok.failed).toEqual([]);
    expect(ok.checks.map((k) => k.output)).toEqual(['all 224 tensors', 'all 224 tensors', 'all 224 tensors', 'all 4 tensors']);
    // A checkpoint compared with the wrong reference: its tensor names are reported.
    const dir = writeManifest('ckpt', [
      {
        name: 'wrong',
        module: 'torch_checkpoint',
        file: join(process.cwd(), 'test/fixtures/checkpoints/views_zip.pt'),
        same_tensors_as: join(process.cwd(), 'test/fixtures/checkpoints/views_expected.safetensors'),
        tensor_count: 5,
      },
    ]);
    const bad = await verifyFixtures(gpu, [dir]);
    expect(bad.failed.map((k) => k.output)).toEqual(['tensor count']);
  });

  it('reports a module without a runner and a runner error as failed checks with the reason', async () => {
    const gpu = await getGpu();
    const dir = writeManifest('bad', [
      { name: 'mystery', module: 'SomethingElse', file: 'cases/x.safetensors' },
      { name: 'broken', module: 'CLIPTextModel', model: 'nowhere/text_encoder', file: 'cases/missing.safetensors' },
    ]);
    const r = await verifyFixtures(gpu, [dir]);
    expect(r.failed).toHaveLength(2);
    expect(r.failed[0]?.detail).toMatch(/module "SomethingElse" is not supported/);
    expect(r.failed[1]?.detail).toMatch(/^error: .*missing\.safetensors/);
  });

  it('the CLI prints the table and exits non-zero on a failure', async () => {
    const dir = writeManifest('cli', [{ name: 'mystery', module: 'SomethingElse' }]);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void lines.push(String(s)));
    const before = process.exitCode;
    try {
      await runVerify([dir], {});
      expect(process.exitCode).toBe(1);
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    const text = lines.join('\n');
    expect(text).toMatch(/case +module +output +max abs +max rel +tolerance result/);
    expect(text).toMatch(/1 cases, 1 checks: 0 passed, 1 failed/);
    expect(text).toMatch(/FAILED:\n.*mystery.*SomethingElse/);
  });
});
