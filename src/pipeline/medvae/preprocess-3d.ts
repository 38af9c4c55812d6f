/**
 * MedVAE's 3D preprocessing (`load_ct_3d` / `load_mri_3d`), in float32 step by step as MONAI does it:
 *
 * 1. the NIfTI voxels as float32 with `scl_slope`/`scl_inter` applied (MONAI's NibabelReader), channel added;
 * 2. `Orientation("RAS")`: the exact axis permutation and flips nibabel derives from the affine (no
 *    resampling, and no spacing resampling either);
 * 3. intensity: CT `ScaleIntensityRange(-1000, 1000, 0, 1, clip=True)` = `clip((x + 1000) / 2000, 0, 1)`;
 *    MRI `ScaleIntensity(0, 1)` = global `(x - min) / (max - min)`;
 * 4. `Normalize(0.5, 0.5)`: `(x - 0.5) / 0.5`;
 * 5. `CropForeground(k_divisible=16)`: the box of voxels > 0 (CT HU > 0, MRI above mid-range), margin 0, each
 *    side grown to a multiple of 16 and shifted back by floor(extra / 2); parts outside the volume are zeros.
 *
 * The affine follows the voxels through every step, so latents and reconstructions can be written with the
 * right geometry.
 */
import { type NiftiVolume, niftiToFloat32 } from '../../io/nifti.js';
import { type Affine, matmul4, orientToRAS } from '../../io/orientation.js';
import { MedgpuError, ShapeError } from '../../runtime/errors.js';

const f = Math.fround;

export type Modality3D = 'ct' | 'mri';

/** A single-channel volume, C order over `shape` ([R, A, S] after preprocessing), with its voxel-to-world affine. */
export interface Volume3D {
  shape: [number, number, number];
  data: Float32Array;
  affine: Affine;
}

export interface Preprocessed3D extends Volume3D {
  /** The foreground box in RAS voxel indices of the oriented volume, [start, end) per axis (may extend outside). */
  box: { start: [number, number, number]; end: [number, number, number] };
  /** Shape of the oriented volume before cropping. */
  orientedShape: [number, number, number];
  /** Axis codes of the file, e.g. "LPS". */
  sourceAxcodes: string;
  /** The intensity mapping applied, so outputs can be mapped back. */
  intensity: { modality: Modality3D; min: number; max: number };
}

/** The k-divisible crop size MONAI uses. */
export const CROP_DIVISOR = 16;
/** The CT window of `load_ct_3d`, in HU. */
export const CT_WINDOW: readonly [number, number] = [-1000, 1000];

/** Step 3 for CT: `clip((x - a_min) / (a_max - a_min) * 1 + 0, 0, 1)` in float32. */
export function ctWindow(x: number): number {
  const v = f(f(x - CT_WINDOW[0]) / (CT_WINDOW[1] - CT_WINDOW[0]));
  return Math.min(Math.max(v, 0), 1);
}

/** Steps 3–4 on a whole array; returns the normalised values and the intensity range used. */
export function normalizeIntensity(data: Float32Array, modality: Modality3D): { data: Float32Array; min: number; max: number } {
  const out = new Float32Array(data.length);
  if (modality === 'ct') {
    for (let i = 0; i < data.length; i++) out[i] = f(f(ctWindow(data[i] as number) - 0.5) / 0.5);
    return { data: out, min: CT_WINDOW[0], max: CT_WINDOW[1] };
  }
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  for (const v of data) {
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const range = f(mx - mn);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    const s = mn === mx ? f(x * 0) : f(f(x - mn) / range);
    out[i] = f(f(s - 0.5) / 0.5);
  }
  return { data: out, min: mn, max: mx };
}

