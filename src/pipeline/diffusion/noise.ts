/**
 * Where a pipeline's random numbers come from. diffusers draws every random tensor (initial latents, the VAE
 * posterior sample, `add_noise` noise, ancestral step noise) from one generator in a fixed order, NCHW-shaped;
 * a `NoiseSource` reproduces that stream. Tensors are drawn in NCHW order and returned NCHW: the pipeline
 * permutes them to the engine's channels-last layout when it uploads them.
 */
import { MedgpuError } from '../../runtime/errors.js';
import { numel } from '../../runtime/tensor.js';
import { TorchGenerator } from '../rng.js';

export interface NoiseSource {
  /** A standard-normal tensor of `shape` (NCHW), as `randn_tensor(shape, generator)` draws it. */
  randn(shape: readonly number[]): Float32Array;
}

/** diffusers with `generator=torch.Generator('cpu').manual_seed(seed)`: bit-exact seed parity. */
export function seededNoise(seed: number | bigint): NoiseSource {
  const g = new TorchGenerator(seed);
  return { randn: (shape) => g.randn(numel(shape)) };
}

/**
 * Replays given tensors in order (the recorded noise of a reference run). Asking for a different size is an
 * error that names the draw; so is asking for more tensors than were given, unless `after` supplies them
 * (e.g. draws whose values the reference ignores, like Euler's at s_churn = 0).
 */
export function recordedNoise(tensors: readonly Float32Array[], after?: NoiseSource): NoiseSource {
  let next = 0;
  return {
    randn(shape) {
      const t = tensors[next];
      const n = numel(shape);
      const what = `recorded noise: draw ${next + 1} of shape [${shape.join(', ')}]`;
      if (!t) {
        if (after) return after.randn(shape);
        throw new MedgpuError('BAD_ARGUMENT', `${what}, but only ${tensors.length} tensors were given`);
      }
      if (t.length !== n) throw new MedgpuError('BAD_ARGUMENT', `${what} (${n} values), but the tensor has ${t.length}`);
      next++;
      return t;
    },
  };
}

/** A random 32-bit seed, for runs where the caller gave none (reported back so the image can be reproduced). */
export function randomSeed(): number {
  const c = globalThis.crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0] as number;
  return Math.floor(Math.random() * 2 ** 32);
}
