import { FileFormatError } from '../runtime/errors.js';

/**
 * A decoded 2D image: `height` rows of `width` pixels of `channels` interleaved samples (1 gray, 2 gray+alpha,
 * 3 RGB, 4 RGBA), 8 or 16 bits per sample, row-major (H, W, C), as PIL / torchvision see the file.
 */
export interface Image {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  bitDepth: 8 | 16;
  data: Uint8Array | Uint16Array;
  /** Text metadata (PNG tEXt/zTXt/iTXt; JPEG comments under "comment"). */
  text?: Record<string, string>;
}

/** Decoders refuse images with more pixels than this unless told otherwise (bounded allocation). */
export const DEFAULT_MAX_PIXELS = 1 << 28;

export function checkImage(img: Image, what: string): void {
  const { width, height, channels, bitDepth, data } = img;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new FileFormatError('BAD_ARGUMENT', `${what}: image size ${width}x${height} is not a positive integer size`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new FileFormatError('BAD_ARGUMENT', `${what}: ${channels} channels; images have 1 to 4`);
  if (bitDepth !== 8 && bitDepth !== 16)
    throw new FileFormatError('BAD_ARGUMENT', `${what}: bit depth ${bitDepth}; 8 and 16 are supported`);
  const want = width * height * channels;
  if (data.length !== want) {
    throw new FileFormatError('BAD_ARGUMENT', `${what}: ${width}x${height}x${channels} needs ${want} samples, the data has ${data.length}`);
  }
  if ((bitDepth === 8) !== data instanceof Uint8Array || (bitDepth === 16) !== data instanceof Uint16Array) {
    throw new FileFormatError(
      'BAD_ARGUMENT',
      `${what}: ${bitDepth}-bit samples must be a ${bitDepth === 8 ? 'Uint8Array' : 'Uint16Array'}`,
    );
  }
}

/** What kind of image the bytes hold, from their signature. */
export function sniffImage(head: Uint8Array): 'png' | 'jpeg' | null {
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  return null;
}
