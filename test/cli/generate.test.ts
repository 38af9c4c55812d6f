/**
 * `medgpu generate` on the bundled tiny pipeline: it says it is using the random-weight demo, writes an 8-bit
 * RGB PNG of the requested size whose tEXt metadata carries the generation parameters, refuses to overwrite
 * an existing file before doing any work (and does with --overwrite), and image-to-image from a PNG.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { bundledModel, runGenerate } from '../../src/cli/generate.js';
import { decodePng, encodePng } from '../../src/io/png.js';
import { getGpu } from '../helpers/gpu.js';

const out = mkdtempSync(join(tmpdir(), 'medgpu-generate-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const base = {
  prompt: 'Pleural effusion ≥ 2 cm',
  guidance: '7.5',
  numImages: '1',
  strength: '0.8',
  dtype: 'f32',
  out,
  steps: '3',
  scheduler: 'ddim',
};

// One device for the whole file (the CLI makes its own; here kernels compile once).
const run = async (o: Parameters<typeof runGenerate>[0]) => runGenerate(o, { gpu: await getGpu() });

async function captured(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void lines.push(String(s)));
  const err = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void lines.push(String(s)));
  try {
    await fn();
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  return lines.join('\n');
}

describe('medgpu generate', () => {
  it('finds the bundled demo pipeline', () => {
    expect(bundledModel()).toMatch(/test\/fixtures\/pipelines\/sd1$/);
  });

  // The first run compiles every kernel of the pipeline: a minute or more on lavapipe with a cold shader cache.
  it('without --model runs the bundled demo, says its output is noise, and writes a PNG with the parameters', {
    timeout: 240_000,
  }, async () => {
    const text = await captured(() => run({ ...base, seed: '11', width: '48', height: '32' }));
    expect(text).toMatch(/No --model given: using the bundled tiny random-weight pipeline/);
    expect(text).toMatch(/output is noise/);
    const file = join(out, 'pleural-effusion-2-cm-11-0.png');
    const png = decodePng(readFileSync(file), file);
    expect([png.width, png.height, png.channels, png.bitDepth]).toEqual([48, 32, 3, 8]);
    expect(png.text).toMatchObject({
      prompt: 'Pleural effusion \\u{2265} 2 cm',
      seed: '11',
      steps: '3',
      guidance_scale: '7.5',
      scheduler: 'DDIMScheduler',
      size: '48x32',
    });
    expect(png.text?.model).toMatch(/pipelines\/sd1$/);
  });

  it('refuses to overwrite before generating anything, and replaces the file with --overwrite', async () => {
    const file = join(out, 'pleural-effusion-2-cm-11-0.png');
    const before = statSync(file).mtimeMs;
    const progress: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void progress.push(String(s)));
    try {
      await expect(run({ ...base, seed: '11', width: '48', height: '32' })).rejects.toMatchObject({ code: 'FILE_EXISTS' });
    } finally {
      spy.mockRestore();
    }
    expect(progress.filter((l) => l.startsWith('step '))).toEqual([]);
    expect(statSync(file).mtimeMs).toBe(before);
    await captured(() => run({ ...base, seed: '11', width: '48', height: '32', overwrite: true }));
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(before);
  });

  it('image-to-image from a PNG keeps its size; --width with --init-image and a bad --dtype are errors', async () => {
    const init = join(out, 'init.png');
    const data = new Uint8Array(40 * 24 * 3).map((_, i) => (i * 7) % 256);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(init, encodePng({ width: 40, height: 24, channels: 3, bitDepth: 8, data }));
    const text = await captured(() => run({ ...base, prompt: 'img2img', seed: '2', initImage: init, strength: '0.7' }));
    expect(text).toMatch(/wrote .*img2img-2-0\.png/);
    const png = decodePng(readFileSync(join(out, 'img2img-2-0.png')), 'img2img');
    expect([png.width, png.height]).toEqual([40, 24]);
    expect(png.text?.strength).toBe('0.7');
    await expect(captured(() => run({ ...base, initImage: init, width: '64' }))).rejects.toThrow(/cannot be used with --init-image/);
    await expect(captured(() => run({ ...base, dtype: 'f64' }))).rejects.toThrow(/--dtype must be f32 or f16/);
    await expect(captured(() => run({ ...base, seed: '-1' }))).rejects.toThrow(/--seed must be a non-negative integer/);
  });
});
