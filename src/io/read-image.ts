import { FileFormatError } from '../runtime/errors.js';
import { type Image, sniffImage } from './image.js';
import { decodeJpeg } from './jpeg.js';
import { decodePng } from './png.js';

/** Decodes a PNG or JPEG, detected by content. */
export async function decodeImage(bytes: Uint8Array, name: string, opts: { maxPixels?: number } = {}): Promise<Image> {
  const kind = sniffImage(bytes);
  if (kind === 'png') return decodePng(bytes, name, opts);
  if (kind === 'jpeg') return decodeJpeg(bytes, name, opts);
  throw new FileFormatError('BAD_FILE', `${name}: not a PNG or JPEG image`);
}

/** Reads a PNG or JPEG file (Node). */
export async function readImage(path: string, opts: { maxPixels?: number } = {}): Promise<Image> {
  const { fileSource } = await import('./node-fs.js');
  const src = await fileSource(path);
  try {
    return await decodeImage(await src.read(0, src.size), path, opts);
  } finally {
    await src.close();
  }
}
