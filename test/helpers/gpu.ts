/** One Gpu per test file (vitest runs files in separate processes). */
import { afterAll } from 'vitest';
import { type Gpu, createGpu } from '../../src/runtime/gpu.js';

let gpu: Promise<Gpu> | null = null;

export function getGpu(): Promise<Gpu> {
  if (!gpu) {
    gpu = createGpu();
    afterAll(async () => {
      const g = await gpu;
      g?.destroy();
      gpu = null;
    });
  }
  return gpu;
}
