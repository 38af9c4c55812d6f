import { convertIndexedToRgb, decode, encode } from 'fast-png';
import { Unzlib } from 'fflate';
import { FileFormatError } from '../runtime/errors.js';
import { checkImage, DEFAULT_MAX_PIXELS, type Image } from './image.js';
import type { WriteOptions } from './output.js';

/**
 * PNG via `fast-png`: 8- and 16-bit gray, gray+alpha, RGB, RGBA (palette images are expanded to RGB/RGBA,
 * 1/2/4-bit gray to 8-bit as PIL does). Before decoding, the header is checked and the compressed data is
 * inflated once with a hard limit at the size the header implies, so a decompression bomb fails fast
 * instead of filling memory.
 */

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
  idatBytes: number;
}

function bad(name: string, what: string): FileFormatError {
  return new FileFormatError('BAD_FILE', `${name}: ${what}`);
}

/** Walks the chunk list: IHDR fields and the total IDAT size, every length checked against the file. */
function scanPng(bytes: Uint8Array, name: string): PngHeader {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw bad(name, 'not a PNG file (bad signature)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let header: Omit<PngHeader, 'idatBytes'> | undefined;
  let idatBytes = 0;
  let sawEnd = false;
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length)
      throw bad(name, `chunk ${JSON.stringify(type)} of ${len} bytes runs past the end of the file; the PNG is truncated`);
    if (type === 'IHDR') {
      if (len !== 13) throw bad(name, `IHDR chunk has ${len} bytes, not 13`);
      header = {
        width: dv.getUint32(pos + 8),
        height: dv.getUint32(pos + 12),
        depth: bytes[pos + 16] as number,
        colorType: bytes[pos + 17] as number,
        interlace: bytes[pos + 20] as number,
      };
    } else if (!header) throw bad(name, 'the first chunk is not IHDR');
    if (type === 'IDAT') idatBytes += len;
    pos += 12 + len;
    if (type === 'IEND') {
      sawEnd = true;
      break;
    }
  }
  if (!header) throw bad(name, 'no IHDR chunk');
  if (!sawEnd) throw bad(name, 'no IEND chunk; the PNG is truncated');
  if (idatBytes === 0) throw bad(name, 'no image data (IDAT); the PNG is truncated');
  return { ...header, idatBytes };
}

/** Bytes of the filtered scanlines the header implies (per Adam7 pass when interlaced). */
function rawSize(h: PngHeader): number {
  const ch = CHANNELS[h.colorType] as number;
  const line = (w: number) => (w === 0 ? 0 : 1 + Math.ceil((w * ch * h.depth) / 8));
  if (h.interlace === 0) return h.height * line(h.width);
  const passes = [
    [0, 0, 8, 8],
    [4, 0, 8, 8],
    [0, 4, 4, 8],
    [2, 0, 4, 4],
    [0, 2, 2, 4],
    [1, 0, 2, 2],
    [0, 1, 1, 2],
  ] as const;
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((h.width - x0) / dx);
    const rows = Math.ceil((h.height - y0) / dy);
    if (w > 0 && rows > 0) total += rows * line(w);
  }
  return total;
}

/** Inflates the IDAT stream once, refusing to produce more than the header implies. */
function checkInflatedSize(bytes: Uint8Array, name: string, limit: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let got = 0;
  const z = new Unzlib((c) => {
    got += c.length;
    if (got > limit)
      throw bad(name, `image data inflates past the ${limit} bytes its header implies (a decompression bomb or a corrupt file)`);
  });
  let pos = 8;
  try {
    while (pos + 8 <= bytes.length) {
      const len = dv.getUint32(pos);
      const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
      if (type === 'IDAT') {
        // Small pieces bound how far one push can overshoot the limit (1 KiB in -> at most ~1 MiB out).
        for (let o = 0; o < len; o += 1 << 10) z.push(bytes.subarray(pos + 8 + o, pos + 8 + Math.min(len, o + (1 << 10))), false);
      }
      if (type === 'IEND') break;
      pos += 12 + len;
    }
    z.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw bad(name, `corrupt image data (${(e as Error).message})`);
  }
  if (got < limit) throw bad(name, `image data inflates to ${got} bytes but the header implies ${limit}; the PNG is truncated or corrupt`);
}

