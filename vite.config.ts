/**
 * The browser build (Vite). Two outputs:
 * - `vite build` (and `vite` for development): the demo page, web/ → dist/web/ (relative URLs, so it can be
 *   served from any folder);
 * - `vite build --mode lib`: the ESM library bundle of src/browser.ts → dist/browser/medgpu.js, with its
 *   dependencies inside (types: tsconfig.browser.json → dist/browser/types/).
 * Both swap Node's adapters for the browser's and fail the build if anything still pulls in a Node module.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** Node adapters (imported by file name from the core) and their browser twins. */
export const BROWSER_ADAPTERS: Readonly<Record<string, string>> = {
  'node-fs.js': here('src/io/browser-fs.ts'),
  'node-webgpu.js': here('src/runtime/browser-webgpu.ts'),
  'node-batch-fs.js': here('src/pipeline/batch/browser-batch-fs.ts'),
};

/**
 * The core imports its Node adapters lazily (`await import('./node-fs.js')`), so a Node program loads them only
 * when it uses a path; in the browser the adapters are tiny and inlined, which Rolldown reports as an
 * "ineffective dynamic import" on every build: expected here, so not reported.
 */
const checks = { ineffectiveDynamicImport: false, bundlerTimings: false };

/** Modules that exist only in Node: its built-ins and Dawn's Node bindings. */
const NODE_ONLY = new Set([...builtinModules, 'webgpu']);

/**
 * Routes the core's Node adapters to their browser versions and turns any other Node-only import into a build
 * error naming the importer (Vite would otherwise replace it by an empty stub that fails at run time).
 */
export function browserAdapters(): Plugin {
  return {
    name: 'medgpu-browser-adapters',
    enforce: 'pre',
    resolveId(source, importer) {
      const file = source.split('/').pop() ?? '';
      if (source.startsWith('.') && file in BROWSER_ADAPTERS) return BROWSER_ADAPTERS[file];
      const bare = source.replace(/^node:/, '').split('/')[0] as string;
      if (source.startsWith('node:') || NODE_ONLY.has(source) || NODE_ONLY.has(bare)) {
        this.error(
          `${importer ?? '<entry>'} imports the Node-only module "${source}": the browser build must not; move the import into a Node adapter (src/io/node-fs.ts) and give it a browser twin`,
        );
      }
      return null;
    },
  };
}

export default defineConfig(({ mode }) =>
  mode === 'lib'
    ? {
        plugins: [browserAdapters()],
        publicDir: false,
        build: {
          outDir: here('dist/browser'),
          emptyOutDir: true,
          target: 'es2022',
          minify: false,
          sourcemap: true,
          lib: { entry: here('src/browser.ts'), formats: ['es'], fileName: () => 'medgpu.js' },
          // One file: the core's lazily imported modules (readers, adapters) are small.
          rolldownOptions: { checks, output: { codeSplitting: false } },
        },
      }
    : {
        root: here('web'),
        base: './',
        plugins: [browserAdapters()],
        publicDir: false,
        build: { outDir: here('dist/web'), emptyOutDir: true, target: 'es2022', sourcemap: true, rolldownOptions: { checks } },
        server: { host: '127.0.0.1', port: 5173 },
        preview: { host: '127.0.0.1', port: 4173 },
      },
);
