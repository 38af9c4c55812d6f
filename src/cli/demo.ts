import { unary, binary } from '../kernels/elementwise.js';
import { binaryRef, unaryRef } from '../kernels/reference/elementwise.js';
import type { Gpu } from '../runtime/gpu.js';
import { formatInfo } from './info.js';

/**
 * The main job on a fresh machine until the pipelines land: prints the adapter and checks a small chain of
 * kernels end to end against the CPU reference. Returns false when a check fails.
 */
export async function runDemo(gpu: Gpu, log: (s: string) => void): Promise<boolean> {
  log(formatInfo(gpu));
  log('');
  const shapeA = [2, 64, 40];
  const shapeB = [40];
  const a = Float32Array.from({ length: 2 * 64 * 40 }, (_, i) => Math.sin(i * 0.37) * 3);
  const b = Float32Array.from({ length: 40 }, (_, i) => Math.cos(i) * 0.5);
  const t0 = performance.now();
  const got = await gpu.scopeAsync(async () => {
    const y = binary(gpu, gpu.upload(a, shapeA), gpu.upload(b, shapeB), { op: 'add', activation: 'gelu' });
    return gpu.read(unary(gpu, y, 'silu'));
  });
  const ms = performance.now() - t0;
  const ref = unaryRef('silu', binaryRef('add', a, shapeA, b, shapeB, { activation: 'gelu' }).data);
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs((got[i] as number) - (ref[i] as number)));
  const ok = maxAbs <= 1e-5;
  log(
    `kernel check: silu(gelu(a + b)) on [2, 64, 40] with broadcasting: max |gpu - cpu| = ${maxAbs.toExponential(2)} (${ms.toFixed(1)} ms) ${ok ? 'PASS' : 'FAIL'}`,
  );
  return ok;
}
