import { gzipSync } from 'fflate';
import { FileFormatError } from '../runtime/errors.js';
import { inflateStream, MAX_RATIO } from './inflate.js';
import { type Affine, orientToRAS, type VoxelArray } from './orientation.js';
import type { WriteOptions } from './output.js';
import { type ByteSource, bufferSource } from './source.js';

/**
 * NIfTI-1 single files (`.nii`, and `.nii.gz` detected by content): the 348-byte header (either byte order),
 * voxel data of the common datatypes, `scl_slope`/`scl_inter` and the qform/sform affines with nibabel's rules.
 * Voxels come back as nibabel / MONAI hold them: C-order arrays of shape [X, Y, Z, ...] (the file stores x
 * fastest; we transpose once). A gzip stream is inflated only as far as the header says the data goes, and
 * never past a size limit, so a lying header or a bomb cannot exhaust memory.
 */

export type NiftiDType = 'U8' | 'I8' | 'I16' | 'U16' | 'I32' | 'U32' | 'I64' | 'U64' | 'F32' | 'F64';

const DATATYPES: Record<number, { dtype: NiftiDType; bytes: number; name: string }> = {
  2: { dtype: 'U8', bytes: 1, name: 'uint8' },
  4: { dtype: 'I16', bytes: 2, name: 'int16' },
  8: { dtype: 'I32', bytes: 4, name: 'int32' },
  16: { dtype: 'F32', bytes: 4, name: 'float32' },
  64: { dtype: 'F64', bytes: 8, name: 'float64' },
  256: { dtype: 'I8', bytes: 1, name: 'int8' },
  512: { dtype: 'U16', bytes: 2, name: 'uint16' },
  768: { dtype: 'U32', bytes: 4, name: 'uint32' },
  1024: { dtype: 'I64', bytes: 8, name: 'int64' },
  1280: { dtype: 'U64', bytes: 8, name: 'uint64' },
};
const UNSUPPORTED_DATATYPES: Record<number, string> = {
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'RGB24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'RGBA32',
};
const CODE_OF: Record<NiftiDType, number> = { U8: 2, I16: 4, I32: 8, F32: 16, F64: 64, I8: 256, U16: 512, U32: 768, I64: 1024, U64: 1280 };

/** Volumes larger than this are refused unless the caller raises `maxBytes` (bounded allocation). */
export const DEFAULT_MAX_VOLUME_BYTES = 2 ** 31;

export interface NiftiHeader {
  littleEndian: boolean;
  /** dim[1..dim[0]]. */
  dims: number[];
  datatype: number;
  bitpix: number;
  /** All 8 pixdim values (pixdim[0] is qfac). */
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  xyztUnits: number;
  calMin: number;
  calMax: number;
  descrip: string;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number];
  qoffset: [number, number, number];
  srow: [number[], number[], number[]];
  intentCode: number;
  magic: string;
}

export interface NiftiVolume {
  name: string;
  /** [X, Y, Z, ...] as nibabel's `img.shape`. */
  shape: number[];
  dtype: NiftiDType;
  /** The stored values (not scaled), C order over `shape`: index [x][y][z]. */
  data: VoxelArray;
  /** `stored * slope + inter` applies when not null (nibabel: none when scl_slope is 0 or not finite). */
  scaling: { slope: number; inter: number } | null;
  /** nibabel `img.affine`: the sform if its code is > 0, else the qform if its code is > 0, else from the voxel sizes. */
  affine: Affine;
  affineSource: 'sform' | 'qform' | 'base';
  /** Voxel sizes, pixdim[1..ndim]. */
  zooms: number[];
  header: NiftiHeader;
}

function bad(name: string, what: string): FileFormatError {
  return new FileFormatError('BAD_FILE', `${name}: ${what}`);
}

