import type * as NodeFs from './node-fs.js';
import { MedgpuError } from '../runtime/errors.js';

/**
 * The browser's stand-in for node-fs.ts (swapped in by the browser build, vite.config.ts): a page has no
 * file paths, so every path-taking entry point ends here with an error that says what to pass instead.
 * Each export has the type of its Node twin, so the two cannot drift apart.
 */
function needsNode(what: string, path?: string): MedgpuError {
  return new MedgpuError(
    'BAD_ARGUMENT',
    `${what}${path === undefined ? '' : ` (${path})`} needs Node's file system; in a browser pass the bytes instead: a File/Blob (blobSource, weightSourceFromByteSource) or a FileTree (fileListTree, directoryHandleTree, memoryFileTree)`,
  );
}

export const fileSource: typeof NodeFs.fileSource = async (path) => {
  throw needsNode('opening a file by path', path);
};
export const readTextFile: typeof NodeFs.readTextFile = async (path) => {
  throw needsNode('reading a file by path', path);
};
export const pathKind: typeof NodeFs.pathKind = async (path) => {
  throw needsNode('looking up a path', path);
};
export const writeChunks: typeof NodeFs.writeChunks = async (path) => {
  throw needsNode('writing a file', path);
};
export const nodeFileTree: typeof NodeFs.nodeFileTree = (root) => {
  throw needsNode('opening a folder by path', root);
};
export const absolute: typeof NodeFs.absolute = (path) => {
  throw needsNode('resolving a path', path);
};
export const siblingPath: typeof NodeFs.siblingPath = (path) => {
  throw needsNode('resolving a path', path);
};
