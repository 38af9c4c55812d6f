/**
 * Generated images as files (Node): PNGs named after the prompt and seed, carrying their generation
 * parameters as text; all target names are checked before anything is written, so a run never overwrites
 * an existing file unless asked, and never stops half-way through writing a batch for that reason.
 */
import { OutputExistsError } from '../../io/output.js';
import { MedgpuError } from '../../runtime/errors.js';
import { type GenerationMetadata, imageInput, metadataText, toRgb8 } from './image.js';
import type { GeneratedImages, ImageInput } from './options.js';

/** A short file-name-safe version of a prompt ("Left lower lobe…" → "left-lower-lobe"). */
export function promptSlug(prompt: string, maxLength = 48): string {
  const slug = prompt
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxLength)
    .replace(/-+$/, '');
  return slug || 'image';
}

/** The default file names (without folder) of `count` images: `<prompt slug>-<seed>-<index>.png`. */
export function imageFileNames(prompt: string, seed: bigint | number | null, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${promptSlug(prompt)}-${seed ?? 'noise'}-${i}.png`);
}

/** Throws `OutputExistsError` for the first of `paths` that exists (unless `overwrite`): call it before generating. */
export async function assertCanWrite(paths: readonly string[], overwrite = false): Promise<void> {
  if (overwrite) return;
  const { pathKind } = await import('../../io/node-fs.js');
  for (const p of paths) {
    if ((await pathKind(p)) !== 'missing') throw new OutputExistsError(p);
  }
}

export interface SaveOptions {
  dir: string;
  /** Per image (in result order): the metadata to embed. */
  metadata: (index: number) => GenerationMetadata;
  /** File names, one per image; default `imageFileNames(prompt of image 0, seed, count)`. */
  names?: readonly string[];
  overwrite?: boolean;
}

/** Writes every image of `result` as an 8-bit RGB PNG with tEXt metadata; returns the paths. */
export async function saveImages(result: GeneratedImages, o: SaveOptions): Promise<string[]> {
  const { join, makeDir } = await import('../../io/node-fs.js');
  const { writePng } = await import('../../io/png.js');
  await makeDir(o.dir);
  const names = o.names ?? imageFileNames(o.metadata(0).prompt, result.seed, result.images.length);
  if (names.length !== result.images.length) {
    throw new MedgpuError('BAD_ARGUMENT', `saveImages: ${names.length} file names for ${result.images.length} images`);
  }
  const paths = names.map((n) => join(o.dir, n));
  await assertCanWrite(paths, o.overwrite);
  for (const [i, img] of result.images.entries()) {
    await writePng(paths[i] as string, toRgb8(img, result.width, result.height), {
      overwrite: o.overwrite,
      text: metadataText(o.metadata(i)),
    });
  }
  return paths;
}

/** Reads a PNG or JPEG as img2img input (RGB in [0, 1]; gray replicated, alpha dropped). */
export async function readImageInput(path: string): Promise<ImageInput> {
  const { readImage } = await import('../../io/read-image.js');
  return imageInput(await readImage(path));
}
