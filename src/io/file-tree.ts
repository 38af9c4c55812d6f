import { FileFormatError } from '../runtime/errors.js';
import { type ByteSource, blobSource, bufferSource } from './source.js';

/**
 * A read-only folder of files: a hub pipeline on disk (node-fs.ts `nodeFileTree`) or in memory / dropped into a
 * browser page (`memoryFileTree`). Paths are '/'-separated and relative to the root; '' is the root itself.
 */
export interface TreeEntry {
  name: string;
  isDir: boolean;
}

export interface FileTree {
  readonly root: string;
  /** A path as shown in messages. */
  display(path: string): string;
  /** Sorted entries of a folder; [] when it does not exist. */
  list(dir: string): Promise<TreeEntry[]>;
  kind(path: string): Promise<'file' | 'dir' | 'missing'>;
  open(path: string): Promise<ByteSource>;
  readText(path: string): Promise<string>;
}

export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** Files given as path -> bytes (or `Blob`/`File`, e.g. from a folder picker), e.g. `unet/config.json`. */
export function memoryFileTree(files: ReadonlyMap<string, Uint8Array | Blob>, root = '<memory>'): FileTree {
  const norm = (p: string) => p.replace(/^\/+|\/+$/g, '');
  const kind = (p: string): 'file' | 'dir' | 'missing' => {
    const q = norm(p);
    if (files.has(q)) return 'file';
    const prefix = q === '' ? '' : `${q}/`;
    for (const k of files.keys()) if (k.startsWith(prefix)) return 'dir';
    return 'missing';
  };
  const get = (p: string) => {
    const f = files.get(norm(p));
    if (!f) throw new FileFormatError('BAD_FILE', `cannot open ${root}/${p}: no such file`);
    return f;
  };
  return {
    root,
    display: (p) => (p ? `${root}/${p}` : root),
    async list(dir) {
      const prefix = norm(dir) === '' ? '' : `${norm(dir)}/`;
      const out = new Map<string, boolean>();
      for (const k of files.keys()) {
        if (!k.startsWith(prefix)) continue;
        const rest = k.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (slash < 0) out.set(rest, false);
        else out.set(rest.slice(0, slash), true);
      }
      return [...out].map(([name, isDir]) => ({ name, isDir })).sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async kind(p) {
      return kind(p);
    },
    async open(p) {
      const f = get(p);
      const name = `${root}/${norm(p)}`;
      return f instanceof Uint8Array ? bufferSource(f, name) : blobSource(f, name);
    },
    async readText(p) {
      const f = get(p);
      const bytes = f instanceof Uint8Array ? f : new Uint8Array(await f.arrayBuffer());
      return new TextDecoder().decode(bytes);
    },
  };
}