/** Parses and checks the 348-byte header (the first 348 bytes of the file, decompressed). */
export function parseNiftiHeader(bytes: Uint8Array, name: string): NiftiHeader {
  if (bytes.length < 348) throw bad(name, `only ${bytes.length} bytes; a NIfTI-1 header has 348`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 348);
  let le = true;
  const sizeofHdr = dv.getInt32(0, true);
  if (sizeofHdr !== 348) {
    if (dv.getInt32(0, false) === 348) le = false;
    else if (sizeofHdr === 540 || dv.getInt32(0, false) === 540)
      throw new FileFormatError('UNSUPPORTED', `${name}: a NIfTI-2 file; only NIfTI-1 is supported`);
    else throw bad(name, `sizeof_hdr is ${sizeofHdr}, not 348: not a NIfTI-1 file (or a corrupt one)`);
  }
  const i16 = (o: number) => dv.getInt16(o, le);
  const f32 = (o: number) => dv.getFloat32(o, le);
  const str = (o: number, n: number) => {
    const b = bytes.subarray(o, o + n);
    const end = b.indexOf(0);
    return new TextDecoder('latin1').decode(end < 0 ? b : b.subarray(0, end));
  };
  const magic = str(344, 4);
  if (magic === 'ni1')
    throw new FileFormatError('UNSUPPORTED', `${name}: the header of a .hdr/.img pair; convert it to a single .nii file`);
  if (magic !== 'n+1')
    throw bad(name, `magic is ${JSON.stringify(magic)}, not "n+1": not a NIfTI-1 file (Analyze files are not supported)`);
  const ndim = i16(40);
  if (ndim < 1 || ndim > 7) throw bad(name, `dim[0] is ${ndim}; it must be 1 to 7`);
  const dims: number[] = [];
  for (let i = 1; i <= ndim; i++) {
    const d = i16(40 + 2 * i);
    if (d < 1) throw bad(name, `dim[${i}] is ${d}; every dimension must be at least 1`);
    dims.push(d);
  }
  const datatype = i16(70);
  const pixdim = Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i));
  const voxOffsetF = f32(108);
  if (!Number.isInteger(voxOffsetF) || voxOffsetF < 0) throw bad(name, `vox_offset ${voxOffsetF} is not a non-negative integer`);
  // nibabel reads vox_offset 0 in a single file as "data right after the header extension flag".
  const voxOffset = voxOffsetF === 0 ? 352 : voxOffsetF;
  if (voxOffset < 352) throw bad(name, `vox_offset ${voxOffset} points inside the header (it must be at least 352)`);
  return {
    littleEndian: le,
    dims,
    datatype,
    bitpix: i16(72),
    pixdim,
    voxOffset,
    sclSlope: f32(112),
    sclInter: f32(116),
    xyztUnits: bytes[123] as number,
    calMax: f32(124),
    calMin: f32(128),
    descrip: str(148, 80),
    qformCode: i16(252),
    sformCode: i16(254),
    quatern: [f32(256), f32(260), f32(264)],
    qoffset: [f32(268), f32(272), f32(276)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + 16 * r + 4 * c))) as [number[], number[], number[]],
    intentCode: i16(68),
    magic,
  };
}

function datatypeOf(h: NiftiHeader, name: string) {
  const dt = DATATYPES[h.datatype];
  if (!dt) {
    const what = UNSUPPORTED_DATATYPES[h.datatype];
    throw new FileFormatError(
      'DTYPE_UNSUPPORTED',
      `${name}: NIfTI datatype ${h.datatype}${what ? ` (${what})` : ''} is not supported; supported: ${Object.values(DATATYPES)
        .map((d) => d.name)
        .join(', ')}`,
    );
  }
  return dt;
}

/** The data's size in bytes, checked against the limit. */
function dataBytes(h: NiftiHeader, name: string, maxBytes: number): number {
  const n = h.dims.reduce((a, b) => a * b, 1);
  const bytes = n * datatypeOf(h, name).bytes;
  if (bytes > maxBytes) {
    throw new FileFormatError(
      'LIMIT_EXCEEDED',
      `${name}: the volume [${h.dims}] holds ${bytes} bytes, over the ${maxBytes}-byte limit (raise maxBytes if this is intended)`,
    );
  }
  return bytes;
}

