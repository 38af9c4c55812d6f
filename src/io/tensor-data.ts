import { f16BitsToF32, toF16Array } from '../runtime/dtype.js';
import { FileFormatError } from '../runtime/errors.js';

/** Element types found in weight files (safetensors names; PyTorch storages map onto these). */
export type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const FILE_DTYPE_BYTES: Record<FileDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isFileDType(s: unknown): s is FileDType {
  return typeof s === 'string' && Object.hasOwn(FILE_DTYPE_BYTES, s);
}

export type TensorArray = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/**
 * A host tensor as stored in a file: `data` is a typed array of the file's dtype (F16/BF16 as their raw
 * Uint16 bit patterns, unless a reader was asked to convert them to f32).
 */
export interface HostTensor {
  dtype: FileDType;
  shape: number[];
  data: TensorArray;
}

/** What weights become for upload: f32 values, or f16 bit patterns. */
export type UploadType = 'f32' | 'f16';

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes `aligned` to `align`: a view when already aligned, else a copy (file offsets need not be aligned). */
function alignedBytes(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/** Little-endian bytes as a typed array of the file dtype (a view where alignment allows; F16/BF16 as bits). */
export function decodeTensorBytes(bytes: Uint8Array, dtype: FileDType): TensorArray {
  const es = FILE_DTYPE_BYTES[dtype];
  if (es === undefined) throw new FileFormatError('DTYPE_UNSUPPORTED', `unsupported dtype ${String(dtype)}`);
  if (bytes.byteLength % es !== 0) {
    throw new FileFormatError('BAD_FILE', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const a = alignedBytes(bytes, es);
  const n = a.byteLength / es;
  switch (dtype) {
    case 'F64':
      return new Float64Array(a.buffer, a.byteOffset, n);
    case 'F32':
      return new Float32Array(a.buffer, a.byteOffset, n);
    case 'I64':
      return new BigInt64Array(a.buffer, a.byteOffset, n);
    case 'I32':
      return new Int32Array(a.buffer, a.byteOffset, n);
    case 'I16':
      return new Int16Array(a.buffer, a.byteOffset, n);
    case 'I8':
      return new Int8Array(a.buffer, a.byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(a.buffer, a.byteOffset, n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(a.buffer, a.byteOffset, n);
  }
}

let f16Table: Float32Array | undefined;
/** All 65536 f16 values as f32: conversion of large F16 tensors becomes one table lookup per element. */
function f16ToF32Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** f32 values of a typed array in the file dtype (exact for F16/BF16/ints up to 2^24; F64/I64 round to nearest). */
export function convertToF32(data: TensorArray, dtype: FileDType): Float32Array {
  if (dtype === 'F32') return data as Float32Array;
  const n = data.length;
  const out = new Float32Array(n);
  if (dtype === 'F16') {
    const t = f16ToF32Table();
    const bits = data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = t[bits[i] as number] as number;
  } else if (dtype === 'BF16') {
    // bf16 is the upper half of an f32: widen the bits directly.
    const bits = data as Uint16Array;
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = (bits[i] as number) << 16;
  } else if (dtype === 'I64') {
    const v = data as BigInt64Array;
    for (let i = 0; i < n; i++) out[i] = Number(v[i] as bigint);
  } else {
    // F64 and the small integer types: a typed-array copy rounds to nearest f32.
    out.set(data as Float64Array);
  }
  return out;
}

/** f16 bit patterns (round to nearest even, as torch `.half()`) of a typed array in the file dtype. */
export function convertToF16(data: TensorArray, dtype: FileDType): Uint16Array {
  if (dtype === 'F16') return data as Uint16Array;
  const f32 = dtype === 'F32' ? (data as Float32Array) : convertToF32(data, dtype);
  return f32ArrayToF16Bits(f32);
}

/** Bulk f32 -> f16 bits (round to nearest even), shared with the runtime's uploads. */
export const f32ArrayToF16Bits = (src: Float32Array): Uint16Array => toF16Array(src);

/** Converts a tensor in its file dtype to what the GPU upload wants. */
export function convertForUpload(data: TensorArray, dtype: FileDType, as: UploadType): Float32Array | Uint16Array {
  return as === 'f16' ? convertToF16(data, dtype) : convertToF32(data, dtype);
}

/** Bytes of a typed array in little-endian order (all supported hosts are little-endian). */
export function tensorBytes(data: TensorArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
