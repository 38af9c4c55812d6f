/**
 * Authenticity: is a synthetic image a (near) copy of a real one? For each synthetic image, its nearest
 * reference image by two perceptual measures:
 *
 * - pixel SSIM on a common grid: both images area-resized to `grid × grid` (default 128; the aspect ratio is not
 *   kept, which distorts both alike when they share one), SSIM as in `ssim.ts`; near copy at or above
 *   `ssimThreshold` (default 0.95). The reference side is prepared once, so a comparison filters one map.
 * - MedVAE latent (when a 2D MedVAE is given): the deterministic (posterior mean) stage-2 latent of the image
 *   resized to the grid, min-max scaled to [-1, 1] as MedVAE's 2D loader does (gray replicated to the model's
 *   channels); compared by cosine similarity after subtracting the reference set's mean latent (so what every
 *   image shares — the encoder's biases, the average anatomy — does not make all pairs look alike) and by the
 *   RMS distance; near copy at or above `latentCosineThreshold` (default 0.95).
 */
import { MedgpuError } from '../runtime/errors.js';
import type { MedVAE } from '../pipeline/medvae/medvae.js';
import { type Plane, resizeArea } from './plane.js';
import { type SsimPrepared, prepareSsim, ssimPrepared } from './ssim.js';

export interface NearCopyOptions {
  /** Side of the common grid. Default 128. */
  grid: number;
  ssimThreshold: number;
  latentCosineThreshold: number;
}

export const DEFAULT_NEAR_COPY_OPTIONS: NearCopyOptions = { grid: 128, ssimThreshold: 0.95, latentCosineThreshold: 0.95 };

export interface SsimNeighbour {
  /** Index into the reference list. */
  index: number;
  ssim: number;
}

export interface LatentNeighbour {
  index: number;
  /** Cosine similarity of the mean-centred latents. */
  cosine: number;
  /** RMS difference of the latents (model units). */
  rms: number;
}

export function checkGrid(grid: number): void {
  if (!Number.isInteger(grid) || grid < 16 || grid > 1024) {
    throw new MedgpuError('BAD_ARGUMENT', `the near-copy grid must be an integer from 16 to 1024 pixels, got ${grid}`);
  }
}

/** The image on the common grid, with its SSIM statistics. */
export function prepareForNearCopy(p: Plane, grid = DEFAULT_NEAR_COPY_OPTIONS.grid): SsimPrepared {
  checkGrid(grid);
  return prepareSsim(resizeArea(p, grid, grid));
}

/** The reference image with the highest SSIM to `query` (first one on ties). */
export function nearestBySsim(query: SsimPrepared, references: readonly SsimPrepared[]): SsimNeighbour {
  if (references.length === 0) throw new MedgpuError('BAD_ARGUMENT', 'near-copy search: the reference set is empty');
  let best: SsimNeighbour = { index: -1, ssim: Number.NEGATIVE_INFINITY };
  for (const [i, r] of references.entries()) {
    const s = ssimPrepared(query, r).ssim;
    if (s > best.ssim) best = { index: i, ssim: s };
  }
  return best;
}

/** MedVAE's 2D input from a plane: resized to the grid, min-max scaled to [-1, 1], gray replicated per channel. */
function medvaeInput(p: Plane, grid: number, channels: number): { channels: number; spatial: number[]; data: Float32Array } {
  const r = resizeArea(p, grid, grid);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of r.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = hi > lo ? 1 / (hi - lo) : 0;
  const n = grid * grid;
  const data = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    const v = ((r.data[i] as number) - lo) * scale * 2 - 1;
    for (let c = 0; c < channels; c++) data[c * n + i] = v;
  }
  return { channels, spatial: [grid, grid], data };
}

/** The deterministic stage-2 MedVAE latent of a plane on the common grid, flattened. */
export async function medvaeLatent(mvae: MedVAE, p: Plane, grid = DEFAULT_NEAR_COPY_OPTIONS.grid): Promise<Float32Array> {
  checkGrid(grid);
  if (mvae.dims !== 2) throw new MedgpuError('BAD_ARGUMENT', `near-copy latents need a 2D MedVAE model; ${mvae.info.name} is 3D`);
  if (grid % mvae.factor !== 0) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `the near-copy grid ${grid} must be a multiple of ${mvae.info.name}'s downsampling factor ${mvae.factor}`,
    );
  }
  const { latent } = await mvae.encode(medvaeInput(p, grid, mvae.inChannels), { deterministic: true });
  return latent.data;
}

/** The element-wise mean of the latents (the centre the cosine similarity is taken about). */
export function meanLatent(latents: readonly Float32Array[]): Float32Array {
  const first = latents[0];
  if (!first) throw new MedgpuError('BAD_ARGUMENT', 'near-copy search: the reference set is empty');
  const out = new Float32Array(first.length);
  for (const l of latents) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + (l[i] as number) / latents.length;
  return out;
}

/** The reference latent most similar (centred cosine) to `query`, with its RMS distance. */
export function nearestByLatent(query: Float32Array, references: readonly Float32Array[], centre: Float32Array): LatentNeighbour {
  if (references.length === 0) throw new MedgpuError('BAD_ARGUMENT', 'near-copy search: the reference set is empty');
  const n = query.length;
  let qq = 0;
  for (let i = 0; i < n; i++) qq += ((query[i] as number) - (centre[i] as number)) ** 2;
  let best: LatentNeighbour = { index: -1, cosine: Number.NEGATIVE_INFINITY, rms: Number.POSITIVE_INFINITY };
  for (const [j, r] of references.entries()) {
    if (r.length !== n) throw new MedgpuError('BAD_ARGUMENT', `near-copy search: latents of ${n} and ${r.length} values differ`);
    let dot = 0;
    let rr = 0;
    let se = 0;
    for (let i = 0; i < n; i++) {
      const a = (query[i] as number) - (centre[i] as number);
      const b = (r[i] as number) - (centre[i] as number);
      dot += a * b;
      rr += b * b;
      se += (a - b) ** 2;
    }
    // Two latents equal to the centre are identical, not orthogonal.
    const cosine = qq === 0 && rr === 0 ? 1 : qq === 0 || rr === 0 ? 0 : dot / Math.sqrt(qq * rr);
    if (cosine > best.cosine) best = { index: j, cosine, rms: Math.sqrt(se / n) };
  }
  return best;
}
