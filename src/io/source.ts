import { FileFormatError } from '../runtime/errors.js';

/**
 * Random-access bytes: a file read through a handle (never loaded whole; see node-fs.ts), a browser `Blob` /
 * `File`, or an in-memory buffer (tests, fuzzing). Every reader takes a `ByteSource`, so the same parser serves
 * Node and the browser. This module imports nothing from Node.
 */
export interface ByteSource {
  /** Path or name, used in every error message. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; a read past the end is a `FileFormatError` (truncated file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The error every source throws for a read outside the file. */
export function pastEnd(name: string, offset: number, length: number, size: number): FileFormatError {
  return new FileFormatError(
    'BAD_FILE',
    `${name}: read of ${length} bytes at offset ${offset} runs past the end of the file (${size} bytes); the file is truncated or corrupt`,
  );
}

export function checkRange(name: string, offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw pastEnd(name, offset, length, size);
  }
}

/**
 * Hands `src` (a path, read through a file handle on Node; bytes; or a source) to a reader's `open`, and closes
 * the source when `open` fails (on success the opened file owns it).
 */
export async function withSource<T>(
  src: string | Uint8Array | ByteSource,
  name: string | undefined,
  open: (source: ByteSource) => Promise<T>,
): Promise<T> {
  let source: ByteSource;
  if (typeof src === 'string') {
    const { fileSource } = await import('./node-fs.js');
    source = await fileSource(src);
  } else source = src instanceof Uint8Array ? bufferSource(src, name) : src;
  try {
    return await open(source);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Bytes already in memory. Reads return views (no copy). */
export function bufferSource(bytes: Uint8Array, name = '<buffer>'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(name, offset, length, bytes.byteLength);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

/** A browser `File` or `Blob` (also available in Node): slices are read on demand. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? '<blob>'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(name, offset, length, blob.size);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    async close() {},
  };
}
