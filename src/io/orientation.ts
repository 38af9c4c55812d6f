import { FileFormatError } from '../runtime/errors.js';

/**
 * Voxel-to-world orientation, following nibabel (`io_orientation`, `aff2axcodes`, `inv_ornt_aff`,
 * `apply_orientation`) and MONAI `Orientation("RAS")`: the nearest axis permutation and flips, applied
 * exactly (no resampling), and the affine that goes with the result.
 */

/** A 4x4 affine, row-major rows. */
export type Affine = number[][];

/** Per input axis: [output axis (0 = R/L, 1 = A/P, 2 = S/I), +1 or -1 (pointing to R, A, S or away)]. */
export type Orientation = [number, 1 | -1][];

export function matmul4(a: Affine, b: Affine): Affine {
  const out: Affine = [];
  for (let i = 0; i < 4; i++) {
    const row: number[] = [];
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += (a[i]?.[k] as number) * (b[k]?.[j] as number);
      row.push(s);
    }
    out.push(row);
  }
  return out;
}

/** Eigen-decomposition of a symmetric 3x3 matrix by Jacobi rotations: eigenvalues and eigenvectors (columns). */
function symEig3(m: number[][]): { values: number[]; vectors: number[][] } {
  const a = m.map((r) => [...r]);
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 64; sweep++) {
    let off = 0;
    for (let p = 0; p < 3; p++) for (let q = p + 1; q < 3; q++) off += (a[p]?.[q] as number) ** 2;
    if (off < 1e-300) break;
    for (let p = 0; p < 3; p++) {
      for (let q = p + 1; q < 3; q++) {
        const apq = a[p]?.[q] as number;
        if (apq === 0) continue;
        const app = a[p]?.[p] as number;
        const aqq = a[q]?.[q] as number;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 3; k++) {
          const akp = a[k]?.[p] as number;
          const akq = a[k]?.[q] as number;
          (a[k] as number[])[p] = c * akp - s * akq;
          (a[k] as number[])[q] = s * akp + c * akq;
        }
        for (let k = 0; k < 3; k++) {
          const apk = a[p]?.[k] as number;
          const aqk = a[q]?.[k] as number;
          (a[p] as number[])[k] = c * apk - s * aqk;
          (a[q] as number[])[k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 3; k++) {
          const vkp = v[k]?.[p] as number;
          const vkq = v[k]?.[q] as number;
          (v[k] as number[])[p] = c * vkp - s * vkq;
          (v[k] as number[])[q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: [0, 1, 2].map((i) => a[i]?.[i] as number), vectors: v };
}

/**
 * nibabel `io_orientation(affine)`: for each voxel axis, the world axis it is closest to (via the polar
 * decomposition of the direction part, so shears and small obliquities do not matter) and its direction.
 */
export function ioOrientation(affine: Affine, name = 'affine'): Orientation {
  // Direction columns with the voxel sizes divided out (a zero column stays zero).
  const rzs = [0, 1, 2].map((i) => [0, 1, 2].map((j) => affine[i]?.[j] as number));
  if (rzs.flat().some((x) => !Number.isFinite(x))) throw new FileFormatError('BAD_FILE', `${name}: the affine has non-finite entries`);
  const zooms = [0, 1, 2].map((j) => Math.sqrt(rzs.reduce((s, r) => s + (r[j] as number) ** 2, 0)) || 1);
  const rs = rzs.map((r) => r.map((x, j) => x / (zooms[j] as number)));
  // Closest orthogonal matrix on the non-degenerate subspace: R = sum over kept singular vectors of u_k v_k^T,
  // with RS^T RS = V diag(s^2) V^T and u_k = RS v_k / s_k.
  const mtm = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rs.reduce((s, r) => s + (r[i] as number) * (r[j] as number), 0)));
  const { values, vectors } = symEig3(mtm);
  const sv = values.map((l) => Math.sqrt(Math.max(l, 0)));
  const tol = Math.max(...sv) * 3 * Number.EPSILON;
  const r = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let k = 0; k < 3; k++) {
    const s = sv[k] as number;
    if (!(s > tol)) continue;
    const vk = [0, 1, 2].map((i) => vectors[i]?.[k] as number);
    const uk = rs.map((row) => row.reduce((acc, x, j) => acc + x * (vk[j] as number), 0) / s);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) (r[i] as number[])[j] = (r[i]?.[j] as number) + (uk[i] as number) * (vk[j] as number);
  }
  const ornt: Orientation = [];
  for (let inAx = 0; inAx < 3; inAx++) {
    const col = r.map((row) => row[inAx] as number);
    // np.allclose(col, 0): |x| <= 1e-8
    if (col.every((x) => Math.abs(x) <= 1e-8)) {
      throw new FileFormatError('BAD_FILE', `${name}: voxel axis ${inAx} has no direction in the affine; cannot orient the volume`);
    }
    let outAx = 0;
    for (let i = 1; i < 3; i++) if (Math.abs(col[i] as number) > Math.abs(col[outAx] as number)) outAx = i;
    ornt.push([outAx, (col[outAx] as number) < 0 ? -1 : 1]);
    (r[outAx] as number[]).fill(0);
  }
  return ornt;
}

