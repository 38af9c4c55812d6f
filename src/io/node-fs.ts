import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileFormatError } from '../runtime/errors.js';
import type { FileTree, TreeEntry } from './file-tree.js';
import { OutputExistsError, type WriteOptions } from './output.js';
import { type ByteSource, checkRange } from './source.js';

/**
 * The Node adapter: files on disk as `ByteSource`s and `FileTree`s, and writers. Everything that touches
 * `node:fs` lives here so the readers themselves also run in a browser. Other modules import this file only
 * dynamically, from their path-taking entry points.
 */

function cannotOpen(path: string, e: unknown): FileFormatError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
  return new FileFormatError('BAD_FILE', `cannot open ${path}: ${why}`, { cause: e });
}

/** A file read on demand through one handle; each `read` allocates only the bytes asked for. */
export async function fileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  let size: number;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (st.isDirectory()) {
      await fh.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    size = st.size;
  } catch (e) {
    throw cannotOpen(path, e);
  }
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      checkRange(path, offset, length, size);
      if (closed) throw new FileFormatError('BAD_ARGUMENT', `${path}: read after close`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        // One read call moves at most ~2 GiB; loop for larger tensors and short reads.
        const want = Math.min(length - done, 1 << 30);
        const { bytesRead } = await fh.read(out, done, want, offset + done);
        if (bytesRead === 0)
          throw new FileFormatError('BAD_FILE', `${path}: unexpected end of file at byte ${offset + done}; was it truncated while open?`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw cannotOpen(path, e);
  }
}

/** node:path's helpers, for the core's path-taking entry points (imported through this adapter). */
export { basename, dirname, join } from 'node:path';

/** A folder's entries, sorted by name (the folder must exist). */
export async function listDir(path: string): Promise<TreeEntry[]> {
  const ents = await readdir(path, { withFileTypes: true });
  return ents.map((e): TreeEntry => ({ name: e.name, isDir: e.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** `mkdir -p`. */
export async function makeDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
}

export async function pathKind(path: string): Promise<'file' | 'dir' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

/**
 * Writes chunks to `path`. Without `overwrite`, an existing file is refused (`FILE_EXISTS`, checked atomically by
 * the exclusive open). With it, data goes to a temporary sibling that is renamed over the target at the end, so
 * a failed write never leaves a half-written file behind.
 */
export async function writeChunks(
  path: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: WriteOptions = {},
): Promise<void> {
  const target = opts.overwrite ? join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`) : path;
  let fh: FileHandle;
  try {
    fh = await open(target, opts.overwrite ? 'w' : 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new OutputExistsError(path);
    throw new FileFormatError('BAD_FILE', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    for await (const c of chunks) {
      let done = 0;
      while (done < c.byteLength) {
        const { bytesWritten } = await fh.write(c, done, Math.min(c.byteLength - done, 1 << 30));
        done += bytesWritten;
      }
    }
    await fh.close();
    if (target !== path) await rename(target, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(target).catch(() => {});
    throw e;
  }
}

/** A folder on disk as a `FileTree` (hub pipelines). Paths inside are '/'-separated and relative to `root`. */
export function nodeFileTree(root: string): FileTree {
  const abs = (p: string) => {
    if (p.split('/').includes('..')) throw new FileFormatError('BAD_FILE', `${root}: path ${p} leaves the folder`);
    return join(root, p);
  };
  return {
    root,
    display: (p) => (p ? join(root, p) : root),
    async list(dir) {
      try {
        const ents = await readdir(abs(dir), { withFileTypes: true });
        return ents.map((e): TreeEntry => ({ name: e.name, isDir: e.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : 1));
      } catch {
        return [];
      }
    },
    async kind(p) {
      return pathKind(abs(p));
    },
    open: (p) => fileSource(abs(p)),
    readText: (p) => readTextFile(abs(p)),
  };
}

export function absolute(path: string): string {
  return resolve(path);
}

/** A file next to `path` (shards next to their index). */
export function siblingPath(path: string, name: string): string {
  return join(dirname(path), name);
}
