import { FileFormatError } from '../runtime/errors.js';
import { type FileTree, memoryFileTree } from './file-tree.js';

/**
 * Folders chosen in a browser page as `FileTree`s: the files of an `<input type="file" webkitdirectory>` and a
 * File System Access directory handle (`showDirectoryPicker()`). Files stay `File`s (read slice by slice on
 * demand, never loaded whole), so multi-GB weights open without copying them into memory.
 */

/** A file picked with its path inside the chosen folder. */
export interface PickedFile {
  file: Blob;
  /** '/'-separated, relative to the chosen folder (or including it: see `fileListTree`). */
  path: string;
}

/**
 * The files of a directory input as a tree rooted at the chosen folder. Browsers give each file a
 * `webkitRelativePath` that starts with the chosen folder's name ("sd1/unet/config.json"): that first segment
 * becomes the tree's root name.
 */
export function fileListTree(files: Iterable<File> | ArrayLike<File>): FileTree {
  const list = Array.from(files as ArrayLike<File>);
  if (list.length === 0) throw new FileFormatError('BAD_FILE', 'the chosen folder is empty (or the browser gave no files for it)');
  const paths = list.map((f) => f.webkitRelativePath || f.name);
  const first = paths[0]?.split('/')[0] ?? '';
  const shared = paths.every((p) => p.includes('/') && p.split('/')[0] === first);
  return pickedFileTree(
    list.map((file, i) => ({ file, path: shared ? (paths[i] as string).slice(first.length + 1) : (paths[i] as string) })),
    shared ? first : '<chosen files>',
  );
}

/** Files with their relative paths as a tree (e.g. from a drop of a folder). */
export function pickedFileTree(files: readonly PickedFile[], root: string): FileTree {
  return memoryFileTree(new Map(files.map((f) => [f.path.replace(/^\/+/, ''), f.file])), root);
}

/** The File System Access API's directory handle, as far as it is used here (lib.dom lacks `values()`). */
export interface DirectoryHandleLike {
  readonly kind: 'directory';
  readonly name: string;
  values(): AsyncIterable<DirectoryHandleLike | { readonly kind: 'file'; readonly name: string; getFile(): Promise<File> }>;
}

/**
 * A folder from `showDirectoryPicker()` as a tree. The listing is walked once up front (a model folder holds
 * a few dozen files); hidden entries (".git", ".cache") are skipped.
 */
export async function directoryHandleTree(dir: DirectoryHandleLike): Promise<FileTree> {
  const files: PickedFile[] = [];
  const walk = async (d: DirectoryHandleLike, prefix: string): Promise<void> => {
    for await (const entry of d.values()) {
      if (entry.name.startsWith('.')) continue;
      const path = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.kind === 'directory') await walk(entry, path);
      else files.push({ file: await entry.getFile(), path });
    }
  };
  await walk(dir, '');
  return pickedFileTree(files, dir.name);
}
