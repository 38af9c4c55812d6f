/** Spying on dispatches: which buffer ranges kernels bind (tests of the binding-size limit and its splitting). */
import { vi } from 'vitest';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Binding } from '../../src/runtime/recorder.js';

/** Every buffer range bound by every dispatch made while `fn` runs. */
export function bindings(gpu: Gpu, fn: () => void): { buffer: GPUBuffer; size: number }[] {
  const seen: { buffer: GPUBuffer; size: number }[] = [];
  const orig = gpu.dispatch.bind(gpu);
  const spy = vi.spyOn(gpu, 'dispatch').mockImplementation((args) => {
    for (const b of args.bindings as Binding[])
      seen.push({ buffer: b.buffer, size: 'shape' in b ? b.byteLength : (b.size ?? b.buffer.size) });
    orig(args);
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return seen;
}
