/**
 * The demo page (web/) in a real browser: Debian's chromium, headless, WebGPU on SwiftShader (no shader-f16,
 * subgroups of 4, 256 invocations per workgroup: the engine's portable f32 paths). The fixture models are
 * chosen through the page's own inputs (the folder input, the file inputs), run there, and compared with the
 * same inputs run in Node (Dawn on lavapipe) and, where the fixture holds them, with the reference outputs.
 *
 * Tolerances: the fixtures bound each f32 implementation's error against the float64 reference by `tol` (the
 * manifest's max_abs, 10× the error PyTorch's own f32 run showed). The page and the Node run are two f32 runs
 * of the same math on different devices (different reduction orders, exp/log implementations), each within
 * `tol` of the reference, so they may differ by up to 2·tol, and that is the bound used. Where the page's
 * inputs reproduce a fixture case exactly (MedVAE: same image, same seed), it must meet the fixture's own
 * `tol` too.
 *
 * Fails (never skips) when chromium is missing: CI installs it (.ci/run). Screenshots: dist/browser-test/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../../src/io/png.js';
import { readImage } from '../../src/io/read-image.js';
import { readNifti } from '../../src/io/nifti.js';
import { imageFileNames } from '../../src/pipeline/diffusion/files.js';
import { toRgb8 } from '../../src/pipeline/diffusion/image.js';
import { StableDiffusionPipeline } from '../../src/pipeline/diffusion/text-to-image.js';
import { MedVAE } from '../../src/pipeline/medvae/medvae.js';
import { psnr, ssim } from '../../src/pipeline/medvae/metrics.js';
import { preprocess2D } from '../../src/pipeline/medvae/preprocess-2d.js';
import { preprocess3D } from '../../src/pipeline/medvae/preprocess-3d.js';
import type { HostGrid } from '../../src/pipeline/medvae/sliding-window.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { f32, readSafetensors } from '../helpers/read-safetensors.js';
import { type DemoBrowser, startDemo, waitForMessage, waitForResult } from './chromium.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const shots = join(import.meta.dirname, '../../dist/browser-test');
const sd1 = join(fixtures, 'pipelines/sd1');
const medvae = join(fixtures, 'medvae');

const manifestTol = (manifest: string, caseName: string, output: string): number => {
  const m = JSON.parse(readFileSync(join(fixtures, manifest), 'utf8')) as {
    cases: { name: string; outputs: Record<string, { tolerance: { max_abs: number } }> }[];
  };
  const t = m.cases.find((c) => c.name === caseName)?.outputs[output]?.tolerance.max_abs;
  if (t === undefined) throw new Error(`${manifest}: no tolerance for ${caseName}.${output}`);
  return t;
};

interface PageGrid {
  channels: number;
  spatial: number[];
  data: number[];
}

/** The page's latest result with its typed arrays as plain arrays (what crosses the CDP boundary). */
async function pageResult<T>(page: Page, key: 'txt2img' | 'medvae'): Promise<T> {
  return page.evaluate((k) => {
    const plain = (v: unknown): unknown => {
      if (v instanceof Float32Array) return Array.from(v);
      if (Array.isArray(v)) return v.map(plain);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([a, b]) => [a, plain(b)]));
      return v;
    };
    return plain((window as unknown as { medgpuDemo: Record<string, unknown> }).medgpuDemo[k]);
  }, key) as Promise<T>;
}

let demo: DemoBrowser;
let page: Page;

// Building the page and starting chromium take a few seconds; the first WebGPU use compiles kernels.
beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await startDemo();
  page = await demo.open();
  await waitForResult<string>(page, 'adapter', 60_000);
}, 120_000);

afterAll(async () => {
  await demo?.close();
});

