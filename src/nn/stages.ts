/**
 * A model as a list of stages, run in turn synchronously or with `gpu.settle()` between them (so Dawn can
 * free the pool buffers a stage evicted before the next stage allocates more: see `Gpu.settle`).
 */
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';

/** One step of a model. `consume`: the stage may overwrite or release `h` (nobody reads it again). */
export type Stage = (h: Tensor, consume: boolean) => Tensor;

/**
 * Runs `stages` on `x`, releasing each intermediate once the next exists (unless a stage returned its input:
 * it worked in place). `x` itself is handed to the first stage, and released, only when `consume`.
 */
export function runStages(x: Tensor, stages: readonly Stage[], consume = false): Tensor {
  let h = x;
  for (const f of stages) h = step(x, h, f, consume);
  return h;
}

/** `runStages` with `gpu.settle()` after each stage. Run it inside `gpu.scopeAsync`. */
export async function runStagesAsync(gpu: Gpu, x: Tensor, stages: readonly Stage[], consume = false): Promise<Tensor> {
  let h = x;
  for (const f of stages) {
    h = step(x, h, f, consume);
    await gpu.settle();
  }
  return h;
}

function step(x: Tensor, h: Tensor, f: Stage, consume: boolean): Tensor {
  const mine = h !== x || consume;
  const next = f(h, mine);
  if (mine && next !== h) h.release();
  return next;
}
