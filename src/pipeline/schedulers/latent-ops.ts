/**
 * What a scheduler may do to latents. Latents live on the GPU during generation, so a scheduler never reads
 * element data: it computes scalar coefficients on the host and asks for linear combinations (and, for
 * `clip_sample`, a clamp). `CpuLatentOps` runs them on Float32Arrays (tests, reference); `GpuLatentOps`
 * (gpu-latent-ops.ts) on GPU tensors.
 */

export type Term<T> = readonly [coefficient: number, tensor: T];

export interface LatentOps<T> {
  /** Σ cᵢ·xᵢ as a new tensor (all xᵢ of one shape; 1–5 terms typical). */
  lincomb(terms: ReadonlyArray<Term<T>>): T;
  /** min(max(x, lo), hi) as a new tensor. */
  clamp(x: T, lo: number, hi: number): T;
  /**
   * Takes ownership of a tensor this ops object returned, so it survives past the current step (history of
   * PNDM/LMS/DPM, a sample kept for the next call). The scheduler later gives it back with `drop`.
   */
  retain(x: T): T;
  /** Releases a tensor this ops object returned (retained or a temporary the scheduler does not return). */
  drop(x: T): void;
}

/**
 * Float32Array implementation. Each term is rounded to float32 and accumulated left to right in float32,
 * as a chain of float32 `alpha·a + beta·b` kernels would.
 */
export class CpuLatentOps implements LatentOps<Float32Array> {
  lincomb(terms: ReadonlyArray<Term<Float32Array>>): Float32Array {
    const first = terms[0];
    if (!first) throw new Error('lincomb needs at least one term');
    const n = first[1].length;
    const out = new Float32Array(n);
    for (const [, x] of terms) {
      if (x.length !== n) throw new Error(`lincomb: length ${x.length} vs ${n}`);
    }
    const [c0, x0] = first;
    for (let i = 0; i < n; i++) out[i] = c0 * (x0[i] as number);
    for (let k = 1; k < terms.length; k++) {
      const [c, x] = terms[k] as Term<Float32Array>;
      for (let i = 0; i < n; i++) out[i] = (out[i] as number) + Math.fround(c * (x[i] as number));
    }
    return out;
  }

  clamp(x: Float32Array, lo: number, hi: number): Float32Array {
    return x.map((v) => Math.min(Math.max(v, lo), hi));
  }

  retain(x: Float32Array): Float32Array {
    return x;
  }

  drop(_x: Float32Array): void {}
}
