/** Naive CPU references for the embedding kernels. */

/** `table[ids]` for a row-major [V, D] table. */
export function gatherRef(table: ArrayLike<number>, d: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let r = 0; r < ids.length; r++) for (let j = 0; j < d; j++) out[r * d + j] = table[(ids[r] as number) * d + j] as number;
  return out;
}

/**
 * diffusers `get_timestep_embedding`, with the f32 roundings torch performs (frequencies, t·freq and ·scale
 * in float32) and sin/cos of the resulting f32 argument in float64: the best answer an f32 kernel can give.
 */
export function timestepEmbeddingRef(
  timesteps: ArrayLike<number>,
  dim: number,
  flipSinToCos: boolean,
  downscaleFreqShift: number,
  scale = 1,
  maxPeriod = 10000,
): Float64Array {
  const f = Math.fround;
  const half = Math.floor(dim / 2);
  const negLog = f(-Math.log(maxPeriod));
  const div = f(half - downscaleFreqShift);
  const out = new Float64Array(timesteps.length * dim);
  for (let b = 0; b < timesteps.length; b++) {
    for (let i = 0; i < half; i++) {
      const freq = f(Math.exp(f(f(negLog * i) / div)));
      const arg = f(f(scale) * f(f(timesteps[b] as number) * freq));
      const s = Math.sin(arg);
      const c = Math.cos(arg);
      out[b * dim + i] = flipSinToCos ? c : s;
      out[b * dim + half + i] = flipSinToCos ? s : c;
    }
    // An odd dim leaves the last column zero (Float64Array starts zeroed).
  }
  return out;
}