const LABELS = [
  ['L', 'R'],
  ['P', 'A'],
  ['I', 'S'],
] as const;

/** nibabel `aff2axcodes`: e.g. "LPS" (each voxel axis points towards that letter). */
export function axcodes(affine: Affine): string {
  return ioOrientation(affine)
    .map(([ax, flip]) => LABELS[ax]?.[flip === 1 ? 1 : 0])
    .join('');
}

/** nibabel `inv_ornt_aff(ornt, shape)`: the affine that maps reoriented voxel indices back to the original ones. */
export function invOrntAff(ornt: Orientation, shape: readonly number[]): Affine {
  const p = ornt.length;
  const eye = (n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const e = eye(p + 1);
  const undoReorder = [...ornt.map(([ax]) => [...(e[ax] as number[])]), [...(e[p] as number[])]];
  const undoFlip = eye(p + 1);
  for (let i = 0; i < p; i++) {
    const flip = (ornt[i] as [number, number])[1];
    const center = -((shape[i] as number) - 1) / 2;
    (undoFlip[i] as number[])[i] = flip;
    (undoFlip[i] as number[])[p] = flip * center - center;
  }
  return matmul4(undoFlip, undoReorder);
}

export type VoxelArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/**
 * nibabel `apply_orientation` on a C-order array (first axis slowest) of `shape`: flip the input axes whose
 * orientation is -1, then move input axis i to position ornt[i][0]. Axes beyond the orientation's are kept.
 */
export function applyOrientation<T extends VoxelArray>(data: T, shape: readonly number[], ornt: Orientation): { data: T; shape: number[] } {
  const nd = shape.length;
  const p = ornt.length;
  if (nd < p) throw new FileFormatError('BAD_ARGUMENT', `cannot orient a ${nd}-D array with a ${p}-axis orientation`);
  const inStrides = new Array<number>(nd);
  let s = 1;
  for (let d = nd - 1; d >= 0; d--) {
    inStrides[d] = s;
    s *= shape[d] as number;
  }
  // Output axis j reads input axis srcAxis[j].
  const srcAxis = Array.from({ length: nd }, (_, j) => j);
  for (let i = 0; i < p; i++) srcAxis[(ornt[i] as [number, number])[0]] = i;
  if (new Set(srcAxis).size !== nd) throw new FileFormatError('BAD_ARGUMENT', `orientation ${JSON.stringify(ornt)} is not a permutation`);
  const outShape = srcAxis.map((a) => shape[a] as number);
  // Walking the output in C order, each axis moves the input pointer by +-stride of its source axis.
  const step = srcAxis.map((a) => (a < p && (ornt[a] as [number, number])[1] === -1 ? -1 : 1) * (inStrides[a] as number));
  let start = 0;
  for (let a = 0; a < p; a++) if ((ornt[a] as [number, number])[1] === -1) start += ((shape[a] as number) - 1) * (inStrides[a] as number);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const n = data.length;
  const idx = new Array<number>(nd).fill(0);
  let src = start;
  for (let o = 0; o < n; o++) {
    out[o] = data[src] as never;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      src += step[d] as number;
      if ((idx[d] as number) < (outShape[d] as number)) break;
      src -= (outShape[d] as number) * (step[d] as number);
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/**
 * MONAI `Orientation(axcodes="RAS")` on a volume (C-order data of shape [X, Y, Z, ...rest]): the permuted and
 * flipped voxels and the new affine (`affine @ inv_ornt_aff`). Exact: voxels are moved, never interpolated.
 */
export function orientToRAS<T extends VoxelArray>(
  data: T,
  shape: readonly number[],
  affine: Affine,
  name = 'volume',
): { data: T; shape: number[]; affine: Affine; from: string; ornt: Orientation } {
  if (shape.length < 3)
    throw new FileFormatError('BAD_ARGUMENT', `${name}: orienting needs at least 3 axes, the volume has shape [${shape}]`);
  const ornt = ioOrientation(affine, name);
  const from = ornt.map(([ax, flip]) => LABELS[ax]?.[flip === 1 ? 1 : 0]).join('');
  // The transform to RAS is ornt itself (nibabel ornt_transform(src, axcodes2ornt("RAS")) == src).
  const moved = applyOrientation(data, shape, ornt);
  return { ...moved, affine: matmul4(affine, invOrntAff(ornt, shape.slice(0, 3))), from, ornt };
}
