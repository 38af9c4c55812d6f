/** Naive float64 reference of the LDM DiagonalGaussianDistribution read-outs (channels-last moments). */
import { LOGVAR_MAX, LOGVAR_MIN, type PosteriorOutput } from '../diagonal-gaussian.js';

export function diagonalGaussianRef(
  moments: ArrayLike<number>,
  channels2: number,
  output: PosteriorOutput,
  eps?: ArrayLike<number>,
): Float64Array {
  const c = channels2 / 2;
  const rows = moments.length / channels2;
  const out = new Float64Array(rows * c);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < c; k++) {
      const mean = moments[r * channels2 + k] as number;
      const logvar = Math.min(Math.max(moments[r * channels2 + c + k] as number, LOGVAR_MIN), LOGVAR_MAX);
      const std = Math.exp(0.5 * logvar);
      const i = r * c + k;
      if (output === 'logvar') out[i] = logvar;
      else if (output === 'std') out[i] = std;
      else if (output === 'sample' && eps) out[i] = mean + std * (eps[i] as number);
      else out[i] = mean;
    }
  }
  return out;
}
