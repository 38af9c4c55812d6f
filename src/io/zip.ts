import { inflateSync } from 'fflate';
import { FileFormatError } from '../runtime/errors.js';
import type { ByteSource } from './source.js';

/**
 * Minimal zip reader over a `ByteSource`: reads the central directory, then single entries on demand, so a
 * multi-GB `torch.save` archive is never held in memory whole. Stored entries (what torch writes) and deflate
 * (bounded by the declared size: zip bombs fail instead of growing) are supported; zip64 too.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Refuse inflating single entries past this (pickles are small; tensor data is stored uncompressed). */
export const MAX_INFLATE_BYTES = 1 << 30;

export class ZipReader {
  private constructor(
    readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  static async open(source: ByteSource): Promise<ZipReader> {
    const file = source.name;
    const bad = (w: string) => new FileFormatError('BAD_FILE', `${file}: ${w}; the zip archive is corrupt or truncated`);
    const tailLen = Math.min(source.size, 22 + 65535 + 20);
    if (tailLen < 22) throw bad('too small for a zip');
    const tail = await source.read(source.size - tailLen, tailLen);
    const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (dv.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw bad('no end-of-central-directory record');
    let count = dv.getUint16(eocd + 10, true);
    let cdSize = dv.getUint32(eocd + 12, true);
    let cdOffset = dv.getUint32(eocd + 16, true);
    if (eocd >= 20 && dv.getUint32(eocd - 20, true) === 0x07064b50) {
      // zip64 locator -> zip64 EOCD record
      const at = Number(dv.getBigUint64(eocd - 20 + 8, true));
      if (at + 56 > source.size) throw bad('zip64 record past the end');
      const z = await source.read(at, 56);
      const zd = new DataView(z.buffer, z.byteOffset, 56);
      if (zd.getUint32(0, true) !== 0x06064b50) throw bad('bad zip64 record');
      count = Number(zd.getBigUint64(32, true));
      cdSize = Number(zd.getBigUint64(40, true));
      cdOffset = Number(zd.getBigUint64(48, true));
    }
    if (cdOffset + cdSize > source.size || count > cdSize / 46) throw bad('central directory out of range');
    const cd = await source.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cv.getUint32(p, true) !== 0x02014b50) throw bad(`bad central directory entry ${i}`);
      const method = cv.getUint16(p + 10, true);
      let compressedSize = cv.getUint32(p + 20, true);
      let size = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset = cv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw bad(`central directory entry ${i} overruns`);
      const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: the 0xffffffff fields, in order size, compressed size, offset.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            if (q + 8 > e + 4 + len) throw bad(`zip64 field of ${name}`);
            const v = Number(cv.getBigUint64(q, true));
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      if (localHeaderOffset + 30 + compressedSize > source.size) throw bad(`entry ${name} runs past the end of the file`);
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(source, entries);
  }

  /** Absolute offset of an entry's data (after its local header). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const h = await this.source.read(entry.localHeaderOffset, 30);
    const hv = new DataView(h.buffer, h.byteOffset, 30);
    if (hv.getUint32(0, true) !== 0x04034b50)
      throw new FileFormatError('BAD_FILE', `${this.source.name}: bad local header for ${entry.name}`);
    const start = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (start + entry.compressedSize > this.source.size)
      throw new FileFormatError('BAD_FILE', `${this.source.name}: entry ${entry.name} is truncated`);
    return start;
  }

  /** Reads a whole entry (decompressed), or `length` bytes from `offset` of a stored entry. */
  async read(entry: ZipEntry, offset = 0, length = entry.size): Promise<Uint8Array> {
    const file = this.source.name;
    const start = await this.dataOffset(entry);
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize)
        throw new FileFormatError('BAD_FILE', `${file}: stored entry ${entry.name} has inconsistent sizes`);
      if (offset < 0 || length < 0 || offset + length > entry.size) {
        throw new FileFormatError(
          'BAD_FILE',
          `${file}: read [${offset}, ${offset + length}) outside entry ${entry.name} (${entry.size} bytes)`,
        );
      }
      return this.source.read(start + offset, length);
    }
    if (entry.method !== 8)
      throw new FileFormatError(
        'UNSUPPORTED',
        `${file}: entry ${entry.name} uses zip method ${entry.method}; only stored and deflate are supported`,
      );
    if (entry.size > MAX_INFLATE_BYTES)
      throw new FileFormatError(
        'LIMIT_EXCEEDED',
        `${file}: entry ${entry.name} declares ${entry.size} bytes uncompressed, over the ${MAX_INFLATE_BYTES}-byte limit`,
      );
    const packed = await this.source.read(start, entry.compressedSize);
    // Inflating into a fixed buffer of the declared size bounds memory even for a lying zip bomb.
    const out = new Uint8Array(entry.size);
    let got: Uint8Array;
    try {
      got = inflateSync(packed, { out });
    } catch (e) {
      throw new FileFormatError('BAD_FILE', `${file}: entry ${entry.name} does not inflate (${(e as Error).message})`, { cause: e });
    }
    if (got.length !== entry.size)
      throw new FileFormatError('BAD_FILE', `${file}: entry ${entry.name} inflates to ${got.length} bytes, not the declared ${entry.size}`);
    return got.subarray(offset, offset + length);
  }
}
