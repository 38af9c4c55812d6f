/**
 * Runs fixture manifests through the engine: every case of every `manifest.json` found under the given
 * folders, by its module's runner. A case whose module has no runner, or whose runner throws, is a failed
 * check that says why, so nothing is silently skipped.
 */
import type { Gpu } from '../runtime/gpu.js';
import { type OutputCheck, failedCheck } from './compare.js';
import { type FixtureCase, type Manifest, findManifests, readManifest } from './manifest.js';
import { MODULE_RUNNERS } from './modules.js';

export interface VerifyOptions {
  /** Only cases whose `manifest-folder/case-name` matches. */
  filter?: RegExp;
  /** Called after each case with its checks (for live output). */
  onCase?: (m: Manifest, c: FixtureCase, checks: OutputCheck[], ms: number) => void;
}

export interface VerifyReport {
  manifests: string[];
  checks: OutputCheck[];
  failed: OutputCheck[];
  cases: number;
}

function releaseCached(cache: Map<string, unknown>): void {
  for (const v of cache.values()) (v as { release?: () => void }).release?.();
  cache.clear();
}

export async function verifyFixtures(gpu: Gpu, dirs: readonly string[], opts: VerifyOptions = {}): Promise<VerifyReport> {
  const manifests = (await Promise.all(dirs.map((d) => findManifests(d)))).flat();
  const checks: OutputCheck[] = [];
  let cases = 0;
  for (const path of manifests) {
    const m = await readManifest(path);
    const folder = m.dir.split('/').at(-1) ?? '';
    const cache = new Map<string, unknown>();
    try {
      for (const c of m.cases) {
        if (opts.filter && !opts.filter.test(`${folder}/${c.name}`)) continue;
        cases++;
        const t0 = Date.now();
        const runner = MODULE_RUNNERS[c.module];
        let got: OutputCheck[];
        if (!runner)
          got = [failedCheck({ case: c.name, module: c.module, output: '*' }, `module "${c.module}" is not supported by this engine`)];
        else {
          try {
            got = await runner({ gpu, cache }, m, c);
          } catch (e) {
            got = [failedCheck({ case: c.name, module: c.module, output: '*' }, `error: ${(e as Error).message}`)];
          }
        }
        checks.push(...got);
        opts.onCase?.(m, c, got, Date.now() - t0);
      }
    } finally {
      releaseCached(cache);
    }
  }
  return { manifests, checks, failed: checks.filter((k) => !k.pass), cases };
}
