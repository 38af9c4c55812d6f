/**
 * Image folders for `medgpu quality` (Node): with a `manifest.jsonl` (one JSON object per line with at least
 * `file`, relative to the folder, and usually `prompt`, `seed`, `sha256`), the manifest lists the images in its
 * order; without one, every PNG/JPEG directly in the folder, sorted by name, with the prompt and seed read from
 * the PNG text chunks that `medgpu generate` writes (`prompt`, `seed`) when present.
 */
import { FileFormatError, MedgpuError } from '../runtime/errors.js';
import type { QualityItem } from './assess.js';
import { toPlane } from './plane.js';
import type { QualityFlag } from './report.js';
import type { FlagReason } from './histogram-flags.js';

export const MANIFEST_NAME = 'manifest.jsonl';
const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export interface FolderImage {
  /** As written in the manifest, or the file name. */
  file: string;
  path: string;
  prompt: string | null;
  seed: string | null;
  sha256: string | null;
  /** The manifest line, verbatim (null without a manifest). */
  manifestLine: string | null;
}

export interface ImageFolder {
  dir: string;
  /** The manifest's path, or null when the folder was listed. */
  manifest: string | null;
  images: FolderImage[];
}

/** Parses manifest.jsonl text: blank lines skipped; every other line an object with a string `file`. */
export function parseManifest(
  text: string,
  name: string,
): { file: string; prompt: string | null; seed: string | null; sha256: string | null; line: string }[] {
  const out = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new FileFormatError(
        'BAD_FILE',
        `${name}:${i + 1}: not valid JSON (${(e as Error).message}); each line must be one JSON object`,
      );
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { file?: unknown }).file !== 'string') {
      throw new FileFormatError(
        'BAD_FILE',
        `${name}:${i + 1}: each line must be a JSON object with a "file" string (the image path, relative to the folder)`,
      );
    }
    const o = v as { file: string; prompt?: unknown; seed?: unknown; sha256?: unknown };
    const file = o.file;
    if (!file || file.startsWith('/') || file.split(/[\\/]/).includes('..')) {
      throw new FileFormatError('BAD_FILE', `${name}:${i + 1}: "file" ${JSON.stringify(file)} must be a relative path inside the folder`);
    }
    out.push({
      file,
      prompt: typeof o.prompt === 'string' ? o.prompt : null,
      seed: typeof o.seed === 'string' || typeof o.seed === 'number' ? String(o.seed) : null,
      sha256: typeof o.sha256 === 'string' ? o.sha256.toLowerCase() : null,
      line,
    });
  }
  return out;
}

/** Uncompressed PNG text chunks (tEXt, Latin-1; before or after the image data) without decoding the pixels; {} for anything else. */
export function pngTextChunks(bytes: Uint8Array): Record<string, string> {
  const text: Record<string, string> = {};
  if (bytes.length < 8 || bytes[0] !== 0x89 || bytes[1] !== 0x50) return text;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 8 <= bytes.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = at + 8;
    if (body + len > bytes.length || type === 'IEND') break;
    if (type === 'tEXt') {
      const chunk = bytes.subarray(body, body + len);
      const nul = chunk.indexOf(0);
      if (nul > 0) text[latin1(chunk.subarray(0, nul))] = latin1(chunk.subarray(nul + 1));
    }
    at = body + len + 4;
  }
  return text;
}

/** A whole file's bytes, through the io layer's file adapter (so the browser bundle has no Node import). */
async function readBytes(path: string): Promise<Uint8Array> {
  const { fileSource } = await import('../io/node-fs.js');
  const src = await fileSource(path);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close();
  }
}

/** SHA-256 as lowercase hex, with Web Crypto (Node 20 and browsers). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/** Lists a folder's images: by its manifest.jsonl when there is one (and `useManifest`), else every image file. */
export async function readImageFolder(dir: string, opts: { useManifest?: boolean } = {}): Promise<ImageFolder> {
  const { join, pathKind, listDir, readTextFile } = await import('../io/node-fs.js');
  if ((await pathKind(dir)) !== 'dir') throw new MedgpuError('BAD_ARGUMENT', `${dir} is not a folder; give a folder of PNG/JPEG images`);
  const manifestPath = join(dir, MANIFEST_NAME);
  if ((opts.useManifest ?? true) && (await pathKind(manifestPath)) === 'file') {
    const lines = parseManifest(await readTextFile(manifestPath), manifestPath);
    const images: FolderImage[] = [];
    for (const l of lines) {
      const path = join(dir, l.file);
      if ((await pathKind(path)) !== 'file') {
        throw new FileFormatError(
          'BAD_FILE',
          `${manifestPath} lists ${l.file}, which is not in ${dir}; remove the line or restore the file`,
        );
      }
      images.push({ file: l.file, path, prompt: l.prompt, seed: l.seed, sha256: l.sha256, manifestLine: l.line });
    }
    if (images.length === 0) throw new MedgpuError('BAD_ARGUMENT', `${manifestPath} lists no images`);
    return { dir, manifest: manifestPath, images };
  }
  const images: FolderImage[] = [];
  for (const e of await listDir(dir)) {
    if (e.isDir || !IMAGE_EXTENSIONS.some((x) => e.name.toLowerCase().endsWith(x))) continue;
    const path = join(dir, e.name);
    const text = e.name.toLowerCase().endsWith('.png') ? pngTextChunks(await readBytes(path)) : {};
    images.push({ file: e.name, path, prompt: text.prompt ?? null, seed: text.seed ?? null, sha256: null, manifestLine: null });
  }
  if (images.length === 0) throw new MedgpuError('BAD_ARGUMENT', `${dir} holds no PNG or JPEG images (and no ${MANIFEST_NAME})`);
  return { dir, manifest: null, images };
}

/** Quality items that read and decode their file when loaded; a manifest checksum that does not match becomes a flag. */
export async function folderItems(folder: ImageFolder): Promise<QualityItem[]> {
  const { decodeImage } = await import('../io/read-image.js');
  return folder.images.map((im) => {
    const flags: FlagReason<QualityFlag>[] = [];
    return {
      file: im.file,
      prompt: im.prompt,
      seed: im.seed,
      flags,
      load: async () => {
        const bytes = await readBytes(im.path);
        if (im.sha256) {
          const got = await sha256Hex(bytes);
          if (got !== im.sha256 && !flags.length) {
            flags.push({
              flag: 'checksum-mismatch',
              detail: `sha256 ${got.slice(0, 12)}… differs from the manifest's ${im.sha256.slice(0, 12)}…`,
            });
          }
        }
        return toPlane(await decodeImage(bytes, im.path));
      },
    };
  });
}

/** The filtered manifest: the lines of the images that earned no flag (verbatim, or made from what is known). */
export function filteredManifest(folder: ImageFolder, flagged: ReadonlySet<string>): string {
  const lines = folder.images
    .filter((im) => !flagged.has(im.file))
    .map((im) => im.manifestLine ?? JSON.stringify({ file: im.file, prompt: im.prompt, seed: im.seed }));
  return lines.map((l) => `${l}\n`).join('');
}