/** nibabel `Nifti1Header.get_qform`, in float64 (nibabel uses extended precision: agreement is to ~1e-15). */
function qformAffine(h: NiftiHeader): Affine {
  const [b, c, d] = h.quatern;
  const w2 = 1 - (b * b + c * c + d * d);
  const a = w2 < 0 ? 0 : Math.sqrt(w2);
  const nq = a * a + b * b + c * c + d * d;
  let rot: number[][];
  if (nq < Number.EPSILON) {
    rot = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  } else {
    const s = 2 / nq;
    const [X, Y, Z] = [b * s, c * s, d * s];
    const [wX, wY, wZ] = [a * X, a * Y, a * Z];
    const [xX, xY, xZ] = [b * X, b * Y, b * Z];
    const [yY, yZ, zZ] = [c * Y, c * Z, d * Z];
    rot = [
      [1 - (yY + zZ), xY - wZ, xZ + wY],
      [xY + wZ, 1 - (xX + zZ), yZ - wX],
      [xZ - wY, yZ + wX, 1 - (xX + yY)],
    ];
  }
  const qfac = h.pixdim[0] === -1 ? -1 : 1; // 0 (old writers) means 1
  const vox = [Math.abs(h.pixdim[1] as number), Math.abs(h.pixdim[2] as number), Math.abs(h.pixdim[3] as number) * qfac];
  return [...rot.map((r, i) => [...r.map((x, j) => x * (vox[j] as number)), h.qoffset[i] as number]), [0, 0, 0, 1]];
}

/** nibabel `get_base_affine`: voxel sizes on the diagonal, x flipped, the centre voxel at the origin. */
function baseAffine(h: NiftiHeader): Affine {
  const shape = [0, 1, 2].map((i) => h.dims[i] ?? 1);
  const zooms = [0, 1, 2].map((i) => (i < h.dims.length ? (h.pixdim[i + 1] as number) : 1));
  zooms[0] = -(zooms[0] as number);
  return [
    ...[0, 1, 2].map((i) =>
      [0, 1, 2].map((j) => (i === j ? (zooms[i] as number) : 0)).concat([(-((shape[i] as number) - 1) / 2) * (zooms[i] as number)]),
    ),
    [0, 0, 0, 1],
  ];
}

export function niftiAffine(h: NiftiHeader): { affine: Affine; source: 'sform' | 'qform' | 'base' } {
  if (h.sformCode > 0) return { affine: [...h.srow.map((r) => [...r]), [0, 0, 0, 1]], source: 'sform' };
  if (h.qformCode > 0) return { affine: qformAffine(h), source: 'qform' };
  return { affine: baseAffine(h), source: 'base' };
}

/** nibabel's scaling rule: none when scl_slope is 0 or not finite; an invalid intercept with a valid slope is an error. */
function scalingOf(h: NiftiHeader, name: string): { slope: number; inter: number } | null {
  if (h.sclSlope === 0 || !Number.isFinite(h.sclSlope)) return null;
  if (!Number.isFinite(h.sclInter)) throw bad(name, `scl_slope is ${h.sclSlope} but scl_inter is ${h.sclInter}`);
  if (h.sclSlope === 1 && h.sclInter === 0) return null;
  return { slope: h.sclSlope, inter: h.sclInter };
}

/** Typed array of the stored values, in file (Fortran) order; byte-swapped if the file is big-endian. */
function decodeVoxels(raw: Uint8Array, dtype: NiftiDType, littleEndian: boolean): VoxelArray {
  const es = DATATYPES[CODE_OF[dtype]]?.bytes as number;
  // A view when aligned and little-endian (the caller reorders into a new array anyway), else a copy to swap.
  const b = littleEndian && raw.byteOffset % es === 0 ? raw : raw.slice();
  if (!littleEndian && es > 1) {
    for (let i = 0; i < b.length; i += es) b.subarray(i, i + es).reverse();
  }
  const n = b.length / es;
  const o = b.byteOffset;
  switch (dtype) {
    case 'U8':
      return b;
    case 'I8':
      return new Int8Array(b.buffer, o, n);
    case 'I16':
      return new Int16Array(b.buffer, o, n);
    case 'U16':
      return new Uint16Array(b.buffer, o, n);
    case 'I32':
      return new Int32Array(b.buffer, o, n);
    case 'U32':
      return new Uint32Array(b.buffer, o, n);
    case 'I64':
      return new BigInt64Array(b.buffer, o, n);
    case 'U64':
      return new BigUint64Array(b.buffer, o, n);
    case 'F32':
      return new Float32Array(b.buffer, o, n);
    case 'F64':
      return new Float64Array(b.buffer, o, n);
  }
}

