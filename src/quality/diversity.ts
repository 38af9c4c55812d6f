/**
 * Diversity of the images generated for one prompt: the mean MS-SSIM over all pairs (lower = more diverse;
 * 1 = all the same image). Images of different sizes are area-resized to the smallest width and height among
 * them first. Each image's pyramid is prepared once, so n images cost n preparations and n(n-1)/2 pair passes.
 */
import { type MsSsimPrepared, msSsimPrepared, msSsimScalesThatFit, prepareMsSsim } from './ms-ssim.js';
import { type Plane, resizeArea } from './plane.js';
import { checkSsimSize } from './ssim.js';

export interface DiversityResult {
  images: number;
  pairs: number;
  /** Mean pairwise MS-SSIM; null with fewer than 2 images. */
  meanMsSsim: number | null;
  minMsSsim: number | null;
  maxMsSsim: number | null;
  /** MS-SSIM scales used (fewer than 5 for images under 161 pixels a side). */
  scales: number;
  /** The size the pairs were compared at. */
  width: number;
  height: number;
}

export function promptDiversity(planes: readonly Plane[], onPair?: (done: number, total: number) => void): DiversityResult {
  const width = Math.min(...planes.map((p) => p.width));
  const height = Math.min(...planes.map((p) => p.height));
  if (planes.length < 2) {
    return { images: planes.length, pairs: 0, meanMsSsim: null, minMsSsim: null, maxMsSsim: null, scales: 0, width, height };
  }
  checkSsimSize(width, height, 'MS-SSIM diversity');
  const scales = msSsimScalesThatFit(width, height);
  const prepared: MsSsimPrepared[] = planes.map((p) => prepareMsSsim(resizeArea(p, width, height), { scales }));
  const total = (planes.length * (planes.length - 1)) / 2;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let done = 0;
  for (let i = 0; i < prepared.length; i++) {
    for (let j = i + 1; j < prepared.length; j++) {
      const v = msSsimPrepared(prepared[i] as MsSsimPrepared, prepared[j] as MsSsimPrepared).value;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      onPair?.(++done, total);
    }
  }
  return { images: planes.length, pairs: total, meanMsSsim: sum / total, minMsSsim: min, maxMsSsim: max, scales, width, height };
}
