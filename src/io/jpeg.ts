import jpeg from 'jpeg-js';
import { FileFormatError } from '../runtime/errors.js';
import { DEFAULT_MAX_PIXELS, type Image } from './image.js';

/**
 * JPEG reading via `jpeg-js` (baseline and progressive). Grayscale files come back with 1 channel, everything
 * else as RGB. Decoded values follow jpeg-js's IDCT, which can differ from libjpeg's (PIL) by a level or so.
 */

/** Width, height and component count from the first SOF marker; also checks the marker structure. */
function scanJpeg(bytes: Uint8Array, name: string): { width: number; height: number; components: number } {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8)
    throw new FileFormatError('BAD_FILE', `${name}: not a JPEG file (no SOI marker)`);
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) throw new FileFormatError('BAD_FILE', `${name}: corrupt JPEG marker structure at byte ${pos}`);
    const marker = bytes[pos + 1] as number;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    const len = ((bytes[pos + 2] as number) << 8) | (bytes[pos + 3] as number);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (pos + 10 > bytes.length) break;
      return {
        height: ((bytes[pos + 5] as number) << 8) | (bytes[pos + 6] as number),
        width: ((bytes[pos + 7] as number) << 8) | (bytes[pos + 8] as number),
        components: bytes[pos + 9] as number,
      };
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI / start of scan before any frame header
    pos += 2 + len;
  }
  throw new FileFormatError('BAD_FILE', `${name}: no JPEG frame header (SOF); the file is truncated or corrupt`);
}

export function decodeJpeg(bytes: Uint8Array, name: string, opts: { maxPixels?: number } = {}): Image {
  const { width, height, components } = scanJpeg(bytes, name);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width === 0 || height === 0) throw new FileFormatError('BAD_FILE', `${name}: JPEG size ${width}x${height} is empty`);
  if (width * height > maxPixels) {
    throw new FileFormatError(
      'LIMIT_EXCEEDED',
      `${name}: ${width}x${height} pixels is over the ${maxPixels}-pixel limit (raise maxPixels if this is intended)`,
    );
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.ceil(maxPixels / 1e6),
      maxMemoryUsageInMB: 512,
    });
  } catch (e) {
    throw new FileFormatError('BAD_FILE', `${name}: cannot decode JPEG (${(e as Error).message})`);
  }
  const n = decoded.width * decoded.height;
  if (components === 1) {
    // jpeg-js replicates Y into R, G and B: keep one.
    const gray = new Uint8Array(n);
    for (let i = 0; i < n; i++) gray[i] = decoded.data[3 * i] as number;
    return { width: decoded.width, height: decoded.height, channels: 1, bitDepth: 8, data: gray };
  }
  return { width: decoded.width, height: decoded.height, channels: 3, bitDepth: 8, data: decoded.data };
}