/** Reorders between the file's x-fastest (Fortran) layout and C order over `shape`, either way. */
function reorder<T extends VoxelArray>(src: T, shape: readonly number[], toC: boolean): T {
  const nd = shape.length;
  if (nd <= 1) return src;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  // C strides of each axis; walking the Fortran order, axis 0 moves fastest.
  const cStride = new Array<number>(nd);
  let s = 1;
  for (let d = nd - 1; d >= 0; d--) {
    cStride[d] = s;
    s *= shape[d] as number;
  }
  const idx = new Array<number>(nd).fill(0);
  let c = 0;
  const n = src.length;
  for (let f = 0; f < n; f++) {
    if (toC) out[c] = src[f] as never;
    else out[f] = src[c] as never;
    for (let d = 0; d < nd; d++) {
      idx[d] = (idx[d] as number) + 1;
      c += cStride[d] as number;
      if ((idx[d] as number) < (shape[d] as number)) break;
      c -= (shape[d] as number) * (cStride[d] as number);
      idx[d] = 0;
    }
  }
  return out;
}

export interface ReadNiftiOptions {
  /** Refuse volumes whose data is larger than this (default 2 GiB). */
  maxBytes?: number;
}

/** Reads a NIfTI-1 volume from a byte source (gzip detected by content). */
export async function readNiftiSource(source: ByteSource, opts: ReadNiftiOptions = {}): Promise<NiftiVolume> {
  const name = source.name;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_VOLUME_BYTES;
  if (source.size < 2) throw bad(name, 'empty file; not a NIfTI volume');
  const magic = await source.read(0, 2);
  let header: NiftiHeader;
  let raw: Uint8Array;
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    // .nii.gz: inflate until the header is known, then exactly its data.
    let prefix = new Uint8Array(0);
    let h: NiftiHeader | undefined;
    let out: Uint8Array | undefined;
    let skip = 0;
    let got = 0;
    await inflateStream(source, 0, source.size, 'gzip', name, (chunk) => {
      let c = chunk;
      if (!h) {
        const joined = new Uint8Array(prefix.length + c.length);
        joined.set(prefix);
        joined.set(c, prefix.length);
        if (joined.length < 348) {
          prefix = joined;
          return true;
        }
        h = parseNiftiHeader(joined, name);
        const n = dataBytes(h, name, maxBytes);
        if (h.voxOffset + n > source.size * MAX_RATIO) {
          throw bad(
            name,
            `the header claims ${h.voxOffset + n} bytes but ${source.size} gzip bytes cannot hold that much; the file is corrupt`,
          );
        }
        out = new Uint8Array(n);
        skip = h.voxOffset;
        c = joined;
      }
      const o = out as Uint8Array;
      if (skip >= c.length) {
        skip -= c.length;
        return true;
      }
      const take = c.subarray(skip, skip + (o.length - got));
      skip = 0;
      o.set(take, got);
      got += take.length;
      return got < o.length;
    });
    if (!h) throw bad(name, `the gzip stream holds fewer than 348 bytes; not a NIfTI volume (or a truncated one)`);
    header = h;
    raw = out as Uint8Array;
    if (got < raw.length) {
      throw bad(
        name,
        `truncated: the header promises ${raw.length} bytes of voxel data from offset ${header.voxOffset}, the file holds ${got}`,
      );
    }
  } else {
    if (source.size < 348) throw bad(name, `only ${source.size} bytes; a NIfTI-1 header has 348`);
    header = parseNiftiHeader(await source.read(0, 348), name);
    const n = dataBytes(header, name, maxBytes);
    if (header.voxOffset + n > source.size) {
      throw bad(
        name,
        `truncated: the header promises ${n} bytes of voxel data from offset ${header.voxOffset}, the file holds ${Math.max(0, source.size - header.voxOffset)}`,
      );
    }
    raw = await source.read(header.voxOffset, n);
  }
  const dt = datatypeOf(header, name);
  const data = reorder(decodeVoxels(raw, dt.dtype, header.littleEndian), header.dims, true);
  const { affine, source: affineSource } = niftiAffine(header);
  return {
    name,
    shape: [...header.dims],
    dtype: dt.dtype,
    data,
    scaling: scalingOf(header, name),
    affine,
    affineSource,
    zooms: header.dims.map((_, i) => header.pixdim[i + 1] as number),
    header,
  };
}

