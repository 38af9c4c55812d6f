/**
 * The browser bundle (`vite build --mode lib`, what `npm run build:web` ships as dist/browser/medgpu.js):
 * one self-contained ESM file with no Node module in it, whose path-taking helpers are the browser adapters;
 * its declarations (tsconfig.browser.json), usable by a browser project without Node's types; and the build's guard, which turns any Node-only import reaching the bundle into a build error.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { browserAdapters } from '../../vite.config.js';

const root = join(import.meta.dirname, '../..');
const temp = mkdtempSync(join(tmpdir(), 'medgpu-bundle-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('browser bundle', () => {
  it('is one ESM file without node: / built-in / webgpu imports, exporting the API and the browser adapters', async () => {
    const outDir = join(temp, 'lib');
    const out = await build({
      configFile: join(root, 'vite.config.ts'),
      mode: 'lib',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
    expect(readdirSync(outDir).filter((f) => f.endsWith('.js'))).toEqual(['medgpu.js']);
    // The bundler's own record of what the chunk imports: only itself (lazy imports inlined), nothing external.
    const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => ('output' in o ? o.output : [])).filter((c) => c.type === 'chunk');
    expect(chunks.map((c) => c.fileName)).toEqual(['medgpu.js']);
    expect([...(chunks[0]?.imports ?? []), ...(chunks[0]?.dynamicImports ?? [])].filter((f) => f !== 'medgpu.js')).toEqual([]);
    const code = readFileSync(join(outDir, 'medgpu.js'), 'utf8');
    expect(code).not.toMatch(/['"`]node:[a-z]/); // no node: specifier survives, even as a string
    expect(code).not.toMatch(/__vite-browser-external/); // Vite's empty stand-in for a Node module

    const mod = (await import(pathToFileURL(join(outDir, 'medgpu.js')).href)) as Record<string, unknown>;
    for (const name of [
      'createGpu',
      'StableDiffusionPipeline',
      'MedVAE',
      'fileListTree',
      'directoryHandleTree',
      'blobSource',
      'encodePng',
    ]) {
      expect(typeof mod[name], name).toBe('function');
    }
    // The path-taking helpers reach the browser adapter (src/io/browser-fs.ts), not node:fs.
    const openWeights = mod.openWeights as (p: string) => Promise<unknown>;
    await expect(openWeights('model.safetensors')).rejects.toThrow(
      /\(model\.safetensors\) needs Node's file system; in a browser pass the bytes/,
    );
    // WebGPU comes from navigator.gpu only: Node's Dawn bindings are not in the bundle.
    const createGpu = mod.createGpu as () => Promise<unknown>;
    const nav = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
    try {
      await expect(createGpu()).rejects.toMatchObject({ code: 'NO_WEBGPU' });
    } finally {
      if (nav) Object.defineProperty(globalThis, 'navigator', nav);
    }
  });

  it('has declarations a browser project type-checks with the DOM library alone (no Node types, skipLibCheck off)', () => {
    const types = join(temp, 'types');
    const tsc = join(root, 'node_modules/.bin/tsc');
    execFileSync(tsc, ['-p', join(root, 'tsconfig.browser.json'), '--outDir', types], { stdio: 'pipe' });
    const app = join(temp, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'main.ts'),
      [
        `import { MedVAE, StableDiffusionPipeline, blobSource, createGpu, fileListTree, weightSourceFromByteSource } from '${types}/browser.js';`,
        'declare const folder: HTMLInputElement;',
        'declare const weights: File;',
        'const gpu = await createGpu();',
        'const pipe = await StableDiffusionPipeline.fromPretrained(gpu, fileListTree(folder.files as FileList));',
        "const images: Float32Array[] = (await pipe.generate({ prompt: 'x', seed: 1 })).images;",
        "const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_2d', weights: await weightSourceFromByteSource(blobSource(weights)), config: { yaml: '' } });",
        'export { images, mvae };',
      ].join('\n'),
    );
    const options = {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2023', 'DOM'],
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['main.ts'] }));
    const run = () => execFileSync(tsc, ['-p', join(app, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
    expect(run).not.toThrow();
  }, 60_000);

  it('fails the build, naming the importer, when a module pulls in a Node built-in', async () => {
    const entry = join(temp, 'uses-fs.ts');
    writeFileSync(entry, "import { readFileSync } from 'node:fs';\nexport const read = (p: string) => readFileSync(p);\n");
    const attempt = build({
      configFile: false,
      logLevel: 'silent',
      plugins: [browserAdapters()],
      build: { outDir: join(temp, 'bad'), write: false, lib: { entry, formats: ['es'], fileName: 'bad' } },
    });
    await expect(attempt).rejects.toThrow(/uses-fs\.ts imports the Node-only module "node:fs"/);
  });
});