describe('demo page in chromium (WebGPU on SwiftShader)', () => {
  it('finds the software adapter and says what it offers', async () => {
    const adapter = await page.textContent('#adapter');
    expect(adapter).toMatch(/^WebGPU: .*swiftshader/i);
    expect(adapter).toMatch(/no shader-f16/);
  });

  it('text-to-image: the tiny SD pipeline chosen as a folder generates, per-step progress, the image of the Node run within 2·tol, a PNG download with the pixels and metadata', async () => {
    await page.click('#tab-txt2img');
    await page.setInputFiles('#sd-folder', sd1);
    // Precision "auto": SwiftShader has no shader-f16, so f32.
    await expect.poll(() => page.textContent('#sd-model'), { timeout: 60_000 }).toMatch(/^sd1: loaded in f32/);
    const settings = {
      prompt: 'Big right-sided pleural effusion with adjacent atelectasis',
      negativePrompt: 'blurry, low quality',
      numInferenceSteps: 4,
      guidanceScale: 7.5,
      seed: 1234,
      scheduler: 'DDIMScheduler',
      width: 64,
      height: 48,
    };
    await page.fill('#sd-prompt', settings.prompt);
    await page.fill('#sd-negative', settings.negativePrompt);
    await page.fill('#sd-steps', String(settings.numInferenceSteps));
    await page.fill('#sd-guidance', String(settings.guidanceScale));
    await page.fill('#sd-seed', String(settings.seed));
    await page.selectOption('#sd-scheduler', settings.scheduler);
    await page.fill('#sd-width', String(settings.width));
    await page.fill('#sd-height', String(settings.height));
    // The Node run goes on while chromium works (lavapipe compiles in this process, SwiftShader in chromium's).
    const nodeRun = (async () => {
      const pipe = await StableDiffusionPipeline.fromPretrained(await getGpu(), sd1);
      try {
        return await pipe.generate(settings);
      } finally {
        pipe.release();
      }
    })();
    nodeRun.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
    await page.click('#sd-generate');
    const got = await waitForResult<unknown>(page, 'txt2img', 600_000).then(() =>
      pageResult<{ image: number[]; width: number; height: number; seed: string; progress: number[]; ms: number }>(page, 'txt2img'),
    );
    expect(got.progress).toEqual([1, 2, 3, 4]);
    expect(await page.getAttribute('#sd-progress', 'value')).toBe('4');
    expect([got.width, got.height, got.seed]).toEqual([64, 48, '1234']);

    const node = await nodeRun;
    const tol = 2 * manifestTol('pipelines/manifest.json', 'sd1_ddim_cfg7.5', 'image');
    const d = diff(got.image, node.images[0] as Float32Array);
    console.log(`txt2img page vs Node: max abs ${d.maxAbs.toExponential(2)} (bound ${tol.toExponential(2)}); page ${got.ms.toFixed(0)} ms`);
    expect(d.nonFinite).toBe(0);
    expect(d.maxAbs).toBeLessThanOrEqual(tol);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sd-download')]);
    expect(download.suggestedFilename()).toBe(imageFileNames(settings.prompt, 1234n, 1)[0]);
    const png = decodePng(new Uint8Array(readFileSync(await download.path())), 'download.png');
    expect([png.width, png.height, png.channels, png.bitDepth]).toEqual([64, 48, 3, 8]);
    expect(png.data).toEqual(toRgb8(Float32Array.from(got.image), 64, 48).data);
    expect(png.text).toMatchObject({
      prompt: settings.prompt,
      negative_prompt: settings.negativePrompt,
      seed: '1234',
      steps: '4',
      guidance_scale: '7.5',
      scheduler: 'DDIMScheduler',
      model: 'sd1',
      size: '64x48',
      Software: 'medgpu',
    });
    await page.screenshot({ path: join(shots, 'txt2img.png'), fullPage: true });
  }, 900_000); // cold: SwiftShader and lavapipe each compile every kernel the pipeline uses (minutes on a loaded 2-core machine)

  /** Runs MedVAE through the page with the fixture model `model`, returning the page's result. */
  async function runMedvae(model: string, input: string, seed: number, how: { modality?: 'ct' | 'mri'; drop?: boolean } = {}) {
    // Inputs of the page's previous run stay chosen; the fields below replace them.
    await page.click('#tab-medvae');
    await page.evaluate(() => {
      (window as unknown as { medgpuDemo: { medvae: unknown } }).medgpuDemo.medvae = null;
    });
    await page.selectOption('#mv-model', model);
    await page.setInputFiles('#mv-weights', join(medvae, model, 'model.safetensors'));
    await page.setInputFiles('#mv-config', join(medvae, model, 'config.yaml'));
    if (how.drop) {
      // A file dropped on the drop zone, as a drag from the desktop delivers it.
      const b64 = readFileSync(join(medvae, 'inputs', input)).toString('base64');
      await page.evaluate(
        ({ b64, name }) => {
          const dt = new DataTransfer();
          dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
          (document.getElementById('mv-drop') as HTMLElement).dispatchEvent(
            new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }),
          );
        },
        { b64, name: input },
      );
    } else {
      await page.setInputFiles('#mv-input', join(medvae, 'inputs', input));
    }
    expect(await page.textContent('#mv-input-name')).toMatch(new RegExp(`^${input.replace(/\./g, '\\.')} \\(`));
    if (how.modality) await page.selectOption('#mv-modality', how.modality);
    await page.fill('#mv-seed', String(seed));
    await page.click('#mv-run');
    await waitForResult(page, 'medvae', 600_000);
    return pageResult<{ input: PageGrid; latent: PageGrid; recon: PageGrid; psnr: number; ssim: number; ms: number }>(page, 'medvae');
  }

  async function nodeMedvae(model: string, x: HostGrid, seed: number) {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, {
      model,
      weights: join(medvae, model, 'model.safetensors'),
      config: join(medvae, model, 'config.yaml'),
    });
    try {
      return await mvae.encode(x, { seed, recon: true });
    } finally {
      await mvae.dispose();
    }
  }

  // The MedVAE models here (8_1_2d, 4_1_3d) need only a couple of kernels beyond those of the SD pipeline.
  it('MedVAE 2D: a PNG gives the reference latent and reconstruction (fixture tol), the Node run (2·tol), PSNR/SSIM and one picture per latent channel', async () => {
    // medvae_8_1_2d_forward: xray_gray.png preprocessed, torch.manual_seed(2254) before sampling.
    const c = 'medvae_8_1_2d_forward';
    const img = await readImage(join(medvae, 'inputs', 'xray_gray.png'));
    const x = preprocess2D(img, { mergeChannels: true, modelChannels: 1 });
    const nodeRun = nodeMedvae('medvae_8_1_2d', { channels: 1, spatial: [x.height, x.width], data: x.data }, 2254);
    nodeRun.catch(() => {}); // awaited below
    const got = await runMedvae('medvae_8_1_2d', 'xray_gray.png', 2254);
    const ref = readSafetensors(join(medvae, 'cases', `${c}.safetensors`));
    expect(got.input.data).toEqual(Array.from(f32(ref, 'x')));
    const tolLatent = manifestTol('medvae/manifest.json', c, 'latent_s2_from_z_sample');
    const tolRecon = manifestTol('medvae/manifest.json', c, 'recon_from_z_sample');
    expect(diff(got.latent.data, f32(ref, 'latent_s2_from_z_sample')).maxAbs).toBeLessThanOrEqual(tolLatent);
    expect(diff(got.recon.data, f32(ref, 'recon_from_z_sample')).maxAbs).toBeLessThanOrEqual(tolRecon);

    const node = await nodeRun;
    const dl = diff(got.latent.data, node.latent.data);
    const dr = diff(got.recon.data, (node.recon as HostGrid).data);
    console.log(
      `MedVAE 2D page vs Node: latent ${dl.maxAbs.toExponential(2)}, recon ${dr.maxAbs.toExponential(2)}; page ${got.ms.toFixed(0)} ms`,
    );
    expect(dl.maxAbs).toBeLessThanOrEqual(2 * tolLatent);
    expect(dr.maxAbs).toBeLessThanOrEqual(2 * tolRecon);

    const recon = node.recon as HostGrid;
    const input = { channels: 1, spatial: [x.height, x.width], data: x.data };
    expect(got.psnr).toBeCloseTo(psnr(recon, input), 2);
    expect(got.ssim).toBeCloseTo(ssim(recon, input), 3);
    expect(await page.textContent('#mv-metrics')).toMatch(/^PSNR \d+\.\d\d dB · SSIM -?\d\.\d{4}/);
    expect(await page.locator('#mv-input-view canvas').count()).toBe(1);
    expect(await page.locator('#mv-recon-view canvas').count()).toBe(1);
    expect(await page.locator('#mv-latent-view canvas').count()).toBe(got.latent.channels);
    await page.screenshot({ path: join(shots, 'medvae-2d.png'), fullPage: true });
  }, 600_000);

  it('MedVAE 3D: an MRI .nii.gz dropped on the page shows the three middle slices; latent of the reference (fixture tol) and of the Node run (2·tol)', async () => {
    // medvae_4_1_3d_forward_mri: mri.nii.gz preprocessed (RAS, min-max, crop ×16 → [32, 16, 32]), seed 2275, one window.
    const c = 'medvae_4_1_3d_forward_mri';
    const vol = preprocess3D(await readNifti(join(medvae, 'inputs', 'mri.nii.gz')), 'mri');
    const nodeRun = nodeMedvae('medvae_4_1_3d', { channels: 1, spatial: [...vol.shape], data: vol.data }, 2275);
    nodeRun.catch(() => {}); // awaited below
    const got = await runMedvae('medvae_4_1_3d', 'mri.nii.gz', 2275, { modality: 'mri', drop: true });
    const ref = readSafetensors(join(medvae, 'cases', `${c}.safetensors`));
    expect(got.input.spatial).toEqual([32, 16, 32]);
    const tolLatent = manifestTol('medvae/manifest.json', c, 'mvae_forward_latent');
    expect(diff(got.latent.data, f32(ref, 'mvae_forward_latent')).maxAbs).toBeLessThanOrEqual(tolLatent);

    const node = await nodeRun;
    const dl = diff(got.latent.data, node.latent.data);
    const dr = diff(got.recon.data, (node.recon as HostGrid).data);
    const tolRecon = manifestTol('medvae/manifest.json', c, 'recon_from_z_sample');
    console.log(
      `MedVAE 3D page vs Node: latent ${dl.maxAbs.toExponential(2)}, recon ${dr.maxAbs.toExponential(2)}; page ${got.ms.toFixed(0)} ms`,
    );
    expect(dl.maxAbs).toBeLessThanOrEqual(2 * tolLatent);
    expect(dr.maxAbs).toBeLessThanOrEqual(2 * tolRecon);
    expect(await page.locator('#mv-input-view canvas').count()).toBe(3);
    expect(await page.locator('#mv-recon-view canvas').count()).toBe(3);
    // [R, A, S] = [32, 16, 32]: axial is R × A, coronal R × S, sagittal A × S (width × height).
    const views = await page.$$eval('#mv-input-view canvas', (cs) => (cs as HTMLCanvasElement[]).map((c) => [c.title, c.width, c.height]));
    expect(views).toEqual([
      ['axial 17/32', 32, 16],
      ['coronal 9/16', 32, 32],
      ['sagittal 17/32', 16, 32],
    ]);
    await page.screenshot({ path: join(shots, 'medvae-3d.png'), fullPage: true });
  }, 600_000);

  it('says clearly when the weights do not fit the model, when a folder is no SD pipeline, and when memory runs out', async () => {
    // 4_1_2d weights for the 8_4_2d model: the strict loader names the mismatched tensors.
    await page.click('#tab-medvae');
    await page.selectOption('#mv-model', 'medvae_8_4_2d');
    await page.setInputFiles('#mv-weights', join(medvae, 'medvae_4_1_2d', 'model.safetensors'));
    await page.setInputFiles('#mv-config', join(medvae, 'medvae_8_4_2d', 'config.yaml'));
    await page.setInputFiles('#mv-input', join(medvae, 'inputs', 'xray_gray.png'));
    await page.click('#mv-run');
    const wrong = await waitForMessage(page, 60_000);
    expect(wrong).toMatch(/the weights file does not fit the chosen model/);
    expect(wrong).toMatch(/model\.safetensors/);

    // A folder without model_index.json.
    await page.click('#tab-txt2img');
    await page.setInputFiles('#sd-folder', join(medvae, 'medvae_4_1_2d'));
    await expect.poll(() => page.textContent('#message'), { timeout: 60_000 }).toMatch(/model_index\.json/);
    expect(await page.textContent('#sd-model')).toBe('No model loaded.');

    // A 1 MiB GPU budget: loading the SD pipeline runs out of memory.
    const small = await demo.open('?gpuBudgetMiB=1');
    await waitForResult(small, 'adapter', 60_000);
    await small.setInputFiles('#sd-folder', sd1);
    const oom = await waitForMessage(small, 60_000);
    expect(oom).toMatch(/^Loading the model ran out of memory\./);
    expect(oom).toMatch(/GPU memory budget of 1048576 bytes/);
    await small.close();
  }, 180_000);

  it('says clearly when the browser has no WebGPU', async () => {
    const bare = await demo.open('', () => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    const msg = await waitForMessage(bare, 30_000);
    expect(msg).toMatch(/^This browser has no WebGPU\./);
    expect(await bare.textContent('#adapter')).toBe('WebGPU: not available.');
    await bare.close();
  });
});