/** Reads a `.nii` / `.nii.gz` from a path (Node) or bytes. */
export async function readNifti(
  src: string | Uint8Array,
  nameOrOpts?: string | ReadNiftiOptions,
  opts: ReadNiftiOptions = {},
): Promise<NiftiVolume> {
  if (typeof src === 'string') {
    const { fileSource } = await import('./node-fs.js');
    const s = await fileSource(src);
    try {
      return await readNiftiSource(s, typeof nameOrOpts === 'object' ? nameOrOpts : opts);
    } finally {
      await s.close();
    }
  }
  return readNiftiSource(
    bufferSource(src, typeof nameOrOpts === 'string' ? nameOrOpts : '<nifti>'),
    typeof nameOrOpts === 'object' ? nameOrOpts : opts,
  );
}

/**
 * The voxel values as float32, as MONAI's NibabelReader gives them: `stored * slope + inter` computed in
 * float64 (nibabel) and rounded to float32 once, or just the stored values when there is no scaling.
 */
export function niftiToFloat32(vol: Pick<NiftiVolume, 'data' | 'scaling'>): Float32Array {
  const { data, scaling } = vol;
  const out = new Float32Array(data.length);
  const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
  const slope = scaling?.slope ?? 1;
  const inter = scaling?.inter ?? 0;
  for (let i = 0; i < data.length; i++) {
    let v = big ? Number(data[i] as bigint) : (data[i] as number);
    // nibabel skips a multiply by 1 and an add of 0 (which keeps -0.0 as -0.0).
    if (slope !== 1) v *= slope;
    if (inter !== 0) v += inter;
    out[i] = v;
  }
  return out;
}

/** The volume in RAS+ orientation (MONAI `Orientation("RAS")`): voxels permuted/flipped, affine updated. */
export function niftiToRAS(vol: NiftiVolume): NiftiVolume & { fromAxcodes: string } {
  const r = orientToRAS(vol.data, vol.shape, vol.affine, vol.name);
  // Voxel sizes travel with their axes.
  const zooms = [...vol.zooms];
  r.ornt.forEach(([to], from) => {
    zooms[to] = vol.zooms[from] as number;
  });
  return { ...vol, data: r.data, shape: r.shape, affine: r.affine, zooms, fromAxcodes: r.from };
}

export interface VolumeToWrite {
  /** [X, Y, Z, ...]; the data is C order over it (as read). */
  shape: readonly number[];
  data: VoxelArray;
  affine: Affine;
  /** Stored dtype; default from the array type. */
  dtype?: NiftiDType;
  scaling?: { slope: number; inter: number } | null;
  description?: string;
  /** xyzt_units; default 10 (mm and seconds), as nibabel writes. */
  xyztUnits?: number;
}

function dtypeOfArray(data: VoxelArray): NiftiDType {
  if (data instanceof Uint8Array) return 'U8';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Uint16Array) return 'U16';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Float32Array) return 'F32';
  return 'F64';
}

