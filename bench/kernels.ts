/**
 * `medgpu bench kernels`: each kernel at the shapes Stable Diffusion and MedVAE use. Times are medians of
 * `reps` runs, each a batch of launches in one submit measured to completion; GFLOP/s and GB/s come from the
 * kernel's cost model.
 */
import type { Gpu } from '../src/runtime/gpu.js';
import type { KernelBench } from './case.js';
import { KERNEL_BENCHES } from './cases.js';

export interface BenchRow {
  kernel: string;
  shape: string;
  dtype: string;
  medianMs: number;
  gflops: number;
  gbps: number;
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
  const rows: BenchRow[] = [];
  for (const b of KERNEL_BENCHES) {
    if (re ? !re.test(`${b.kernel} ${b.shape}`) : b.onlyWhenFiltered) continue;
    if (b.dtype === 'f16' && !gpu.hasF16) continue;
    const row = await timeBench(gpu, b, opts.reps);
    rows.push(row);
    if (!opts.json) {
      console.log(
        `${row.kernel.padEnd(22)} ${row.shape.padEnd(24)} ${row.dtype}  ${row.medianMs.toFixed(3).padStart(9)} ms  ${row.gflops.toFixed(1).padStart(7)} GFLOP/s  ${row.gbps.toFixed(1).padStart(7)} GB/s`,
      );
    }
  }
  if (opts.json) console.log(JSON.stringify(rows));
  return rows;
}
