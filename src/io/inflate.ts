import { Gunzip, Inflate, Unzlib } from 'fflate';
import { FileFormatError, MedgpuError } from '../runtime/errors.js';
import type { ByteSource } from './source.js';

/** Compressed input is fed to the inflater in pieces of this size, so output is checked as it grows. */
const CHUNK = 1 << 20;
/** Deflate's maximum expansion is 1032:1 (258-byte matches in ~2 bits); a little slack on top. */
export const MAX_RATIO = 1100;

/**
 * Streams `length` compressed bytes at `start` of `source` through fflate. `sink` receives the output piece by
 * piece and returns false once it has all it wants (or refuses more: a bomb), which stops reading. So memory
 * and time stay bounded by what the caller accepts, not by what the data claims. Corrupt data is a
 * `FileFormatError` naming `what`. Returns whether the stream reached its end.
 */
export async function inflateStream(
  source: ByteSource,
  start: number,
  length: number,
  format: 'deflate' | 'gzip' | 'zlib',
  what: string,
  sink: (chunk: Uint8Array) => boolean,
): Promise<boolean> {
  let stopped = false;
  let ended = false;
  const onData = (chunk: Uint8Array, final: boolean) => {
    if (final) ended = true;
    if (!stopped && chunk.length > 0 && !sink(chunk)) stopped = true;
  };
  if (length === 0) throw new FileFormatError('BAD_FILE', `${what}: no ${format} data`);
  const inflater = format === 'gzip' ? new Gunzip(onData) : format === 'zlib' ? new Unzlib(onData) : new Inflate(onData);
  for (let off = 0; off < length && !stopped; off += CHUNK) {
    const n = Math.min(CHUNK, length - off);
    const piece = await source.read(start + off, n);
    try {
      inflater.push(piece, off + n >= length);
    } catch (e) {
      if (e instanceof MedgpuError) throw e; // from the sink: its own verdict on the data
      throw new FileFormatError('BAD_FILE', `${what}: ${format} data is corrupt or truncated (${(e as Error).message})`, { cause: e });
    }
  }
  return ended && !stopped;
}

/**
 * Inflates into a buffer of exactly `size` bytes: more output than that is refused as soon as it appears
 * (a zip bomb or a lying header), less is a truncated stream.
 */
export async function inflateExact(
  source: ByteSource,
  start: number,
  length: number,
  format: 'deflate' | 'gzip' | 'zlib',
  size: number,
  what: string,
): Promise<Uint8Array> {
  // Deflate expands at most ~1032x: a declared size beyond that is a lie, refused before allocating it.
  if (size > length * MAX_RATIO + 1024) {
    throw new FileFormatError(
      'BAD_FILE',
      `${what}: declares ${size} bytes from ${length} compressed bytes, more than deflate can encode; the data is corrupt`,
    );
  }
  const out = new Uint8Array(size);
  let got = 0;
  let over = false;
  await inflateStream(source, start, length, format, what, (c) => {
    if (got + c.length > size) {
      over = true;
      return false;
    }
    out.set(c, got);
    got += c.length;
    return true;
  });
  if (over)
    throw new FileFormatError(
      'BAD_FILE',
      `${what}: inflates to more than the declared ${size} bytes; the archive is corrupt (or a decompression bomb)`,
    );
  if (got !== size)
    throw new FileFormatError('BAD_FILE', `${what}: inflates to ${got} bytes, not the declared ${size}; the data is truncated or corrupt`);
  return out;
}