/** Quaternion (b, c, d), qfac and voxel sizes for the qform fields, when the affine's 3x3 part is a rotation times scales. */
function qformOf(affine: Affine): { quatern: [number, number, number]; qfac: 1 | -1; zooms: number[] } | null {
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => affine[i]?.[j] as number));
  const zooms = [0, 1, 2].map((j) => Math.hypot(m[0]?.[j] as number, m[1]?.[j] as number, m[2]?.[j] as number));
  if (zooms.some((z) => z === 0)) return null;
  const r = m.map((row) => row.map((x, j) => x / (zooms[j] as number)));
  const det =
    (r[0]?.[0] as number) * ((r[1]?.[1] as number) * (r[2]?.[2] as number) - (r[1]?.[2] as number) * (r[2]?.[1] as number)) -
    (r[0]?.[1] as number) * ((r[1]?.[0] as number) * (r[2]?.[2] as number) - (r[1]?.[2] as number) * (r[2]?.[0] as number)) +
    (r[0]?.[2] as number) * ((r[1]?.[0] as number) * (r[2]?.[1] as number) - (r[1]?.[1] as number) * (r[2]?.[0] as number));
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) for (const row of r) row[2] = -(row[2] as number);
  // Orthonormal within float32 precision, or the qform cannot represent it.
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const dot =
        (r[0]?.[i] as number) * (r[0]?.[j] as number) +
        (r[1]?.[i] as number) * (r[1]?.[j] as number) +
        (r[2]?.[i] as number) * (r[2]?.[j] as number);
      if (Math.abs(dot - (i === j ? 1 : 0)) > 1e-6) return null;
    }
  }
  const [r00, r01, r02] = r[0] as number[];
  const [r10, r11, r12] = r[1] as number[];
  const [r20, r21, r22] = r[2] as number[];
  const trace = (r00 as number) + (r11 as number) + (r22 as number);
  let a: number;
  let b: number;
  let c: number;
  let d: number;
  if (trace > 0) {
    const s = 2 * Math.sqrt(1 + trace);
    a = s / 4;
    b = ((r21 as number) - (r12 as number)) / s;
    c = ((r02 as number) - (r20 as number)) / s;
    d = ((r10 as number) - (r01 as number)) / s;
  } else if ((r00 as number) > (r11 as number) && (r00 as number) > (r22 as number)) {
    const s = 2 * Math.sqrt(1 + (r00 as number) - (r11 as number) - (r22 as number));
    a = ((r21 as number) - (r12 as number)) / s;
    b = s / 4;
    c = ((r01 as number) + (r10 as number)) / s;
    d = ((r02 as number) + (r20 as number)) / s;
  } else if ((r11 as number) > (r22 as number)) {
    const s = 2 * Math.sqrt(1 + (r11 as number) - (r00 as number) - (r22 as number));
    a = ((r02 as number) - (r20 as number)) / s;
    b = ((r01 as number) + (r10 as number)) / s;
    c = s / 4;
    d = ((r12 as number) + (r21 as number)) / s;
  } else {
    const s = 2 * Math.sqrt(1 + (r22 as number) - (r00 as number) - (r11 as number));
    a = ((r10 as number) - (r01 as number)) / s;
    b = ((r02 as number) + (r20 as number)) / s;
    c = ((r12 as number) + (r21 as number)) / s;
    d = s / 4;
  }
  if (a < 0) [b, c, d] = [-b, -c, -d];
  return { quatern: [b, c, d], qfac, zooms };
}

