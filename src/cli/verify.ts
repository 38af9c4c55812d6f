/**
 * `medgpu verify [DIR...]`: runs every case of every fixture manifest under the given folders (default: the
 * bundled test/fixtures) through this install and prints, per output, the max abs / rel error against the
 * reference (PyTorch, diffusers, transformers) and the tolerance: a user's proof that this machine computes
 * what the reference computes. Exits 1 if any check fails or any module is not supported.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MedgpuError, type OutputCheck, createGpu, verifyFixtures } from '../index.js';

/** The fixtures shipped with the source tree. */
export function bundledFixtures(): string | null {
  for (const rel of ['../../test/fixtures', '../../../test/fixtures']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  return null;
}

const e = (x: number) => (Number.isNaN(x) ? '-' : x === 0 ? '0' : x.toExponential(2));

function row(k: OutputCheck): string {
  const result = k.notApplicable ? 'n/a' : k.pass ? 'pass' : 'FAIL';
  const cols = [
    k.case.padEnd(34),
    k.module.padEnd(32),
    k.output.padEnd(26),
    e(k.maxAbs).padStart(9),
    e(k.maxRel).padStart(9),
    e(k.tolAbs).padStart(9),
    result,
  ];
  return `${cols.join(' ')}${k.detail ? `  ${k.detail}` : ''}`;
}

export async function runVerify(dirs: string[], opts: { fixtures?: string; filter?: string; json?: boolean }): Promise<void> {
  const roots = [...dirs, ...(opts.fixtures ? [opts.fixtures] : [])];
  if (roots.length === 0) {
    const bundled = bundledFixtures();
    if (!bundled)
      throw new MedgpuError('BAD_ARGUMENT', 'no fixture folder given and the bundled test/fixtures is not installed; pass a folder');
    roots.push(bundled);
  }
  for (const r of roots) if (!existsSync(r)) throw new MedgpuError('BAD_ARGUMENT', `${r}: no such folder`);
  const filter = opts.filter ? new RegExp(opts.filter) : undefined;
  const out = opts.json ? (s: string) => console.error(s) : (s: string) => console.log(s);
  const gpu = await createGpu();
  try {
    out(`verifying ${roots.join(', ')} on ${gpu.info.description || gpu.info.device || 'this adapter'}`);
    out(
      `${'case'.padEnd(34)} ${'module'.padEnd(32)} ${'output'.padEnd(26)} ${'max abs'.padStart(9)} ${'max rel'.padStart(9)} ${'tolerance'.padStart(9)} result`,
    );
    const t0 = Date.now();
    const report = await verifyFixtures(gpu, roots, {
      filter,
      onCase: (_m, _c, checks) => {
        for (const k of checks) out(row(k));
      },
    });
    const na = report.checks.filter((k) => k.notApplicable).length;
    out(
      `\n${report.manifests.length} manifests, ${report.cases} cases, ${report.checks.length} checks: ${report.checks.length - report.failed.length - na} passed, ${report.failed.length} failed${na ? `, ${na} not applicable (reference outputs of other libraries or given inputs)` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (report.cases === 0) {
      out('no cases found: nothing was verified');
      process.exitCode = 1;
    }
    if (report.failed.length) {
      out('FAILED:');
      for (const k of report.failed) out(`  ${row(k)}`);
      process.exitCode = 1;
    }
    if (opts.json) console.log(JSON.stringify(report, null, 2));
  } finally {
    gpu.destroy();
  }
}

/** Adds `verify`. */
export function registerVerify(program: Command): void {
  program
    .command('verify [dirs...]')
    .description('run fixture manifests (the format of shared/fixtures) through this install and compare with the reference outputs')
    .option('--fixtures <dir>', 'a fixtures folder (same as a positional folder); default: the bundled test/fixtures')
    .option('--filter <regex>', 'only cases whose "<manifest folder>/<case name>" matches')
    .option('--json', 'print the full report as JSON on stdout')
    .action((dirs: string[], opts: { fixtures?: string; filter?: string; json?: boolean }) => runVerify(dirs, opts));
}
