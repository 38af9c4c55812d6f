/**
 * The adapter-ceiling probe of `bench kernels` does the work its cost model counts: its output equals a CPU
 * run of the same multiply-add chains (so the compiler cannot have dropped or folded any of them), over
 * random accumulator counts, chain lengths, iteration counts and coefficients.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aluProbeCost, aluProbeReference, launchAluProbe } from '../../bench/cases/ceiling.js';
import { runKernelBench } from '../../bench/kernels.js';
import { getGpu } from '../helpers/gpu.js';

describe('bench ceiling: ALU probe', () => {
  it('matches the CPU chains for random specs', async () => {
    const gpu = await getGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 9 }),
        fc.double({ min: -1.1, max: 1.1, noNaN: true }),
        fc.double({ min: -2, max: 2, noNaN: true }),
        async (accumulators, chain, iterations, m, c) => {
          const spec = { accumulators, chain };
          const mf = Math.fround(m);
          const cf = Math.fround(c);
          const got = await gpu.scopeAsync(async () => {
            const out = gpu.empty([2 * 64]);
            launchAluProbe(gpu, spec, out, 2, iterations, mf, cf);
            return gpu.read(out);
          });
          for (const inv of [0, 1, 63, 96, 127]) {
            const want = aluProbeReference(spec, inv, iterations, mf, cf);
            expect(Math.abs((got[inv] as number) - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it('bench kernels measures the ceilings first and reads every row against them', async () => {
    const gpu = await getGpu();
    const rows = await runKernelBench(gpu, { json: true, filter: '^softmax 8x4096x77$', reps: 1 });
    const softmaxRows = gpu.hasF16 ? ['softmax', 'softmax'] : ['softmax'];
    expect(rows.map((r) => r.kernel)).toEqual(['ceiling: ALU', 'ceiling: ALU', 'ceiling: copy', ...softmaxRows]);
    const alu = rows.filter((r) => r.kernel === 'ceiling: ALU');
    expect(Math.max(...alu.map((r) => r.aluCeilingShare ?? 0))).toBe(1);
    expect(rows[2]?.copyCeilingShare).toBe(1);
    const softmax = rows.filter((r) => r.kernel === 'softmax');
    for (const r of softmax) {
      expect(r.aluCeilingShare).toBeCloseTo(r.gflops / Math.max(...alu.map((a) => a.gflops)), 2);
      expect(r.copyCeilingShare).toBeGreaterThan(0);
    }
  }, 120_000);

  it('counts two flops per multiply-add', () => {
    expect(aluProbeCost({ accumulators: 24, chain: 8 }, 64, 10).flops).toBe(2 * 24 * 8 * 10 * 64);
  });
});