/** MONAI `generate_spatial_bounding_box(img > 0)` then the k-divisible growth of `CropForeground`. */
export function foregroundBox(data: Float32Array, shape: readonly [number, number, number], k = CROP_DIVISOR) {
  const [d0, d1, d2] = shape;
  const lo = [d0, d1, d2];
  const hi = [-1, -1, -1];
  let i = 0;
  for (let a = 0; a < d0; a++) {
    for (let b = 0; b < d1; b++) {
      for (let c = 0; c < d2; c++, i++) {
        if ((data[i] as number) > 0) {
          if (a < (lo[0] as number)) lo[0] = a;
          if (a > (hi[0] as number)) hi[0] = a;
          if (b < (lo[1] as number)) lo[1] = b;
          if (b > (hi[1] as number)) hi[1] = b;
          if (c < (lo[2] as number)) lo[2] = c;
          if (c > (hi[2] as number)) hi[2] = c;
        }
      }
    }
  }
  if ((hi[0] as number) < 0) return null;
  const start: [number, number, number] = [0, 0, 0];
  const end: [number, number, number] = [0, 0, 0];
  for (let ax = 0; ax < 3; ax++) {
    const s = lo[ax] as number;
    const size = (hi[ax] as number) + 1 - s;
    const grown = Math.ceil(size / k) * k;
    const st = s - Math.floor((grown - size) / 2);
    start[ax] = st;
    end[ax] = st + grown;
  }
  return { start, end };
}

/** Crops [start, end) out of a C-order volume, zero-filling what lies outside it. */
export function cropWithZeros(
  data: Float32Array,
  shape: readonly number[],
  start: readonly number[],
  end: readonly number[],
): Float32Array {
  const [d0, d1, d2] = shape as [number, number, number];
  const o = end.map((e, i) => e - (start[i] as number)) as [number, number, number];
  const out = new Float32Array(o[0] * o[1] * o[2]);
  for (let a = 0; a < o[0]; a++) {
    const sa = a + (start[0] as number);
    if (sa < 0 || sa >= d0) continue;
    for (let b = 0; b < o[1]; b++) {
      const sb = b + (start[1] as number);
      if (sb < 0 || sb >= d1) continue;
      const c0 = Math.max(0, -(start[2] as number));
      const c1 = Math.min(o[2], d2 - (start[2] as number));
      if (c1 <= c0) continue;
      const src = (sa * d1 + sb) * d2 + (start[2] as number);
      out.set(data.subarray(src + c0, src + c1), (a * o[1] + b) * o[2] + c0);
    }
  }
  return out;
}

/** The affine of a sub-volume starting at voxel `start` (may be negative) of a volume with `affine`. */
export function translateAffine(affine: Affine, start: readonly number[]): Affine {
  const t: Affine = [
    [1, 0, 0, start[0] as number],
    [0, 1, 0, start[1] as number],
    [0, 0, 1, start[2] as number],
    [0, 0, 0, 1],
  ];
  return matmul4(affine, t);
}

/** Steps 2–5 on float32 voxels (C order over [X, Y, Z] as read) with the file's affine. */
export function preprocess3DArray(
  data: Float32Array,
  shape: readonly number[],
  affine: Affine,
  modality: Modality3D,
  name = 'volume',
): Preprocessed3D {
  const spatial = spatialShape(shape, name);
  const ras = orientToRAS(data, spatial, affine, name);
  const orientedShape = ras.shape.slice(0, 3) as [number, number, number];
  const norm = normalizeIntensity(ras.data, modality);
  const box = foregroundBox(norm.data, orientedShape);
  if (!box) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `${name}: no foreground to crop: no voxel is above the middle of the intensity range (${modality === 'ct' ? 'HU > 0' : 'MRI above (min + max) / 2'}); MedVAE's CropForeground would produce an empty volume`,
    );
  }
  const shapeOut = box.end.map((e, i) => e - (box.start[i] as number)) as [number, number, number];
  return {
    shape: shapeOut,
    data: cropWithZeros(norm.data, orientedShape, box.start, box.end),
    affine: translateAffine(ras.affine, box.start),
    box,
    orientedShape,
    sourceAxcodes: ras.from,
    intensity: { modality, min: norm.min, max: norm.max },
  };
}

/** `load_ct_3d` / `load_mri_3d` of a NIfTI volume. */
export function preprocess3D(vol: NiftiVolume, modality: Modality3D): Preprocessed3D {
  return preprocess3DArray(niftiToFloat32(vol), vol.shape, vol.affine, modality, vol.name);
}

/** [X, Y, Z] of a volume; trailing axes of size 1 are allowed (a 4D file with one time point). */
function spatialShape(shape: readonly number[], name: string): [number, number, number] {
  if (shape.length < 3 || shape.slice(3).some((d) => d !== 1)) {
    throw new ShapeError(`${name}: MedVAE's 3D models take one 3D volume; this file has shape [${shape.join(', ')}]`);
  }
  return [shape[0] as number, shape[1] as number, shape[2] as number];
}
