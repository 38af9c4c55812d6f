/** Naive float64 CPU references for group norm (channels-last) and layer norm (last axis). */

export interface NormRefAffine {
  gamma?: ArrayLike<number>;
  beta?: ArrayLike<number>;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/**
 * Group norm of x [N, ...spatial, C] (channels last) with `groups` groups: two-pass mean and biased
 * variance per (sample, group), then `(x - mean)/sqrt(var + eps)·gamma + beta`, then optional SiLU.
 */
export function groupNormRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  groups: number,
  eps: number,
  affine: NormRefAffine = {},
  fuseSilu = false,
): Float64Array {
  const N = shape[0] as number;
  const C = shape[shape.length - 1] as number;
  const P = N * C === 0 ? 0 : x.length / (N * C);
  const cg = C / groups;
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const at = (p: number, c: number) => (n * P + p) * C + g * cg + c;
      let sum = 0;
      for (let p = 0; p < P; p++) for (let c = 0; c < cg; c++) sum += x[at(p, c)] as number;
      const mean = sum / (P * cg);
      let sq = 0;
      for (let p = 0; p < P; p++) for (let c = 0; c < cg; c++) sq += ((x[at(p, c)] as number) - mean) ** 2;
      const rstd = 1 / Math.sqrt(sq / (P * cg) + eps);
      for (let p = 0; p < P; p++) {
        for (let c = 0; c < cg; c++) {
          const ch = g * cg + c;
          let v = ((x[at(p, c)] as number) - mean) * rstd;
          if (affine.gamma) v = v * (affine.gamma[ch] as number) + (affine.beta?.[ch] as number);
          y[at(p, c)] = fuseSilu ? silu(v) : v;
        }
      }
    }
  }
  return y;
}

/** Layer norm over the last axis of x [..., D]: two-pass mean and biased variance per row. */
export function layerNormRef(x: ArrayLike<number>, D: number, eps: number, affine: NormRefAffine = {}): Float64Array {
  const rows = D === 0 ? 0 : x.length / D;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < D; c++) sum += x[r * D + c] as number;
    const mean = sum / D;
    let sq = 0;
    for (let c = 0; c < D; c++) sq += ((x[r * D + c] as number) - mean) ** 2;
    const rstd = 1 / Math.sqrt(sq / D + eps);
    for (let c = 0; c < D; c++) {
      let v = ((x[r * D + c] as number) - mean) * rstd;
      if (affine.gamma) v = v * (affine.gamma[c] as number) + (affine.beta?.[c] as number);
      y[r * D + c] = v;
    }
  }
  return y;
}
