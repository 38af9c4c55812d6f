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
