import { FileFormatError } from '../runtime/errors.js';
import type { WriteOptions } from './output.js';
import { type ByteSource, withSource } from './source.js';
import {
  convertToF32,
  decodeTensorBytes,
  FILE_DTYPE_BYTES,
  type FileDType,
  type HostTensor,
  isFileDType,
  numelOf,
  type TensorArray,
  tensorBytes,
} from './tensor-data.js';

/**
 * safetensors: an 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets},
 * __metadata__?: {string: string}}`, then the tensors' bytes. The header is validated in full against the file
 * size before anything else is read; tensors are then read one at a time, each exactly its own byte range.
 */

/** The reference implementation refuses headers over 100 MB; so do we (bounded allocation). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Writers pad the header so data starts 8-byte aligned; gaps between tensors may not reach this. */
const ALIGN = 8;

export interface TensorInfo {
  dtype: FileDType;
  shape: number[];
  /** Absolute [begin, end) byte range in the file. */
  byteRange: [number, number];
}

export interface SafetensorsFile {
  readonly name: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  /** One tensor in its file dtype (F16/BF16 as Uint16Array bits). Reads exactly that tensor's bytes. */
  readRaw(name: string): Promise<HostTensor>;
  /** One tensor; F16/BF16 are widened to f32 unless `raw16` (then Uint16Array bits, as `readRaw`). */
  read(name: string, opts?: { raw16?: boolean }): Promise<HostTensor>;
  /** Raw little-endian bytes of one tensor. */
  readBytes(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

function bad(file: string, what: string): FileFormatError {
  return new FileFormatError('BAD_FILE', `${file}: ${what}`);
}

const shapeStr = (s: unknown) => JSON.stringify(s);

/** Parses and validates a header against the file size. Exported for tests and fuzzing. */
export function parseSafetensorsHeader(
  json: string,
  dataStart: number,
  fileSize: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  if (!json.startsWith('{')) throw bad(file, 'header does not start with "{"; not a safetensors file');
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
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, '__metadata__ is not an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw bad(file, `__metadata__.${k} is ${shapeStr(s)}, not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, `tensor ${name}: header entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (!isFileDType(dtype)) {
      throw bad(file, `tensor ${name}: dtype ${shapeStr(dtype)} is not supported (supported: ${Object.keys(FILE_DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(file, `tensor ${name}: shape ${shapeStr(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(file, `tensor ${name}: data_offsets ${shapeStr(offs)} is not [begin, end] with non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw bad(file, `tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      throw bad(
        file,
        `tensor ${name}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes after the header); the file is truncated`,
      );
    }
    const want = numelOf(shape as number[]) * FILE_DTYPE_BYTES[dtype];
    if (want !== end - begin) {
      throw bad(
        file,
        `tensor ${name}: ${dtype} ${shapeStr(shape)} needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[], byteRange: [dataStart + begin, dataStart + end] });
    ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = 'the start of the data';
  for (const r of ranges) {
    if (r.begin < pos) throw bad(file, `tensor ${r.name}: bytes [${r.begin}, ${r.end}] overlap ${prev}; the offsets are corrupt`);
    if (r.begin - pos >= ALIGN) {
      throw bad(
        file,
        `tensor ${r.name}: gap of ${r.begin - pos} bytes after ${prev} (at most ${ALIGN - 1} bytes of padding are allowed); the offsets are corrupt`,
      );
    }
    pos = r.end;
    prev = `tensor ${r.name}`;
  }
  if (dataSize - pos >= ALIGN) {
    throw bad(file, `${dataSize - pos} bytes after the last tensor belong to no tensor; the header or the file is corrupt`);
  }
  return { tensors, metadata };
}

/** Opens safetensors from a path (Node), bytes or a `ByteSource`; only the header is read up front. */
export async function openSafetensors(src: string | Uint8Array | ByteSource, name?: string): Promise<SafetensorsFile> {
  return withSource(src, name, openSafetensorsSource);
}

async function openSafetensorsSource(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) throw bad(file, `only ${source.size} bytes; a safetensors file starts with an 8-byte header length`);
  const lenBytes = await source.read(0, 8);
  const len = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (len > BigInt(MAX_HEADER_BYTES))
    throw bad(file, `header length ${len} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file`);
  const n = Number(len);
  if (n < 2) throw bad(file, `header length ${n} is too small for a JSON object; not a safetensors file`);
  if (8 + n > source.size)
    throw bad(file, `header length ${n} runs past the end of the file (${source.size} bytes); the file is truncated`);
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(await source.read(8, n));
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw bad(file, 'header is not valid UTF-8; the file is corrupt or not safetensors');
  }
  const { tensors, metadata } = parseSafetensorsHeader(json, 8 + n, source.size, file);
  const info = (t: string): TensorInfo => {
    const i = tensors.get(t);
    if (!i) throw new FileFormatError('BAD_ARGUMENT', `${file}: no tensor named ${t} (the file has ${tensors.size})`);
    return i;
  };
  const readBytes = async (t: string) => {
    const [b, e] = info(t).byteRange;
    return source.read(b, e - b);
  };
  const readRaw = async (t: string): Promise<HostTensor> => {
    const i = info(t);
    return { dtype: i.dtype, shape: [...i.shape], data: decodeTensorBytes(await readBytes(t), i.dtype) };
  };
  return {
    name: file,
    tensors,
    metadata,
    readBytes,
    readRaw,
    async read(t, opts) {
      const h = await readRaw(t);
      if (!opts?.raw16 && (h.dtype === 'F16' || h.dtype === 'BF16')) h.data = convertToF32(h.data, h.dtype);
      return h;
    },
    close: () => source.close(),
  };
}

/** Reads every tensor of a (small) safetensors file into memory; F16/BF16 widened to f32 unless `raw16`. */
export async function loadSafetensors(src: string | Uint8Array | ByteSource, opts?: { raw16?: boolean }): Promise<Map<string, HostTensor>> {
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
  /**
   * Typed array in the file's dtype (F16/BF16 as Uint16Array bits), or a function producing it when the writer
   * reaches this tensor, so a large file can be written without holding all of its tensors.
   */
  data: TensorArray | (() => TensorArray | Promise<TensorArray>);
}

type Entries = Record<string, TensorToWrite> | ReadonlyMap<string, TensorToWrite>;

function sortedEntries(tensors: Entries): [string, TensorToWrite][] {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))] as [string, TensorToWrite][];
  // Sorted by name, as `safetensors.torch.save_file` writes them.
  return list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkData(name: string, t: TensorToWrite, data: TensorArray): void {
  const want = numelOf(t.shape) * FILE_DTYPE_BYTES[t.dtype];
  if (data.byteLength !== want) {
    throw new FileFormatError(
      'BAD_ARGUMENT',
      `tensor ${name}: ${t.dtype} ${shapeStr(t.shape)} needs ${want} bytes, the data has ${data.byteLength}`,
    );
  }
}

/** The header bytes (length prefix included) and the total file size. */
export function encodeSafetensorsHeader(tensors: Entries, metadata?: Record<string, string>): { header: Uint8Array; size: number } {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let pos = 0;
  for (const [name, t] of sortedEntries(tensors)) {
    if (name === '__metadata__') throw new FileFormatError('BAD_ARGUMENT', 'a tensor may not be named __metadata__');
    if (!isFileDType(t.dtype)) throw new FileFormatError('DTYPE_UNSUPPORTED', `tensor ${name}: cannot write dtype ${String(t.dtype)}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FileFormatError('BAD_ARGUMENT', `tensor ${name}: shape ${shapeStr(t.shape)} is not a list of non-negative integers`);
    }
    const bytes = numelOf(t.shape) * FILE_DTYPE_BYTES[t.dtype];
    if (typeof t.data !== 'function') checkData(name, t, t.data);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [pos, pos + bytes] };
    pos += bytes;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces (valid JSON whitespace) so tensor data starts 8-byte aligned.
  const padded = raw.length + ((ALIGN - ((8 + raw.length) % ALIGN)) % ALIGN);
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(raw, 8);
  return { header: out, size: out.length + pos };
}

/** The file as a sequence of chunks: the header, then each tensor's bytes (produced lazily if given lazily). */
export async function* safetensorsChunks(tensors: Entries, metadata?: Record<string, string>): AsyncGenerator<Uint8Array> {
  yield encodeSafetensorsHeader(tensors, metadata).header;
  for (const [name, t] of sortedEntries(tensors)) {
    const data = typeof t.data === 'function' ? await t.data() : t.data;
    checkData(name, t, data);
    yield tensorBytes(data);
  }
}

/** Serializes tensors (sorted by name) with optional `__metadata__` into one buffer. */
export function encodeSafetensors(tensors: Entries, metadata?: Record<string, string>): Uint8Array {
  const { header, size } = encodeSafetensorsHeader(tensors, metadata);
  const out = new Uint8Array(size);
  out.set(header);
  let off = header.length;
  for (const [name, t] of sortedEntries(tensors)) {
    if (typeof t.data === 'function')
      throw new FileFormatError('BAD_ARGUMENT', `tensor ${name}: encodeSafetensors needs the data, not a function`);
    out.set(tensorBytes(t.data), off);
    off += t.data.byteLength;
  }
  return out;
}

/** Writes a safetensors file tensor by tensor (Node). Refuses to replace an existing file unless `overwrite`. */
export async function writeSafetensors(
  path: string,
  tensors: Entries,
  metadata?: Record<string, string>,
  opts: WriteOptions = {},
): Promise<void> {
  const { writeChunks } = await import('./node-fs.js');
  await writeChunks(path, safetensorsChunks(tensors, metadata), opts);
}
