/**
 * f16 packing of the subgroup matmul (software adapters), side by side in one process: x·Wᵀ in f32, in f16
 * with one half per load (`packF16: false`) and in f16 reading two halves per u32 word (the default). Each
 * variant cycles through WEIGHTS distinct weight matrices (default 8: more than the L3 holds, so weights
 * come from memory as inside a model, not hot from cache as in a one-layer loop). Medians of ROUNDS.
 *
 *   npx tsx bench/f16-packing.ts
 *   LINEARS='2048,320,2560' WEIGHTS=1 ROUNDS=5 npx tsx bench/f16-packing.ts
 *
 * LINEARS: `M,K,N` per x·Wᵀ (W as PyTorch's [N, K]), `;`-separated.
 */
import { loadavg } from 'node:os';
import { matmul, matmulCost } from '../src/kernels/matmul.js';
import { createGpu } from '../src/runtime/gpu.js';
import { randomTensor } from './case.js';

const gpu = await createGpu();
const linears = (process.env.LINEARS ?? '2048,320,2560;8192,320,1280;8192,1280,320;2048,640,640;512,1280,1280')
  .split(';')
  .filter((s) => s.length > 0)
  .map((s) => s.split(',').map(Number));
const weights = Number(process.env.WEIGHTS ?? 8);
const rounds = Number(process.env.ROUNDS ?? 3);
const VARIANTS = [
  { name: 'f32', dtype: 'f32', packF16: true },
  { name: 'f16 one half per load', dtype: 'f16', packF16: false },
  { name: 'f16 packed', dtype: 'f16', packF16: true },
] as const;

for (const [M, K, N] of linears as [number, number, number][]) {
  const flops = weights * matmulCost(1, M, K, N, 'f32').flops;
  const cells: string[] = [];
  for (const v of VARIANTS) {
    await gpu.scopeAsync(async () => {
      const a = randomTensor(gpu, [M, K], v.dtype);
      const ws = Array.from({ length: weights }, () => randomTensor(gpu, [N, K], v.dtype));
      const run = () => gpu.scope(() => ws.forEach((b) => void matmul(gpu, { a, b }, { transB: true, packF16: v.packF16 })));
      run(); // compile (or a Mesa shader-cache hit) and warm up
      await gpu.sync();
      const t: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        run();
        await gpu.sync();
        t.push(performance.now() - t0);
      }
      const ms = t.sort((x, y) => x - y)[Math.floor(t.length / 2)] as number;
      cells.push(`${v.name} ${(flops / ms / 1e6).toFixed(1)} GFLOP/s`);
    });
  }
  console.log(`x·Wᵀ ${M}x${K}x${N} (${weights} weights): ${cells.join(' | ')}  (load ${loadavg()[0]?.toFixed(1)})`);
}
process.exit(0);
