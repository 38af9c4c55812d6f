import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatBytes, formatInspect, type InspectReport, inspectPath } from '../../src/cli/inspect.js';

const root = join(import.meta.dirname, '../..');
const fixtures = join(root, 'test/fixtures');

describe('medgpu inspect', () => {
  it('a pipeline folder: components, key config facts, weight files, parameter counts and bytes', async () => {
    const r = await inspectPath(join(fixtures, 'pipelines/sd2'));
    if (r.kind !== 'pipeline') throw new Error(`expected a pipeline report, got ${r.kind}`);
    expect(r.className).toBe('StableDiffusionPipeline');
    expect(r.components.map((c) => c.name)).toEqual(['feature_extractor', 'scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']);
    const unet = r.components.find((c) => c.name === 'unet')!;
    expect(unet.facts).toMatchObject({ use_linear_projection: true, upcast_attention: true, cross_attention_dim: 32 });
    expect(unet.weights).toMatchObject({ format: 'safetensors', variant: null, dtypes: { F32: unet.weights!.tensors } });
    expect(unet.weights!.bytes).toBe(unet.weights!.params * 4);
    expect(r.components.find((c) => c.name === 'scheduler')!.facts).toMatchObject({ prediction_type: 'v_prediction' });
    expect(r.components.find((c) => c.name === 'tokenizer')!.facts.model_max_length).toBe(77);
    expect(r.totals.weightFiles).toBe(3);
    expect(r.totals.params).toBe(r.components.reduce((s, c) => s + (c.weights?.params ?? 0), 0));
    const text = formatInspect(r);
    expect(text).toMatch(/: StableDiffusionPipeline \(diffusers 0\.30\.3\)/);
    expect(text).toMatch(/ {2}unet: diffusers UNet2DConditionModel {2}\(unet\/config\.json\)/);
    expect(text).toMatch(/ {4}config: in_channels=4 .*use_linear_projection=true/);
    expect(text).toMatch(
      / {4}weights: .*unet\/diffusion_pytorch_model\.safetensors \(safetensors\): \d+ tensors, [\d.]+ [kM] params, [\d.]+ MiB \[F32×\d+\]/,
    );
    expect(text).toMatch(/absent: image_encoder, safety_checker/);
    expect(text).toMatch(/total: 3 weight files, [\d.]+ M params, [\d.]+ MiB/);
  });

  it('every fixture model: component folders (with the fp16 variant), MedVAE folders, checkpoints, sharding-free files', async () => {
    const reports: [string, InspectReport][] = [];
    for (const p of [
      'pipelines/sd1',
      'pipelines/sd1/unet',
      'unet/unet_3lvl',
      'medvae/medvae_4_3_2d',
      'checkpoints/medvae_4_3_2d_legacy.ckpt',
      'checkpoints/medvae_4_3_2d_zip_f16.ckpt',
      'checkpoints/views_zip.pt',
    ]) {
      reports.push([p, await inspectPath(join(fixtures, p))]);
    }
    const fp16 = await inspectPath(join(fixtures, 'unet/unet_3lvl'), { variant: 'fp16', tensors: true });
    if (fp16.kind !== 'component') throw new Error('expected a component');
    expect(fp16.component.weights).toMatchObject({ variant: 'fp16', dtypes: { F16: fp16.component.weights!.tensors } });
    expect(fp16.component.weights!.bytes).toBe(fp16.component.weights!.params * 2);
    expect(fp16.component.weights!.list![0]).toEqual({ name: expect.any(String), dtype: 'F16', shape: expect.any(Array) });
    expect(formatInspect(fp16)).toMatch(/\n {6}conv_in\.weight +F16 +\[16, 4, 3, 3\]\n/);
    const byPath = new Map(reports);
    const medvae = byPath.get('medvae/medvae_4_3_2d')!;
    expect(medvae.kind === 'component' && medvae.component.configFile).toBe('config.yaml');
    expect(medvae.kind === 'component' && medvae.component.weights?.tensors).toBe(224);
    const legacy = byPath.get('checkpoints/medvae_4_3_2d_legacy.ckpt')!;
    expect(legacy.kind === 'weights' && legacy.weights.format).toBe('torch-legacy');
    expect(legacy.kind === 'weights' && legacy.weights.tensors).toBe(224);
    const f16 = byPath.get('checkpoints/medvae_4_3_2d_zip_f16.ckpt')!;
    expect(f16.kind === 'weights' && f16.weights.dtypes).toEqual({ F16: 224 });
    for (const [p, r] of reports) expect(formatInspect(r).length, p).toBeGreaterThan(40);
  });

  it('images and volumes', async () => {
    const v = await inspectPath(join(fixtures, 'medvae/inputs/ct.nii.gz'));
    expect(v).toMatchObject({
      kind: 'volume',
      shape: [40, 44, 36],
      dtype: 'I16',
      axcodes: 'LPS',
      affineSource: 'sform',
      scaling: { slope: 1, inter: -1024 },
    });
    expect(formatInspect(v)).toMatch(
      /NIfTI-1 volume \[40, 44, 36\] I16, voxel sizes \[0\.7, 0\.7, 2\], orientation LPS\n {2}scaling: stored \* 1 \+ -1024; values -?\d+ \.\. \d+/,
    );
    const img = await inspectPath(join(fixtures, 'io/images/gray8.png'));
    expect(img).toMatchObject({ kind: 'image', width: 37, height: 23, channels: 1, bitDepth: 8, text: { Software: 'PIL' } });
    expect(formatInspect(img)).toMatch(/image 37x23, 1 channel, 8-bit\n {2}Software: PIL/);
    expect(formatBytes(3 * 1024 * 1024 + 5)).toBe('3.00 MiB');
  });

  it('the CLI command prints the report (text and --json) and reports bad input as a typed error', async () => {
    const run = promisify(execFile);
    const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'src/cli/main.ts'), 'inspect'];
    const text = await run(process.execPath, [...cli, join(fixtures, 'unet/unet_3lvl'), '--variant', 'fp16'], { cwd: root });
    expect(text.stdout).toMatch(/diffusion_pytorch_model\.fp16\.safetensors \(safetensors\): \d+ tensors/);
    const json = await run(process.execPath, [...cli, join(fixtures, 'checkpoints/views_zip.pt'), '--json', '--tensors'], { cwd: root });
    const report = JSON.parse(json.stdout) as InspectReport;
    expect(report.kind === 'weights' && report.weights.list?.length).toBeGreaterThan(0);
    const bad = await run(process.execPath, [...cli, join(fixtures, 'checkpoints/manifest.json')], { cwd: root }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toMatch(/medgpu: .*manifest\.json: no "weight_map" object; not a shard index \[BAD_FILE\]/);
  }, 60_000);
});
