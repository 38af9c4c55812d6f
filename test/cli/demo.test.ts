/**
 * `medgpu demo` in-process into a temp folder: every check passes (the kernel check vs the CPU reference
 * among them), the files exist and load back (the PNG decodes at the generated size with its parameters in
 * the text chunks; the latent safetensors have the shape of the input divided by the factor; the NIfTI
 * latent and reconstruction read back), the closing table lists every phase; a re-run replaces its own
 * outputs, and a file the demo did not write stops it before any work unless `overwrite`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DEMO_MANIFEST } from '../../src/cli/demo-folder.js';
import { DEMO_PROMPT, DEMO_SEED, type DemoReport, formatSummary, runDemo } from '../../src/cli/demo.js';
import { readNifti } from '../../src/io/nifti.js';
import { decodePng } from '../../src/io/png.js';
import { OutputExistsError } from '../../src/io/output.js';
import { readSafetensors } from '../helpers/read-safetensors.js';
import { getGpu } from '../helpers/gpu.js';

const root = mkdtempSync(join(tmpdir(), 'medgpu-demo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('medgpu demo on the bundled tiny models', () => {
  const out = join(root, 'first');
  const lines: string[] = [];
  let report: DemoReport;

  test('runs end to end: every check passes, the kernel check among them', async () => {
    report = await runDemo(await getGpu(), { out, log: (s) => lines.push(s) });
    const text = lines.join('\n');
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'kernel check',
      'text-to-image PNG',
      'MedVAE 2D latent file',
      'MedVAE 2D decode',
      'MedVAE 3D latent file',
      'MedVAE 3D decode',
    ]);
    expect(text).toContain('adapter:');
    expect(text).toMatch(/PASS {2}kernel check: .* max \|gpu - cpu\| = /);
    expect(text).toContain('the image is noise');
    expect(text).toContain("say nothing about MedVAE's quality");
    expect(text).toMatch(/compression: 16× fewer values/);
    expect(text).toMatch(/compression: 64× fewer values/);
    expect(text).toMatch(/PSNR -?\d+\.\d\d dB, SSIM -?\d\.\d{4}/);
  });

  test('the PNG decodes at the generated size and carries the prompt and seed', () => {
    expect(report.files.image.startsWith(join(out, 'text-to-image'))).toBe(true);
    const png = decodePng(readFileSync(report.files.image), report.files.image);
    expect([png.width, png.height, png.channels, png.bitDepth]).toEqual([64, 64, 3, 8]);
    expect(png.text).toMatchObject({ prompt: DEMO_PROMPT, seed: String(DEMO_SEED), steps: '4', size: '64x64' });
  });

  test('the MedVAE files exist and load back with the expected shapes', async () => {
    for (const f of [...report.files.medvae2d, ...report.files.medvae3d]) expect(existsSync(f), f).toBe(true);
    const l2 = readSafetensors(join(out, 'medvae-2d/xray_gray.safetensors'));
    expect(l2.get('latent')?.shape).toEqual([1, 16, 12]); // the 64×48 input / 4
    expect(l2.get('z')?.shape).toEqual([1, 16, 12]);
    const decoded = join(out, 'medvae-2d/xray_gray_decoded.png');
    const recon2 = decodePng(readFileSync(decoded), decoded);
    expect([recon2.width, recon2.height]).toEqual([48, 64]);
    const l3 = readSafetensors(join(out, 'medvae-3d/ct.safetensors'));
    expect(l3.get('latent')?.shape).toEqual([1, 8, 8, 8]); // the 32³ volume / 4
    expect((await readNifti(join(out, 'medvae-3d/ct_latent.nii.gz'))).shape).toEqual([8, 8, 8]);
    expect((await readNifti(join(out, 'medvae-3d/ct_decoded.nii.gz'))).shape).toEqual([32, 32, 32]);
  });

  test('the closing table has every phase, the total and peak memory; the manifest records the run', () => {
    const names = report.phases.map((p) => p.name);
    expect(names).toContain('text-to-image: generate');
    expect(names).toContain('MedVAE 3D: decode latent file');
    for (const p of report.phases) expect(p.seconds).toBeGreaterThanOrEqual(0);
    expect(report.peakGpuBytes).toBeGreaterThan(0);
    expect(report.peakRssBytes).toBeGreaterThan(0);
    const summary = formatSummary(report);
    expect(summary).toMatch(/^total +\d+\.\d\d$/m);
    expect(summary).toMatch(/peak GPU memory \(pool\) \d+\.\d MiB, peak process RSS \d+ MiB/);
    expect(summary).toContain('all 6 checks passed');
    const manifest = JSON.parse(readFileSync(join(out, DEMO_MANIFEST), 'utf8'));
    expect(manifest).toMatchObject({ format: 'medgpu-demo', ok: true });
    expect(manifest.files).toContain('medvae-3d/ct_decoded.nii.gz');
  });

  test('a re-run into the same folder replaces its own outputs', async () => {
    const again = await runDemo(await getGpu(), { out, log: () => {} });
    expect(again.ok).toBe(true);
  });
});

describe('medgpu demo never overwrites files it did not write', () => {
  test('a foreign file at a target path stops the run before any work; overwrite replaces it', async () => {
    const out = join(root, 'foreign');
    mkdirSync(join(out, 'medvae-2d'), { recursive: true });
    const foreign = join(out, 'medvae-2d/xray_gray.safetensors');
    writeFileSync(foreign, 'not ours');
    const lines: string[] = [];
    await expect(runDemo(await getGpu(), { out, log: (s) => lines.push(s) })).rejects.toThrow(OutputExistsError);
    expect(lines).toEqual([]);
    expect(readFileSync(foreign, 'utf8')).toBe('not ours');
    expect(existsSync(join(out, DEMO_MANIFEST))).toBe(false);

    // A manifest that is not the demo's does not make the folder ours either.
    rmSync(foreign);
    writeFileSync(join(out, DEMO_MANIFEST), '{"files": ["medvae-2d/xray_gray.safetensors"]}');
    await expect(runDemo(await getGpu(), { out, log: () => {} })).rejects.toThrow(OutputExistsError);

    writeFileSync(foreign, 'not ours');
    const r = await runDemo(await getGpu(), { out, overwrite: true, log: () => {} });
    expect(r.ok).toBe(true);
    expect(readSafetensors(foreign).get('latent')?.shape).toEqual([1, 16, 12]);
  });
});
