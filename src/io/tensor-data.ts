import { bf16BitsToF32, f16BitsToF32 } from '../runtime/dtype.js';
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

/** A host tensor as read from a file. F16/BF16 come back as f32 values unless raw bits were asked for. */
export interface HostTensor {
  dtype: FileDType;
  shape: number[];
  data: TensorArray;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Decodes little-endian bytes into a typed array. `raw16` keeps F16/BF16 as their bit patterns (Uint16Array)
 * so f16 weights can go to the GPU without a round trip through f32.
 */
export function decodeTensorBytes(bytes: Uint8Array, dtype: FileDType, raw16 = false): TensorArray {
  // Copy to an aligned buffer: file offsets need not be aligned to the element size.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const buf = aligned.buffer;
  const off = aligned.byteOffset;
  const n = bytes.byteLength / FILE_DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf, off, n);
    case 'F32':
      return new Float32Array(buf, off, n);
    case 'I64':
      return new BigInt64Array(buf, off, n);
    case 'I32':
      return new Int32Array(buf, off, n);
    case 'I16':
      return new Int16Array(buf, off, n);
    case 'I8':
      return new Int8Array(buf, off, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, off, n);
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(buf, off, n);
      if (raw16) return bits;
      const out = new Float32Array(n);
      const conv = dtype === 'F16' ? f16BitsToF32 : bf16BitsToF32;
      for (let i = 0; i < n; i++) out[i] = conv(bits[i] as number);
      return out;
    }
    default:
      throw new FileFormatError('DTYPE_UNSUPPORTED', `unsupported dtype ${dtype as string}`);
  }
}

/** Bytes of a typed array in little-endian order (all supported hosts are little-endian). */
export function tensorBytes(data: TensorArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
