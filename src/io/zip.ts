import { FileFormatError } from '../runtime/errors.js';
import { inflateExact } from './inflate.js';
import type { ByteSource } from './source.js';

/**
 * Minimal zip reader over a `ByteSource`: reads the central directory, then single entries (or byte ranges of
 * stored entries) on demand, so a multi-GB `torch.save` archive is never held in memory whole. Stored entries
 * (what torch writes) and deflate are supported, zip64 too. Inflating is bounded by the declared size: a zip
 * bomb fails as soon as it produces more.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Refuse inflating single entries past this (pickles are small; torch stores tensor data uncompressed). */
export const MAX_INFLATE_BYTES = 1 << 30;

export class ZipReader {
  private readonly dataOffsets = new Map<string, number>();

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
      // zip64 locator -> zip64 end-of-central-directory record
      const at = Number(dv.getBigUint64(eocd - 20 + 8, true));
      if (!Number.isSafeInteger(at) || at + 56 > source.size) throw bad('zip64 record past the end');
      const z = await source.read(at, 56);
      const zd = new DataView(z.buffer, z.byteOffset, 56);
      if (zd.getUint32(0, true) !== 0x06064b50) throw bad('bad zip64 record');
      count = Number(zd.getBigUint64(32, true));
      cdSize = Number(zd.getBigUint64(40, true));
      cdOffset = Number(zd.getBigUint64(48, true));
    }
    if (!Number.isSafeInteger(cdOffset + cdSize) || cdOffset + cdSize > source.size || count * 46 > cdSize) {
      throw bad('central directory out of range');
    }
    const cd = await source.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const entries = new Map<string, ZipEntry>();
    const names = new TextDecoder();
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
      if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw bad(`central directory entry ${i} overruns the directory`);
      const name = names.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: the 0xffffffff fields, in order size, compressed size, offset.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            if (q + 8 > Math.min(e + 4 + len, eEnd)) throw bad(`zip64 field of ${name}`);
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
      if (!Number.isSafeInteger(localHeaderOffset + compressedSize) || localHeaderOffset + 30 + compressedSize > source.size) {
        throw bad(`entry ${name} runs past the end of the file`);
      }
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(source, entries);
  }

  /** Absolute offset of an entry's data (after its local header). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const cached = this.dataOffsets.get(entry.name);
    if (cached !== undefined) return cached;
    const file = this.source.name;
    if (entry.localHeaderOffset + 30 > this.source.size)
      throw new FileFormatError('BAD_FILE', `${file}: local header of ${entry.name} is past the end`);
    const h = await this.source.read(entry.localHeaderOffset, 30);
    const hv = new DataView(h.buffer, h.byteOffset, 30);
    if (hv.getUint32(0, true) !== 0x04034b50)
      throw new FileFormatError('BAD_FILE', `${file}: bad local header for zip entry ${entry.name}`);
    const start = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (start + entry.compressedSize > this.source.size)
      throw new FileFormatError('BAD_FILE', `${file}: zip entry ${entry.name} is truncated`);
    this.dataOffsets.set(entry.name, start);
    return start;
  }

  /** `length` bytes from `offset` of an entry: read directly for stored entries, inflated (whole) otherwise. */
  async read(entry: ZipEntry, offset = 0, length = entry.size): Promise<Uint8Array> {
    const file = this.source.name;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > entry.size) {
      throw new FileFormatError(
        'BAD_FILE',
        `${file}: read of [${offset}, ${offset + length}) is outside zip entry ${entry.name} (${entry.size} bytes)`,
      );
    }
    const start = await this.dataOffset(entry);
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize)
        throw new FileFormatError('BAD_FILE', `${file}: stored zip entry ${entry.name} has inconsistent sizes`);
      return this.source.read(start + offset, length);
    }
    if (entry.method !== 8) {
      throw new FileFormatError(
        'UNSUPPORTED',
        `${file}: zip entry ${entry.name} uses compression method ${entry.method}; only stored and deflate are supported`,
      );
    }
    if (entry.size > MAX_INFLATE_BYTES) {
      throw new FileFormatError(
        'LIMIT_EXCEEDED',
        `${file}: zip entry ${entry.name} declares ${entry.size} bytes uncompressed, over the ${MAX_INFLATE_BYTES}-byte limit`,
      );
    }
    const all = await inflateExact(this.source, start, entry.compressedSize, 'deflate', entry.size, `${file}: zip entry ${entry.name}`);
    return all.subarray(offset, offset + length);
  }
}
