/** An end-to-end benchmark case: one model call at one size, on models shared by its group. */
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Layer } from '../peers/layers.js';

/** Models loaded for a group of cases; `release` frees them. */
export interface Loaded {
  release(): void;
  /** f32 bytes of every weight of the group's models (the memory targets are relative to it). */
  weightBytes: number;
}

export interface E2eCase<M extends Loaded = Loaded> {
  name: string;
  group: string;
  /** One sample only and no warm-up run (a whole generation, a 256³ volume): minutes per run here. */
  heavy?: boolean;
  /** The case before it compiled the same pipelines (same model, smaller size): no warm-up run. */
  warmedBefore?: boolean;
  load(gpu: Gpu): Promise<M>;
  /** The same computation for the PyTorch CPU peer (a whole block), where one is written. */
  peer?: Layer;
  /** Prepares inputs; the returned function runs the case once and resolves when the GPU is done. */
  prepare(gpu: Gpu, m: M): Promise<() => Promise<void>>;
}
