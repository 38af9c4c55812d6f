/**
 * The demo's output folder and what it may replace in it. The demo writes a fixed set of files; it lists them
 * in `medgpu-demo.json` in the folder BEFORE writing any of them, so a later run knows which existing files
 * are its own. A re-run replaces the files the previous run listed; any other existing file at one of the
 * target paths stops the run before any work (OutputExistsError, the project's overwrite policy), unless
 * `overwrite` is set.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { assertCanWrite } from '../pipeline/diffusion/files.js';

export const DEMO_MANIFEST = 'medgpu-demo.json';
const FORMAT = 'medgpu-demo';

/** The relative paths a previous demo run listed in `dir`, or none when there is no (readable) manifest of ours. */
function previousFiles(dir: string): Set<string> {
  const path = join(dir, DEMO_MANIFEST);
  if (!existsSync(path)) return new Set();
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown; files?: unknown };
    if (m.format !== FORMAT || !Array.isArray(m.files)) return new Set();
    return new Set(m.files.filter((f): f is string => typeof f === 'string'));
  } catch {
    // Not JSON, or not ours: the file is someone else's and is not replaced.
    return new Set();
  }
}

export class DemoFolder {
  private constructor(
    readonly dir: string,
    readonly files: readonly string[],
  ) {}

  /**
   * Claims `paths` (inside `dir`) for this run: throws OutputExistsError for an existing one that the previous
   * run did not write (unless `overwrite`), then records them, with the manifest itself, in the manifest.
   */
  static async claim(dir: string, paths: readonly string[], overwrite = false): Promise<DemoFolder> {
    const manifest = join(dir, DEMO_MANIFEST);
    const rel = [...paths, manifest].map((p) => relative(dir, p));
    const ours = previousFiles(dir);
    await assertCanWrite(
      rel.filter((r) => !ours.has(r)).map((r) => join(dir, r)),
      overwrite,
    );
    const folder = new DemoFolder(dir, rel);
    for (const d of new Set([dir, ...paths.map((p) => dirname(p))])) await mkdir(d, { recursive: true });
    await folder.writeManifest({});
    return folder;
  }

  /** Rewrites the manifest: the claimed files plus `report` (the run's checks and timings). */
  async writeManifest(report: Record<string, unknown>): Promise<void> {
    const body = { format: FORMAT, version: 1, files: this.files, ...report };
    await writeFile(join(this.dir, DEMO_MANIFEST), `${JSON.stringify(body, null, 2)}\n`);
  }
}