/** Unpacks 1/2/4-bit gray rows (MSB first) to 8-bit, scaled to 0..255 like PIL's `L;1`/`L;2`/`L;4`. */
function unpackLowDepth(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  const scale = 255 / max;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)] as number;
      const v = (byte >> (8 - depth - (bit & 7))) & max;
      out[y * width + x] = v * scale;
    }
  }
  return out;
}

export function decodePng(bytes: Uint8Array, name: string, opts: { maxPixels?: number } = {}): Image {
  const h = scanPng(bytes, name);
  const channelsInFile = CHANNELS[h.colorType];
  if (channelsInFile === undefined) throw bad(name, `unknown PNG color type ${h.colorType}`);
  if (!(DEPTHS[h.colorType] as number[]).includes(h.depth))
    throw bad(name, `bit depth ${h.depth} is not valid for PNG color type ${h.colorType}`);
  if (h.interlace > 1) throw bad(name, `unknown interlace method ${h.interlace}`);
  if (h.width === 0 || h.height === 0) throw bad(name, `image size ${h.width}x${h.height} is empty`);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (h.width * h.height > maxPixels) {
    throw new FileFormatError(
      'LIMIT_EXCEEDED',
      `${name}: ${h.width}x${h.height} pixels is over the ${maxPixels}-pixel limit (raise maxPixels if this is intended)`,
    );
  }
  checkInflatedSize(bytes, name, rawSize(h));
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (e) {
    throw bad(name, `cannot decode PNG (${(e as Error).message})`);
  }
  const text = png.text && Object.keys(png.text).length ? { ...png.text } : undefined;
  const base = { width: png.width, height: png.height, ...(text ? { text } : {}) };
  if (h.colorType === 3) {
    if (!png.palette) throw bad(name, 'palette image without a PLTE chunk');
    let rgb: Uint8Array;
    try {
      rgb = convertIndexedToRgb(png);
    } catch (e) {
      throw bad(name, `bad palette data (${(e as Error).message})`);
    }
    const channels = rgb.length / (png.width * png.height);
    if (channels !== 3 && channels !== 4) throw bad(name, 'palette expands to an unexpected size');
    return { ...base, channels, bitDepth: 8, data: rgb };
  }
  const channels = channelsInFile as Image['channels'];
  if (png.depth === 16) return { ...base, channels, bitDepth: 16, data: png.data as Uint16Array };
  if (png.depth === 8) {
    const d = png.data instanceof Uint8Array ? png.data : new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length);
    return { ...base, channels, bitDepth: 8, data: d };
  }
  return { ...base, channels: 1, bitDepth: 8, data: unpackLowDepth(png.data as Uint8Array, png.width, png.height, png.depth) };
}

/** Encodes an image as PNG, with optional tEXt metadata (Latin-1 keywords of 1-79 characters and values). */
export function encodePng(img: Image, opts: { text?: Record<string, string> } = {}): Uint8Array {
  checkImage(img, 'PNG image');
  const text = { ...(img.text ?? {}), ...(opts.text ?? {}) };
  const latin1 = (t: string) => [...t].every((c) => c.charCodeAt(0) <= 0xff);
  for (const [k, v] of Object.entries(text)) {
    const printable = [...k].every((c) => (c >= ' ' && c <= '~') || (c >= '\u00a1' && c <= '\u00ff'));
    if (k.length < 1 || k.length > 79 || !printable || /^ | $| {2}/.test(k) || !latin1(v)) {
      throw new FileFormatError(
        'BAD_ARGUMENT',
        `PNG text ${JSON.stringify(k)}: tEXt keywords are 1-79 printable Latin-1 characters and values Latin-1 text`,
      );
    }
  }
  return encode({
    width: img.width,
    height: img.height,
    channels: img.channels,
    depth: img.bitDepth,
    data: img.data,
    ...(Object.keys(text).length ? { text } : {}),
  });
}

/** Writes a PNG (Node). Refuses to replace an existing file unless `overwrite`. */
export async function writePng(path: string, img: Image, opts: WriteOptions & { text?: Record<string, string> } = {}): Promise<void> {
  const bytes = encodePng(img, opts);
  const { writeChunks } = await import('./node-fs.js');
  await writeChunks(path, [bytes], opts);
}
