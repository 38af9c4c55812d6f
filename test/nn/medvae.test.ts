/**
 * Every MedVAE model case of the reference fixtures (test/fixtures/medvae/manifest.json: medvae_4_1_2d,
 * medvae_4_3_2d (LoRA), medvae_8_1_2d, medvae_8_4_2d (LoRA, LDM yaml layout), medvae_4_1_3d on CT and MRI
 * volumes): moments, mean, clamped logvar, std, z = mean + std·eps, decoded z and mean, stage-2 latents and
 * the 3D MVAE latent, each within the manifest's stated `max_abs` / `max_rel` (10× the reference's own
 * float32-vs-float64 error).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { openWeights } from '../../src/io/weights.js';
import { MedVAEAutoencoder } from '../../src/nn/medvae/autoencoder.js';
import { parseMedVAEConfigText } from '../../src/nn/medvae/config.js';
import { computeMedvaeCase } from '../../src/pipeline/medvae/fixture-case.js';
import { TorchGenerator } from '../../src/pipeline/rng.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { f32, readSafetensors } from '../helpers/read-safetensors.js';

const root = join(import.meta.dirname, '../fixtures');
const dir = join(root, 'medvae');
interface Case {
  name: string;
  module: string;
  model?: string;
  file: string;
  params: Record<string, unknown>;
  inputs: Record<string, { shape: number[] }>;
  outputs: Record<string, { shape: number[]; tolerance: { max_abs: number; max_rel: number; ref_max_abs_value: number } }>;
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { cases: Case[] };
const modelCases = manifest.cases.filter((c) => c.module.startsWith('medvae AutoencoderKL'));

describe('MedVAE models against the reference fixtures', () => {
  test('the fixtures hold the six model cases', () => {
    expect(modelCases.map((c) => c.name)).toEqual([
      'medvae_4_1_2d_forward',
      'medvae_4_3_2d_forward',
      'medvae_8_1_2d_forward',
      'medvae_8_4_2d_forward',
      'medvae_4_1_3d_forward_ct',
      'medvae_4_1_3d_forward_mri',
    ]);
  });

  test.each(modelCases.map((c) => [c.name, c] as const))('%s: every output within its tolerance', async (_name, c) => {
    const gpu = await getGpu();
    const tensors = readSafetensors(join(dir, c.file));
    const got = await computeMedvaeCase(
      {
        gpu,
        caseDir: dir,
        modelDir: join(root, c.model as string),
        input: (n) => ({ shape: c.inputs[n]?.shape as number[], data: f32(tensors, n) }),
      },
      c,
    );
    const report: string[] = [];
    const failures: string[] = [];
    for (const [name, spec] of Object.entries(c.outputs)) {
      const g = got.get(name);
      expect(g, `${name} computed`).toBeDefined();
      const d = diff(g as Float32Array, f32(tensors, name));
      const rel = d.maxAbs / spec.tolerance.ref_max_abs_value;
      const line = `${name}: max_abs ${d.maxAbs.toExponential(2)} (tol ${spec.tolerance.max_abs.toExponential(2)}), rel ${rel.toExponential(2)}`;
      report.push(line);
      if (!(d.maxAbs <= spec.tolerance.max_abs && rel <= spec.tolerance.max_rel)) failures.push(line);
    }
    console.log(`${c.name}\n  ${report.join('\n  ')}`);
    expect(failures).toEqual([]);
  });

  test('a batch of two images gives each image its own result (per-sample norms, attention within a sample)', async () => {
    const gpu = await getGpu();
    const c = modelCases[0] as Case;
    const ts = readSafetensors(join(dir, c.file));
    const x = f32(ts, 'x');
    const flipped = x.map((v) => -v);
    const config = parseMedVAEConfigText(readFileSync(join(root, c.model as string, 'config.yaml'), 'utf8'), 'config.yaml');
    const src = await openWeights(join(root, c.model as string, 'model.safetensors'));
    const model = new MedVAEAutoencoder(config, { dims: 2, fileShape: (k) => src.info(k)?.shape, loraDefault: false });
    await model.load(gpu, src);
    await src.close();
    const [one, two, both] = await gpu.scopeAsync(async () => {
      const run = async (data: Float32Array, n: number) => gpu.read(model.moments(gpu, gpu.upload(data, [n, 64, 48, 1])));
      const pair = new Float32Array(2 * x.length);
      pair.set(x);
      pair.set(flipped, x.length);
      return [await run(x, 1), await run(flipped, 1), await run(pair, 2)];
    });
    model.release();
    const half = (one as Float32Array).length;
    expect(diff((both as Float32Array).subarray(0, half), one as Float32Array).maxAbs).toBeLessThan(1e-6);
    expect(diff((both as Float32Array).subarray(half), two as Float32Array).maxAbs).toBeLessThan(1e-6);
  });

  test('momentsAsync and decodeAsync give bitwise the sync results, settling after every block', async () => {
    const gpu = await getGpu();
    const c = modelCases[0] as Case;
    const x = f32(readSafetensors(join(dir, c.file)), 'x');
    const config = parseMedVAEConfigText(readFileSync(join(root, c.model as string, 'config.yaml'), 'utf8'), 'config.yaml');
    const src = await openWeights(join(root, c.model as string, 'model.safetensors'));
    const model = new MedVAEAutoencoder(config, { dims: 2, fileShape: (k) => src.info(k)?.shape, loraDefault: false });
    await model.load(gpu, src);
    await src.close();
    try {
      const dd = config.ddconfig;
      // conv_in, num_res_blocks per level (plus attentions), a resample between levels, mid (3), norm, conv_out
      const minStages = 1 + dd.chMult.length * dd.numResBlocks + (dd.chMult.length - 1) + 3 + 2;
      const input = () => gpu.upload(x, [1, 64, 48, 1]);
      const settle = vi.spyOn(gpu, 'settle');
      const [m, mAsync] = await gpu.scopeAsync(async () => [
        await gpu.read(model.moments(gpu, input())),
        await gpu.read(await model.momentsAsync(gpu, input())),
      ]);
      expect(settle.mock.calls.length).toBeGreaterThanOrEqual(minStages);
      expect(Array.from(mAsync as Float32Array)).toEqual(Array.from(m as Float32Array));
      settle.mockClear();
      const z = (m as Float32Array).filter((_, i) => i % (2 * config.embedDim) < config.embedDim);
      const zShape = [1, 64 / 2 ** (dd.chMult.length - 1), 48 / 2 ** (dd.chMult.length - 1), config.embedDim];
      const [d, dAsync] = await gpu.scopeAsync(async () => [
        await gpu.read(model.decode(gpu, gpu.upload(z, zShape))),
        await gpu.read(await model.decodeAsync(gpu, gpu.upload(z, zShape))),
      ]);
      expect(settle.mock.calls.length).toBeGreaterThanOrEqual(minStages);
      settle.mockRestore();
      expect(Array.from(dAsync as Float32Array)).toEqual(Array.from(d as Float32Array));
    } finally {
      model.release();
    }
  });

  test('the seeded torch-compatible generator draws the eps the reference sampled', () => {
    for (const c of modelCases) {
      const eps = f32(readSafetensors(join(dir, c.file)), 'eps');
      const drawn = new TorchGenerator(Number(c.params.torch_seed_before_sample)).randn(eps.length);
      expect(Array.from(drawn), c.name).toEqual(Array.from(eps));
    }
  });
});
