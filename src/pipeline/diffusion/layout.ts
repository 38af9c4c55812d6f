/**
 * Host-side layout changes at the pipeline's edges: diffusers' tensors are NCHW, the engine's activations are
 * channels-last (NHWC). Latents and images are small, so these run on the host at upload/readback.
 */

/** NCHW → NHWC. */
export function nchwToNhwc(x: ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx] as number;
  return out;
}

/** NHWC → NCHW. */
export function nhwcToNchw(x: ArrayLike<number>, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch] as number;
  return out;
}
