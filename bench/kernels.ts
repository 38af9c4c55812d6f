/**
 * `medgpu bench kernels`: each kernel at the shapes Stable Diffusion and MedVAE use. Times are medians of
 * `reps` runs, each a batch of launches in one submit measured to completion; GFLOP/s and GB/s come from the
 * kernel's cost model.
 */
import type { Gpu } from '../src/runtime/gpu.js';
import type { KernelBench } from './case.js';
import { KERNEL_BENCHES } from './cases.js';
import { ceilingBenches } from './cases/ceiling.js';

export interface BenchRow {
  kernel: string;
  shape: string;
  dtype: string;
  medianMs: number;
  gflops: number;
  gbps: number;
  /** This row's GFLOP/s as a share of the adapter's measured ALU ceiling (the best `ceiling: ALU` row). */
  aluCeilingShare?: number;
  /** This row's GB/s as a share of the adapter's measured copy bandwidth (`ceiling: copy`). */
  copyCeilingShare?: number;
}

export async function timeBench(gpu: Gpu, b: KernelBench, reps: number): Promise<BenchRow> {
  const times: number[] = [];
  await gpu.scopeAsync(async () => {
    const run = b.setup(gpu);
    run(); // compile + warm up
    await gpu.sync();
    // Launch enough times per sample that the ~1 ms await cost is amortised.
    let inner = 1;
    const t0 = performance.now();
    gpu.scope(() => run());
    await gpu.sync();
    const one = performance.now() - t0;
    inner = Math.max(1, Math.min(50, Math.ceil(30 / Math.max(one, 0.05))));
    for (let r = 0; r < reps; r++) {
      const s = performance.now();
      gpu.scope(() => {
        for (let i = 0; i < inner; i++) run();
      });
      await gpu.sync();
      times.push((performance.now() - s) / inner);
    }
  });
  times.sort((x, y) => x - y);
  const medianMs = times[Math.floor(times.length / 2)] as number;
  return {
    kernel: b.kernel,
    shape: b.shape,
    dtype: b.dtype,
    medianMs: round(medianMs, 4),
    gflops: round(b.cost.flops / medianMs / 1e6, 2),
    gbps: round(b.cost.bytes / medianMs / 1e6, 2),
  };
}

function round(x: number, d: number): number {
  return Number(x.toFixed(d));
}

export async function runKernelBench(gpu: Gpu, opts: { json: boolean; filter?: string; reps: number }): Promise<BenchRow[]> {
  const re = opts.filter ? new RegExp(opts.filter) : null;
  // The adapter's ceilings are measured first, in the same process, so every row can be read against them.
  const ceilings: BenchRow[] = [];
  for (const b of ceilingBenches) ceilings.push(await timeBench(gpu, b, opts.reps));
  const alu = Math.max(...ceilings.filter((r) => r.kernel === 'ceiling: ALU').map((r) => r.gflops));
  const copy = Math.max(...ceilings.filter((r) => r.kernel === 'ceiling: copy').map((r) => r.gbps));
  const rows: BenchRow[] = [];
  const report = (row: BenchRow) => {
    if (row.gflops > 0) row.aluCeilingShare = round(row.gflops / alu, 3);
    if (row.gbps > 0) row.copyCeilingShare = round(row.gbps / copy, 3);
    rows.push(row);
    if (!opts.json) {
      const share = (x: number | undefined) => (x === undefined ? '' : `${(100 * x).toFixed(0)}%`).padStart(5);
      console.log(
        `${row.kernel.padEnd(22)} ${row.shape.padEnd(24)} ${row.dtype}  ${row.medianMs.toFixed(3).padStart(9)} ms  ${row.gflops.toFixed(1).padStart(7)} GFLOP/s ${share(row.aluCeilingShare)}  ${row.gbps.toFixed(1).padStart(7)} GB/s ${share(row.copyCeilingShare)}`,
      );
    }
  };
  if (!opts.json) console.log('(percentages: of the adapter ALU ceiling and of its copy bandwidth, measured first)');
  for (const row of ceilings) report(row);
  for (const b of KERNEL_BENCHES) {
    if (re ? !re.test(`${b.kernel} ${b.shape}`) : b.onlyWhenFiltered) continue;
    if (b.dtype === 'f16' && !gpu.hasF16) continue;
    report(await timeBench(gpu, b, opts.reps));
  }
  if (opts.json) console.log(JSON.stringify(rows));
  return rows;
}