/** The header for a volume, as nibabel writes one: sform (code 2, aligned) = the affine; qform fields filled, code 0. */
export function encodeNiftiHeader(vol: VolumeToWrite): Uint8Array {
  const nd = vol.shape.length;
  if (nd < 1 || nd > 7 || vol.shape.some((d) => !Number.isInteger(d) || d < 1 || d > 32767)) {
    throw new FileFormatError('BAD_ARGUMENT', `cannot write a NIfTI-1 volume of shape [${vol.shape}]: 1 to 7 axes of 1..32767`);
  }
  const dtype = vol.dtype ?? dtypeOfArray(vol.data);
  const code = CODE_OF[dtype];
  const bytes = new Uint8Array(352);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, 348, true);
  bytes[38] = 'r'.charCodeAt(0); // regular, as nibabel writes
  dv.setInt16(40, nd, true);
  for (let i = 0; i < 7; i++) dv.setInt16(42 + 2 * i, i < nd ? (vol.shape[i] as number) : 1, true);
  dv.setInt16(70, code, true);
  dv.setInt16(72, (DATATYPES[code]?.bytes as number) * 8, true);
  const q = qformOf(vol.affine);
  const colNorm = (j: number) => Math.hypot(vol.affine[0]?.[j] as number, vol.affine[1]?.[j] as number, vol.affine[2]?.[j] as number);
  const pixdim = [q?.qfac ?? 1, ...[0, 1, 2].map(colNorm), 1, 1, 1, 1];
  for (let i = 0; i < 8; i++) dv.setFloat32(76 + 4 * i, pixdim[i] as number, true);
  dv.setFloat32(108, 352, true);
  dv.setFloat32(112, vol.scaling?.slope ?? 1, true);
  dv.setFloat32(116, vol.scaling?.inter ?? 0, true);
  bytes[123] = vol.xyztUnits ?? 10;
  const descrip = new TextEncoder().encode((vol.description ?? '').slice(0, 79));
  bytes.set(descrip.subarray(0, 79), 148);
  dv.setInt16(252, 0, true);
  dv.setInt16(254, 2, true);
  if (q) for (let i = 0; i < 3; i++) dv.setFloat32(256 + 4 * i, q.quatern[i] as number, true);
  for (let i = 0; i < 3; i++) dv.setFloat32(268 + 4 * i, vol.affine[i]?.[3] as number, true);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, vol.affine[r]?.[c] as number, true);
  bytes.set(new TextEncoder().encode('n+1\0'), 344);
  return bytes;
}

const ARRAY_OF: Record<NiftiDType, new (n: number) => VoxelArray> = {
  U8: Uint8Array,
  I8: Int8Array,
  I16: Int16Array,
  U16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
  F32: Float32Array,
  F64: Float64Array,
};

/** A `.nii` file's bytes (gzipped when `gzip`). The data is converted to `dtype` if it is given and differs. */
export function encodeNifti(vol: VolumeToWrite, opts: { gzip?: boolean } = {}): Uint8Array {
  const n = vol.shape.reduce((a, b) => a * b, 1);
  if (vol.data.length !== n)
    throw new FileFormatError('BAD_ARGUMENT', `volume of shape [${vol.shape}] needs ${n} values, the data has ${vol.data.length}`);
  const dtype = vol.dtype ?? dtypeOfArray(vol.data);
  let data = vol.data;
  if (dtypeOfArray(data) !== dtype) {
    const out = new ARRAY_OF[dtype](n);
    const big = dtype === 'I64' || dtype === 'U64';
    for (let i = 0; i < n; i++) {
      const v = data[i] as number | bigint;
      out[i] = (big ? BigInt(Math.round(Number(v))) : Number(v)) as never;
    }
    data = out;
  }
  const header = encodeNiftiHeader({ ...vol, dtype });
  const fortran = reorder(data, vol.shape, false);
  const file = new Uint8Array(header.length + fortran.byteLength);
  file.set(header);
  file.set(new Uint8Array(fortran.buffer, fortran.byteOffset, fortran.byteLength), header.length);
  return opts.gzip ? gzipSync(file, { level: 6 }) : file;
}

/** Writes `.nii` or `.nii.gz` (by extension). Refuses to replace an existing file unless `overwrite`. */
export async function writeNifti(path: string, vol: VolumeToWrite, opts: WriteOptions = {}): Promise<void> {
  const bytes = encodeNifti(vol, { gzip: path.endsWith('.gz') });
  const { writeChunks } = await import('./node-fs.js');
  await writeChunks(path, [bytes], opts);
}
