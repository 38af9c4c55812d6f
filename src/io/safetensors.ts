import { writeFile } from 'node:fs/promises';
import { FileFormatError } from '../runtime/errors.js';
import { type ByteSource, bufferSource, fileSource } from './source.js';
import {
  decodeTensorBytes,
  FILE_DTYPE_BYTES,
  type FileDType,
  type HostTensor,
  isFileDType,
  numelOf,
  type TensorArray,
  tensorBytes,
} from './tensor-data.js';

/** The safetensors reference implementation refuses headers over 100 MB; so do we (bounded allocation). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Writers pad the header so data starts 8-byte aligned; gaps between tensors may not exceed this. */
const ALIGN = 8;

export interface TensorInfo {
  dtype: FileDType;
  shape: number[];
  /** Absolute [begin, end) byte range in the file. */
  byteRange: [number, number];
}

export interface SafetensorsFile {
  readonly name: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  /** Reads one tensor. F16/BF16 become f32 unless `raw16` (then Uint16Array bits). */
  read(name: string, opts?: { raw16?: boolean }): Promise<HostTensor>;
  /** Raw little-endian bytes of one tensor. */
  readBytes(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

function bad(file: string, what: string): FileFormatError {
  return new FileFormatError('BAD_FILE', `${file}: ${what}`);
}

/** Parses and validates a header against the file size. Exported for tests and fuzzing. */
export function parseSafetensorsHeader(
  json: string,
  dataStart: number,
  fileSize: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let obj: unknown;
  try {
    obj = JSON.parse(json);
  } catch (e) {
    throw bad(file, `header is not valid JSON (${(e as Error).message}); the file is corrupt or not safetensors`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw bad(file, 'header is not a JSON object');
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw bad(file, `__metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) throw bad(file, `tensor ${name}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (!isFileDType(dtype)) throw bad(file, `tensor ${name}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(file, `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(file, `tensor ${name}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw bad(file, `tensor ${name}: data_offsets end ${end} < begin ${begin}`);
    if (end > dataSize)
      throw bad(
        file,
        `tensor ${name}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes); the file is truncated`,
      );
    const want = numelOf(shape as number[]) * FILE_DTYPE_BYTES[dtype];
    if (want !== end - begin)
      throw bad(file, `tensor ${name}: ${dtype}${JSON.stringify(shape)} needs ${want} bytes but data_offsets span ${end - begin}`);
    tensors.set(name, { dtype, shape: shape as number[], byteRange: [dataStart + begin, dataStart + end] });
    ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = '<start of data>';
  for (const r of ranges) {
    if (r.begin < pos) throw bad(file, `tensor ${r.name}: bytes [${r.begin}, ${r.end}] overlap tensor ${prev}`);
    if (r.begin - pos >= ALIGN) throw bad(file, `tensor ${r.name}: gap of ${r.begin - pos} bytes after ${prev}; the offsets are corrupt`);
    pos = r.end;
    prev = r.name;
  }
  return { tensors, metadata };
}

/** Opens a safetensors file (path) or buffer; only the header is read up front. */
export async function openSafetensors(src: string | Uint8Array | ByteSource, name?: string): Promise<SafetensorsFile> {
  const source = typeof src === 'string' ? await fileSource(src) : src instanceof Uint8Array ? bufferSource(src, name) : src;
  const file = source.name;
  try {
    if (source.size < 8) throw bad(file, `only ${source.size} bytes; a safetensors file starts with an 8-byte header length`);
    const lenBytes = await source.read(0, 8);
    const len = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (len > BigInt(MAX_HEADER_BYTES))
      throw bad(file, `header length ${len} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file`);
    const n = Number(len);
    if (8 + n > source.size)
      throw bad(file, `header length ${n} runs past the end of the file (${source.size} bytes); the file is truncated`);
    const json = new TextDecoder('utf-8', { fatal: false }).decode(await source.read(8, n));
    const { tensors, metadata } = parseSafetensorsHeader(json, 8 + n, source.size, file);
    const info = (t: string): TensorInfo => {
      const i = tensors.get(t);
      if (!i) throw new FileFormatError('BAD_FILE', `${file}: no tensor named ${t}`);
      return i;
    };
    const readBytes = (t: string) => {
      const [b, e] = info(t).byteRange;
      return source.read(b, e - b);
    };
    return {
      name: file,
      tensors,
      metadata,
      readBytes,
      async read(t, opts) {
        const i = info(t);
        const data = decodeTensorBytes(await readBytes(t), i.dtype, opts?.raw16 ?? false);
        return { dtype: i.dtype, shape: [...i.shape], data };
      },
      close: () => source.close(),
    };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Reads every tensor of a (small) safetensors file into memory. */
export async function loadSafetensors(src: string | Uint8Array, opts?: { raw16?: boolean }): Promise<Map<string, HostTensor>> {
  const f = await openSafetensors(src);
  try {
    const out = new Map<string, HostTensor>();
    for (const name of f.tensors.keys()) out.set(name, await f.read(name, opts));
    return out;
  } finally {
    await f.close();
  }
}

export interface TensorToWrite {
  dtype: FileDType;
  shape: readonly number[];
  /** Typed array in the file's dtype (F16/BF16 as Uint16Array bits). */
  data: TensorArray;
}

/** Serializes tensors (sorted by name, as `safetensors.torch.save_file`) with optional `__metadata__`. */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let pos = 0;
  for (const [name, t] of entries) {
    const bytes = t.data.byteLength;
    const want = numelOf(t.shape) * FILE_DTYPE_BYTES[t.dtype];
    if (bytes !== want)
      throw new FileFormatError(
        'BAD_ARGUMENT',
        `tensor ${name}: ${t.dtype}${JSON.stringify(t.shape)} needs ${want} bytes, data has ${bytes}`,
      );
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [pos, pos + bytes] };
    pos += bytes;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces (valid JSON whitespace) so tensor data starts 8-byte aligned.
  const head = new Uint8Array(raw.length + ((ALIGN - ((8 + raw.length) % ALIGN)) % ALIGN)).fill(0x20);
  head.set(raw);
  const out = new Uint8Array(8 + head.length + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let off = 8 + head.length;
  for (const [, t] of entries) {
    out.set(tensorBytes(t.data), off);
    off += t.data.byteLength;
  }
  return out;
}

export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
