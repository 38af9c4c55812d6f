/**
 * diffusers `AutoencoderKL.tiled_decode`: the latent is cut into overlapping tiles of `tileLatent` =
 * sample_size / 2^(levels−1) latent pixels, starting every ⌊tileLatent·(1 − overlap)⌋; each tile is decoded
 * on its own (so memory is bounded by one tile's activations), then every tile is blended into the one above
 * and the one to its left over `blend` = ⌊sample_size·overlap⌋ image rows/columns with linear weights
 * (a·(1 − y/blend) + b·y/blend, with the neighbours' already-blended values, as diffusers blends in place),
 * and cropped to `sample_size − blend`. The tiles are processed a row at a time, keeping only the previous
 * row of (3-channel) decoded tiles.
 */
import { add, mul } from '../../kernels/elementwise.js';
import { concat, slice } from '../../kernels/layout.js';
import { MedgpuError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';

export interface TileOptions {
  /** Decoded tile size in image pixels (default: the config's `sample_size`, as diffusers). */
  tileSampleSize?: number;
  /** Fraction of a tile shared with its neighbour (default 0.25, diffusers' `tile_overlap_factor`). */
  overlapFactor?: number;
}

export interface TilePlan {
  tileLatent: number;
  /** Latent stride between tile starts. */
  stride: number;
  /** Image rows/columns blended between neighbours. */
  blend: number;
  /** Image rows/columns each tile contributes. */
  keep: number;
}

/** The tiling diffusers derives from `tile_sample_min_size`, the downscale factor and the overlap. */
export function tilePlan(tileSampleSize: number, downscale: number, overlapFactor: number): TilePlan {
  const tileLatent = Math.floor(tileSampleSize / downscale);
  const stride = Math.floor(tileLatent * (1 - overlapFactor));
  const blend = Math.floor(tileSampleSize * overlapFactor);
  if (tileLatent < 1 || stride < 1 || !(overlapFactor >= 0 && overlapFactor < 1)) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `tiled decode: tile of ${tileSampleSize} px (${tileLatent} latent px) with overlap ${overlapFactor} gives no progress; use a tile of at least ${2 * downscale} px and an overlap in [0, 1)`,
    );
  }
  return { tileLatent, stride, blend, keep: tileSampleSize - blend };
}

/** Linear blend of the last `extent` lines of `a` into the first of `b` along `axis` (1 = H, 2 = W). */
function blend(gpu: Gpu, a: Tensor, b: Tensor, axis: 1 | 2, extent: number): Tensor {
  const e = Math.min(a.dim(axis), b.dim(axis), extent);
  if (e <= 0) return b;
  return gpu.scope(() => {
    const shape = axis === 1 ? [1, e, 1, 1] : [1, 1, e, 1];
    // torch evaluates a·(1 − y/e) + b·(y/e) with the python-double weights rounded to the tensor's dtype.
    const wa = gpu.upload(
      Float32Array.from({ length: e }, (_, y) => 1 - y / e),
      shape,
      b.dtype,
    );
    const wb = gpu.upload(
      Float32Array.from({ length: e }, (_, y) => y / e),
      shape,
      b.dtype,
    );
    const aTail = slice(gpu, a, axis, a.dim(axis) - e, a.dim(axis));
    const mixed = add(gpu, mul(gpu, aTail, wa), mul(gpu, slice(gpu, b, axis, 0, e), wb));
    return e === b.dim(axis) ? mixed : concat(gpu, [mixed, slice(gpu, b, axis, e, b.dim(axis))], axis);
  });
}

/** Releases `old` when `next` replaced it. */
function replace(old: Tensor, next: Tensor): Tensor {
  if (next !== old) old.release();
  return next;
}

/** `x[:, :rows, :cols]` (no copy when nothing is cut). */
function crop(gpu: Gpu, x: Tensor, rows: number, cols: number): Tensor {
  let y = x;
  if (y.dim(1) > rows) y = slice(gpu, y, 1, 0, rows);
  if (y.dim(2) > cols) y = slice(gpu, y, 2, 0, cols);
  return y;
}

/**
 * Decodes `z` [B, h, w, C] tile by tile with `decodeTile` (post_quant_conv + decoder of one latent tile)
 * and blends the tiles as diffusers does. Returns [B, h·f, w·f, out].
 */
export function tiledDecode(gpu: Gpu, z: Tensor, plan: TilePlan, decodeTile: (tile: Tensor) => Tensor): Tensor {
  const [, h, w] = z.shape as [number, number, number, number];
  return gpu.scope(() => {
    let above: Tensor[] = [];
    const rows: Tensor[] = [];
    for (let i = 0; i < h; i += plan.stride) {
      const current: Tensor[] = [];
      const kept: Tensor[] = [];
      for (let j = 0; j < w; j += plan.stride) {
        let tile = gpu.scope(() => {
          const part = slice(gpu, slice(gpu, z, 1, i, Math.min(i + plan.tileLatent, h)), 2, j, Math.min(j + plan.tileLatent, w));
          return decodeTile(part);
        });
        const up = above[current.length];
        if (up) tile = replace(tile, blend(gpu, up, tile, 1, plan.blend));
        const left = current[current.length - 1];
        if (left) tile = replace(tile, blend(gpu, left, tile, 2, plan.blend));
        current.push(tile);
        kept.push(crop(gpu, tile, plan.keep, plan.keep));
      }
      rows.push(kept.length === 1 ? (kept[0] as Tensor) : concat(gpu, kept, 2));
      // Only the blended tiles of this row are needed for the next one.
      for (const t of kept) if (kept.length > 1 && !current.includes(t)) t.release();
      for (const t of above) if (!rows.includes(t)) t.release();
      above = current;
    }
    return rows.length === 1 ? (rows[0] as Tensor) : concat(gpu, rows, 1);
  });
}
