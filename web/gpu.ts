/**
 * The page's one WebGPU device, acquired on first use and shared by both panels. A lost device is dropped so
 * the next action starts a fresh one. `?gpuBudgetMiB=N` caps the engine's GPU memory (to try what a small GPU
 * would do, and to test the out-of-memory message).
 */
import { createGpu, type Gpu } from '../src/browser.js';

let current: Promise<Gpu> | null = null;

function budget(): number | undefined {
  const mib = Number(new URLSearchParams(location.search).get('gpuBudgetMiB'));
  return Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : undefined;
}

export function getGpu(): Promise<Gpu> {
  if (!current) {
    const p = createGpu({ memoryBudgetBytes: budget() });
    current = p;
    p.then(
      (gpu) => void gpu.device.lost.then(() => (current === p ? (current = null) : undefined)),
      () => (current === p ? (current = null) : undefined),
    );
  }
  return current;
}

/** One line about the adapter for the page header. */
export function describeAdapter(gpu: Gpu): string {
  const i = gpu.info;
  const name = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const bits = [
    i.isFallbackAdapter ? 'software (fallback) adapter' : '',
    gpu.hasF16 ? 'shader-f16' : 'no shader-f16 (f32 only)',
    gpu.hasSubgroups ? `subgroups${i.subgroupMinSize ? ` ${i.subgroupMinSize}–${i.subgroupMaxSize}` : ''}` : 'no subgroups',
    `max binding ${Math.round(Number(gpu.limits.maxStorageBufferBindingSize) / 2 ** 20)} MiB`,
  ].filter(Boolean);
  return `WebGPU: ${name} — ${bits.join(', ')}`;
}
