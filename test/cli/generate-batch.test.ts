/**
 * `medgpu generate --prompts` argument handling, without a GPU: options that belong to single-prompt runs are
 * refused with --prompts (and the other way round), a bad prompt file is reported with its line, changed
 * settings are refused through the CLI, and a finished batch is verified and left alone without loading a model.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { bundledModel, runGenerate } from '../../src/cli/generate.js';
import { prepareBatch } from '../../src/pipeline/batch/prepare.js';
import { runBatch } from '../../src/pipeline/batch/run.js';
import { MEDGPU_VERSION } from '../../src/version.js';

const root = mkdtempSync(join(tmpdir(), 'medgpu-generate-batch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const prompts = join(root, 'prompts.txt');
writeFileSync(prompts, 'chest x-ray\nnodule\n');
const base = { guidance: '7.5', strength: '0.8', dtype: 'f32', steps: '2', prompts, out: join(root, 'out') };

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void lines.push(String(s)));
  const err = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void lines.push(String(s)));
  try {
    return { value: await fn(), text: lines.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('medgpu generate --prompts', () => {
  it('refuses single-prompt options with --prompts, and --num-images-per-prompt without it', async () => {
    await expect(quiet(() => runGenerate({ ...base, prompt: 'x' }))).rejects.toThrow(/either --prompt or --prompts/);
    await expect(quiet(() => runGenerate({ ...base, initImage: 'a.png' }))).rejects.toThrow(/--init-image cannot be used with --prompts/);
    await expect(quiet(() => runGenerate({ ...base, numImages: '2' }))).rejects.toThrow(/use --num-images-per-prompt/);
    await expect(quiet(() => runGenerate({ ...base, numImagesPerPrompt: '0' }))).rejects.toThrow(
      /--num-images-per-prompt must be an integer ≥ 1/,
    );
    const { prompts: _, ...single } = base;
    await expect(quiet(() => runGenerate({ ...single, prompt: 'x', numImagesPerPrompt: '2' }))).rejects.toThrow(/goes with --prompts/);
    await expect(quiet(() => runGenerate(single))).rejects.toThrow(/give a prompt \(--prompt "..."\) or a prompt file \(--prompts FILE\)/);
  });

  it('reports a bad prompt file by line before doing anything', async () => {
    const bad = join(root, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "a"}\n{"prompt": "b", "steps": 3}\n');
    await expect(quiet(() => runGenerate({ ...base, prompts: bad, out: join(root, 'bad') }))).rejects.toThrow(
      /bad\.jsonl:2: unknown key "steps"; allowed: prompt, negative_prompt, seed, guidance, num_images/,
    );
  });

  it('verifies a finished batch without loading the model, and refuses changed settings', async () => {
    const model = bundledModel() as string;
    const out = join(root, 'done');
    // Made through the library with a stand-in renderer; the CLI only has to verify it.
    const b = await prepareBatch({ dir: out, promptsFile: prompts, model, steps: 2, baseSeed: 4n, numImagesPerPrompt: 2 });
    await runBatch(b, async () => ({ image: new Float32Array(8 * 8 * 3).fill(0.5), width: 8, height: 8, scheduler: 'X' }));
    await b.release();
    const { text } = await quiet(() => runGenerate({ ...base, out, seed: '4', numImagesPerPrompt: '2', json: true }));
    expect(text).toMatch(/resuming batch [0-9a-f]{16} in .*: 4 images of 2 prompts, 4 done, base seed 4/);
    expect(text).toMatch(/all 4 images are already in .* \(verified against the manifest\); nothing to do/);
    expect(JSON.parse(text.slice(text.indexOf('{')))).toMatchObject({ total: 4, done: 4, generated: 0, stopped: false, baseSeed: '4' });
    await expect(quiet(() => runGenerate({ ...base, out, numImagesPerPrompt: '2', steps: '3' }))).rejects.toThrow(
      /holds a batch made with other settings \(steps \(--steps\) 2 → 3\)/,
    );
  });
});

it('MEDGPU_VERSION is the package version', () => {
  expect(MEDGPU_VERSION).toBe(JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')).version);
});
