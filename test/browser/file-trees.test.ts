/**
 * The browser's folder adapters (src/io/browser.ts) on the tiny SD pipeline's files: a directory input's
 * `File`s (with `webkitRelativePath`) and a File System Access directory handle become the same `FileTree`,
 * which opens as a hub pipeline with every component, bytes identical to the files on disk.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DirectoryHandleLike, directoryHandleTree, fileListTree } from '../../src/io/browser.js';
import type { FileTree } from '../../src/io/file-tree.js';
import { openHubPipeline } from '../../src/io/hub.js';

const sd1 = join(import.meta.dirname, '../fixtures/pipelines/sd1');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

/** What a directory input gives for the folder "sd1": Files named by their path under the chosen folder. */
function inputFiles(): File[] {
  return walk(sd1).map((p) => {
    const f = new File([readFileSync(p)], p.split('/').pop() as string);
    Object.defineProperty(f, 'webkitRelativePath', { value: `sd1/${relative(sd1, p)}` });
    return f;
  });
}

/** An in-memory stand-in for `showDirectoryPicker()`'s handle over `dir` (plus a hidden entry to skip). */
function handle(dir: string): DirectoryHandleLike {
  return {
    kind: 'directory',
    name: dir.split('/').pop() as string,
    async *values() {
      yield { kind: 'file' as const, name: '.DS_Store', getFile: async () => new File(['x'], '.DS_Store') };
      for (const n of readdirSync(dir).sort()) {
        const p = join(dir, n);
        if (statSync(p).isDirectory()) yield handle(p);
        else yield { kind: 'file' as const, name: n, getFile: async () => new File([readFileSync(p)], n) };
      }
    },
  };
}

async function expectSd1(tree: FileTree): Promise<void> {
  expect(tree.root).toBe('sd1');
  expect((await tree.list('')).map((e) => e.name)).toEqual([
    'feature_extractor',
    'model_index.json',
    'scheduler',
    'text_encoder',
    'tokenizer',
    'unet',
    'vae',
  ]);
  expect(await tree.kind('unet')).toBe('dir');
  expect(await tree.kind('.DS_Store')).toBe('missing');
  const hub = await openHubPipeline(tree);
  expect(hub.className).toBe('StableDiffusionPipeline');
  for (const c of ['tokenizer', 'text_encoder', 'unet', 'vae', 'scheduler']) expect(hub.component(c)).toBeTruthy();
  const src = await tree.open('unet/diffusion_pytorch_model.safetensors');
  const disk = readFileSync(join(sd1, 'unet/diffusion_pytorch_model.safetensors'));
  expect(src.size).toBe(disk.length);
  expect(Buffer.from(await src.read(1000, 4096)).equals(disk.subarray(1000, 5096))).toBe(true);
  expect(tree.display('unet/config.json')).toBe('sd1/unet/config.json');
}

describe('browser folder adapters', () => {
  it('a directory input (webkitRelativePath) opens as the pipeline folder', async () => {
    await expectSd1(fileListTree(inputFiles()));
  });

  it('a File System Access directory handle opens as the same folder, hidden entries skipped', async () => {
    await expectSd1(await directoryHandleTree(handle(sd1)));
  });

  it('an empty choice is a clear error', () => {
    expect(() => fileListTree([])).toThrow(/the chosen folder is empty/);
  });
});
