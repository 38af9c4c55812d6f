/**
 * MedVAE on files, as `medgpu medvae encode|decode` runs it: the fixture PNG and NIfTI inputs round-trip
 * through latent files (safetensors with metadata, NIfTI latents with the scaled affine) and back to images
 * and volumes; the file path reproduces the reference MVAE latent of the CT case (preprocessing + seeded
 * sliding-window encode); outputs are never overwritten without `overwrite`; and the CLI command runs.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readNifti } from '../../src/io/nifti.js';
import { readImage } from '../../src/io/read-image.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { decodeFile, encodeFile } from '../../src/pipeline/medvae/files.js';
import { decodeLatentMeta } from '../../src/pipeline/medvae/latent-file.js';
import { MedVAE } from '../../src/pipeline/medvae/medvae.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { f32, readSafetensors } from '../helpers/read-safetensors.js';

const dir = join(import.meta.dirname, '../fixtures/medvae');
const out = mkdtempSync(join(tmpdir(), 'medvae-files-'));
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
  cases: { name: string; outputs: Record<string, { tolerance: { max_abs: number } }> }[];
};

describe('MedVAE 3D files (medvae_4_1_3d)', () => {
  let mvae: MedVAE;
  beforeAll(async () => {
    mvae = await MedVAE.load(await getGpu(), { model: 'medvae_4_1_3d', weights: join(dir, 'medvae_4_1_3d/model.safetensors') });
  });
  afterAll(async () => mvae.dispose());

  test('ct.nii.gz → latent file = the reference MVAE latent (seed 2274), NIfTI latent with the scaled affine, recon, decode', async () => {
    const windows: number[] = [];
    const r = await encodeFile(mvae, join(dir, 'inputs/ct.nii.gz'), out, {
      modality: 'ct',
      seed: 2274,
      recon: true,
      onProgress: (d) => windows.push(d),
    });
    expect(windows).toEqual([1]);
    expect(r.outputs.map((p) => p.slice(out.length + 1))).toEqual(['ct.safetensors', 'ct_latent.nii.gz', 'ct_recon.nii.gz']);
    expect(r.latentShape).toEqual([1, 8, 8, 8]);
    const want = f32(readSafetensors(join(dir, 'cases/medvae_4_1_3d_forward_ct.safetensors')), 'mvae_forward_latent');
    const tol = manifest.cases.find((c) => c.name === 'medvae_4_1_3d_forward_ct')?.outputs.mvae_forward_latent?.tolerance.max_abs as number;
    const latent = readSafetensors(join(out, 'ct.safetensors'));
    expect(latent.get('latent')?.shape).toEqual([1, 8, 8, 8]);
    expect(diff(f32(latent, 'latent'), want).maxAbs).toBeLessThanOrEqual(tol);

    const f = await openSafetensors(join(out, 'ct.safetensors'));
    const meta = decodeLatentMeta(f.metadata, 'ct.safetensors');
    await f.close();
    expect(meta).toMatchObject({
      model: 'medvae_4_1_3d',
      modality: 'ct',
      source: 'ct.nii.gz',
      inputShape: [1, 32, 32, 32],
      factor: 4,
      latentKind: 'z',
    });
    expect(meta.sampling).toEqual({ deterministic: false, seed: '2274' });
    expect(meta.volume?.sourceAxcodes).toBe('LPS');

    // The latent NIfTI: voxel (i,j,k) sits at the centre of the 4×4×4 input block it summarises.
    const nii = await readNifti(join(out, 'ct_latent.nii.gz'));
    expect(nii.shape).toEqual([8, 8, 8]);
    const a = meta.volume?.affine as number[][];
    for (let r2 = 0; r2 < 3; r2++) {
      for (let c = 0; c < 3; c++) expect(nii.affine[r2]?.[c]).toBeCloseTo(4 * (a[r2]?.[c] as number), 5);
      const centre = (a[r2]?.[3] as number) + 1.5 * ((a[r2]?.[0] as number) + (a[r2]?.[1] as number) + (a[r2]?.[2] as number));
      expect(nii.affine[r2]?.[3]).toBeCloseTo(centre, 4);
    }
    expect(diff(nii.data as Float32Array, want).maxAbs).toBeLessThanOrEqual(tol);

    // The reconstruction is in HU within the window; decoding the saved z gives it again, up to the float32
    // rounding of the blend w·z/w the saved z went through (≈1 ulp of z, ×2000 to HU, amplified by the decoder:
    // |err| < 0.02 HU, i.e. 1e-5 in model space).
    const recon = await readNifti(join(out, 'ct_recon.nii.gz'));
    expect(recon.shape).toEqual([32, 32, 32]);
    const dec = await decodeFile(mvae, join(out, 'ct.safetensors'), out);
    expect(dec.outputs).toEqual([join(out, 'ct_decoded.nii.gz')]);
    const decoded = await readNifti(join(out, 'ct_decoded.nii.gz'));
    expect(diff(decoded.data as Float32Array, recon.data as Float32Array).maxAbs).toBeLessThan(0.02);
    expect(decoded.affine).toEqual(recon.affine);
  });

  test('existing outputs are refused before any work, and replaced with overwrite', async () => {
    await expect(encodeFile(mvae, join(dir, 'inputs/ct.nii.gz'), out, { modality: 'ct' })).rejects.toThrow(
      /ct\.safetensors already exists/,
    );
    await expect(encodeFile(mvae, join(dir, 'inputs/mri.nii.gz'), out, { modality: 'xray' })).rejects.toThrow(
      /modality "xray" is for 2D images/,
    );
    const r = await encodeFile(mvae, join(dir, 'inputs/ct.nii.gz'), out, { modality: 'ct', deterministic: true, overwrite: true });
    expect(r.outputs).toHaveLength(2);
  });
});

describe('MedVAE 2D files and the CLI (medvae_4_1_2d)', () => {
  test('xray_gray.png → latent (stage 2 + z) → recon PNG; decode of the saved z writes the same PNG', async () => {
    const mvae = await MedVAE.load(await getGpu(), { model: 'medvae_4_1_2d', weights: join(dir, 'medvae_4_1_2d/model.safetensors') });
    try {
      const r = await encodeFile(mvae, join(dir, 'inputs/xray_gray.png'), out, { modality: 'xray', seed: 2234, recon: true });
      expect(r.latentShape).toEqual([1, 16, 12]);
      expect(r.metrics?.psnr).toBeGreaterThan(0);
      expect(Math.abs(r.metrics?.ssim ?? 2)).toBeLessThanOrEqual(1);
      const ts = readSafetensors(join(out, 'xray_gray.safetensors'));
      const ref = readSafetensors(join(dir, 'cases/medvae_4_1_2d_forward.safetensors'));
      expect(diff(f32(ts, 'z'), f32(ref, 'z_sample')).maxAbs).toBeLessThan(2e-5);
      expect(diff(f32(ts, 'latent'), f32(ref, 'latent_s2_from_z_sample')).maxAbs).toBeLessThan(5e-6);
      await decodeFile(mvae, join(out, 'xray_gray.safetensors'), out);
      const a = await readImage(join(out, 'xray_gray_recon.png'));
      const b = await readImage(join(out, 'xray_gray_decoded.png'));
      expect([a.width, a.height, a.channels, a.bitDepth]).toEqual([48, 64, 1, 8]);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    } finally {
      await mvae.dispose();
    }
  });

  test('`medgpu medvae encode` runs a folder and refuses to overwrite', async () => {
    const run = promisify(execFile);
    const input = mkdtempSync(join(tmpdir(), 'medvae-cli-in-'));
    copyFileSync(join(dir, 'inputs/xray_gray.png'), join(input, 'a.png'));
    copyFileSync(join(dir, 'inputs/xray_gray.png'), join(input, 'b.png'));
    const cliOut = join(out, 'cli');
    const args = ['tsx', 'src/cli/main.ts', 'medvae', 'encode', '-i', input, '-o', cliOut, '--model', 'medvae_4_1_2d'];
    args.push('--weights', join(dir, 'medvae_4_1_2d/model.safetensors'), '--modality', 'xray', '--deterministic');
    const first = await run('npx', args, { cwd: join(import.meta.dirname, '../..') });
    expect(first.stdout).toMatch(/a\.png -> .*a\.safetensors {2}latent \[1, 16, 12\]/);
    expect(first.stdout).toMatch(/b\.png -> .*b\.safetensors/);
    const second = await run('npx', args, { cwd: join(import.meta.dirname, '../..') }).catch((e: { code: number; stderr: string }) => e);
    expect((second as { code: number }).code).toBe(2);
    expect((second as { stderr: string }).stderr).toMatch(/a\.safetensors already exists; refusing to overwrite it .*--overwrite/);
  });
});
