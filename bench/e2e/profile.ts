/** The `--profile` summary: every timed dispatch grouped by kernel (pipeline key). */
import type { ProfiledDispatch } from '../../src/runtime/profiler.js';

const round = (x: number, d: number) => Number(x.toFixed(d));

/** Per-kernel breakdown of one profiled run: grouped by pipeline key, largest total first. */
export interface ProfileRow {
  kernel: string;
  dispatches: number;
  totalMs: number;
  share: number;
  gflops: number | null;
}

export function summariseProfile(ds: readonly ProfiledDispatch[]): ProfileRow[] {
  const by = new Map<string, { n: number; ms: number; flops: number; costed: boolean }>();
  for (const d of ds) {
    const e = by.get(d.label) ?? { n: 0, ms: 0, flops: 0, costed: false };
    e.n++;
    e.ms += d.ms;
    if (d.cost) {
      e.flops += d.cost.flops;
      e.costed = true;
    }
    by.set(d.label, e);
  }
  const total = ds.reduce((s, d) => s + d.ms, 0) || 1;
  return [...by.entries()]
    .map(([kernel, e]) => ({
      kernel,
      dispatches: e.n,
      totalMs: round(e.ms, 2),
      share: round(e.ms / total, 4),
      gflops: e.costed && e.ms > 0 ? round(e.flops / e.ms / 1e6, 2) : null,
    }))
    .sort((a, b) => b.totalMs - a.totalMs);
}

/** Shares by kernel family (the key up to its first ':' or '.'), e.g. "conv 55.5%, matmul 38.6%". */
export function familyShares(rows: readonly ProfileRow[]): string {
  const by = new Map<string, number>();
  for (const r of rows) {
    const family = r.kernel.split(/[:.]/)[0] as string;
    by.set(family, (by.get(family) ?? 0) + r.share);
  }
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([f, share]) => `${f} ${(100 * share).toFixed(1)}%`)
    .join(', ');
}
