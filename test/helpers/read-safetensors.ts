import { readFileSync } from 'node:fs';

/** Test-only safetensors reader (header JSON + raw little-endian bytes) until src/io/safetensors.ts lands. */
export interface StTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | BigInt64Array | Float64Array | Int32Array | Uint8Array | Int16Array;
}

const ctors: Record<string, { new (b: ArrayBuffer): StTensor['data']; BYTES_PER_ELEMENT: number }> = {
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
  I16: Int16Array,
};

export function readSafetensors(path: string): Map<string, StTensor> {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLen;
  const out = new Map<string, StTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const ctor = ctors[info.dtype];
    if (!ctor) throw new Error(`${path}: ${name}: dtype ${info.dtype} not handled by the test reader`);
    const [a, b] = info.data_offsets;
    // Copy into a fresh aligned buffer: offsets in the file need not be aligned to the element size.
    const ab = new ArrayBuffer(b - a);
    new Uint8Array(ab).set(buf.subarray(base + a, base + b));
    out.set(name, { dtype: info.dtype, shape: info.shape, data: new ctor(ab) });
  }
  return out;
}

export function f32(map: Map<string, StTensor>, name: string): Float32Array {
  const t = map.get(name);
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`missing F32 tensor ${name}`);
  return t.data;
}

export function i64(map: Map<string, StTensor>, name: string): number[] {
  const t = map.get(name);
  if (!t || !(t.data instanceof BigInt64Array)) throw new Error(`missing I64 tensor ${name}`);
  return Array.from(t.data, Number);
}
