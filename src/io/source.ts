import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { FileFormatError } from '../runtime/errors.js';

/**
 * Random-access bytes: a file read through a handle (never loaded whole) or an in-memory buffer (browser,
 * tests, fuzzing). Readers take a `ByteSource` so the same parser serves both.
 */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; a short read is a `FileFormatError` (truncated file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function bufferSource(bytes: Uint8Array, name = '<buffer>'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.byteLength) {
        throw new FileFormatError(
          'BAD_FILE',
          `${name}: read of ${length} bytes at ${offset} runs past the end (${bytes.byteLength} bytes); the file is truncated`,
        );
      }
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

export async function fileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new FileFormatError('BAD_FILE', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  const size = (await fh.stat()).size;
  return {
    name: path,
    size,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new FileFormatError(
          'BAD_FILE',
          `${path}: read of ${length} bytes at ${offset} runs past the end (${size} bytes); the file is truncated`,
        );
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new FileFormatError('BAD_FILE', `${path}: unexpected end of file at ${offset + done}`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      await fh.close();
    },
  };
}
