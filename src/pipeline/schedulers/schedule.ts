/**
 * The training noise schedule every scheduler starts from: betas, alphas_cumprod (float32, as torch holds
 * them) and the Karras-style sigmas derived from them, computed exactly as diffusers 0.30.3 does on the CPU.
 */
import { ConfigError } from '../../runtime/errors.js';
import { f32, torchLinspaceF32 } from './numeric.js';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

export interface ScheduleOptions {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  rescaleBetasZeroSnr: boolean;
}

/** diffusers `betas_for_alpha_bar(N, max_beta=0.999, alpha_transform_type="cosine")`, cast to float32. */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float32Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
}

/** torch.cumprod of a float32 tensor on the CPU: accumulated in double, each output rounded to float32. */
export function cumprodF32(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  let acc = 1;
  for (let i = 0; i < x.length; i++) {
    acc *= x[i] as number;
    out[i] = acc;
  }
  return out;
}

/** diffusers `rescale_zero_terminal_snr` (arXiv 2305.08891, Algorithm 1), in float32 tensor arithmetic. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const alphasCumprod = cumprodF32(betas.map((b) => f32(1 - b)));
  const sqrtBar = alphasCumprod.map((a) => f32(Math.sqrt(a)));
  const first = sqrtBar[0] as number;
  const last = sqrtBar[sqrtBar.length - 1] as number;
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((s) => {
    const v = f32(f32(s - last) * scale);
    return f32(v * v);
  });
  const out = new Float32Array(betas.length);
  out[0] = f32(1 - (bar[0] as number));
  for (let i = 1; i < bar.length; i++) out[i] = f32(1 - f32((bar[i] as number) / (bar[i - 1] as number)));
  return out;
}

export function makeBetas(o: ScheduleOptions): Float32Array {
  let betas: Float32Array;
  if (o.trainedBetas) {
    if (o.trainedBetas.length !== o.numTrainTimesteps) {
      throw new ConfigError(
        'BAD_CONFIG',
        `trained_betas has ${o.trainedBetas.length} values but num_train_timesteps is ${o.numTrainTimesteps}`,
      );
    }
    betas = Float32Array.from(o.trainedBetas);
  } else if (o.betaSchedule === 'linear') {
    betas = torchLinspaceF32(o.betaStart, o.betaEnd, o.numTrainTimesteps);
  } else if (o.betaSchedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(o.betaStart), Math.sqrt(o.betaEnd), o.numTrainTimesteps).map((x) => f32(x * x));
  } else {
    betas = cosineBetas(o.numTrainTimesteps);
  }
  return o.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** alphas_cumprod = cumprod(1 - betas), float32. */
export function makeAlphasCumprod(betas: Float32Array): Float32Array {
  return cumprodF32(betas.map((b) => f32(1 - b)));
}

/** `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` as float32 tensor ops: the sigma of every train step. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/**
 * diffusers `_convert_to_karras`: `rho = 7` spacing between `sigmaMin` and `sigmaMax`
 * (Karras et al. 2022, eq. 5), in float64.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7.0;
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return Array.from({ length: n }, (_, i) => {
    const ramp = n === 1 ? 0 : i === n - 1 ? 1 : i * (1 / (n - 1));
    return (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho;
  });
}

/**
 * diffusers `_sigma_to_t`: the fractional train timestep whose log-sigma brackets `sigma`, by linear
 * interpolation in log space between neighbouring entries of `logSigmas` (float32 values, increasing).
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low_idx = argmax(cumsum(dists >= 0)), i.e. the last index with logSigmas[i] <= logSigma (0 if none).
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - (logSigmas[i] as number) >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low] as number;
  const hi = logSigmas[low + 1] as number;
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}
