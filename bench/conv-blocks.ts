/**
 * The subgroup conv kernel's register blocks side by side: each `rows x cols` variant of the same 3×3 conv is
 * run in turn (interleaved, so load changes hit all alike) and the medians compared; the first call's time
 * (compile, or a Mesa shader-cache hit) is printed too.
 *
 *   SHAPES='2,64,64,320,320;2,32,32,640,640' VARIANTS='16x1;32x2;64x2' ROUNDS=3 npx tsx bench/conv-blocks.ts
 *
 * SHAPES: `n,h,w,cin,cout` per conv; VARIANTS: `rows x cols`; MESA_SHADER_CACHE_DISABLE=true gives cold compiles.
 */
import { conv, convCost, prepareConvWeight } from '../src/kernels/conv.js';
import { createGpu } from '../src/runtime/gpu.js';
import { randomTensor } from './case.js';

const gpu = await createGpu();
const shapes = (process.env.SHAPES ?? '2,64,64,320,320;2,32,32,640,640;2,16,16,1280,1280;1,128,128,512,512')
  .split(';')
  .map((s) => s.split(',').map(Number));
const variants = (process.env.VARIANTS ?? '16x1;16x2;8x2;32x1;32x2').split(';').map((v) => v.split('x').map(Number));
const rounds = Number(process.env.ROUNDS ?? 3);
for (const [n, h, w, cin, cout] of shapes as [number, number, number, number, number][]) {
  const x = randomTensor(gpu, [n, h, w, cin], 'f32');
  const host = new Float32Array(cout * cin * 9).map((_, i) => Math.sin(i * 78.233) * 0.05);
  const wt = prepareConvWeight(gpu, host, [cout, cin, 3, 3]);
  const cost = convCost(n, h * w, h * w, cin, cout, 9, 'f32');
  const times = new Map<string, number[]>();
  const compile: string[] = [];
  for (const [rows, cols] of variants) {
    const t0 = performance.now();
    gpu.scope(() => conv(gpu, x, wt, {}, { padding: 1, impl: 'subgroup', rows, cols }));
    await gpu.sync();
    compile.push(`${rows}x${cols} first ${(performance.now() - t0).toFixed(0)}ms`);
  }
  console.log(compile.join(' | '));
  for (let r = 0; r < rounds; r++) {
    for (const [rows, cols] of variants) {
      const t0 = performance.now();
      gpu.scope(() => conv(gpu, x, wt, {}, { padding: 1, impl: 'subgroup', rows, cols }));
      await gpu.sync();
      const k = `${rows}x${cols}`;
      times.set(k, [...(times.get(k) ?? []), performance.now() - t0]);
    }
  }
  const line = [...times].map(([k, t]) => {
    const m = t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
    return `${k} ${m.toFixed(0)}ms ${(cost.flops / m / 1e6).toFixed(1)}GF/s`;
  });
  console.log(`${n}x${h}x${w}x${cin}->${cout}: ${line.join(' | ')}  load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
}
process.exit(0);
