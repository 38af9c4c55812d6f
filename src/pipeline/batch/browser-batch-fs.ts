import { MedgpuError } from '../../runtime/errors.js';
import type * as NodeBatchFs from './node-batch-fs.js';

/**
 * The browser's stand-in for node-batch-fs.ts (swapped in by the browser build, vite.config.ts): batch
 * generation writes a folder of files, which a page cannot; each export has the type of its Node twin.
 */
function needsNode(): MedgpuError {
  return new MedgpuError(
    'UNSUPPORTED',
    'batch generation writes its images, manifest and lock into a folder and needs Node; in a browser call StableDiffusionPipeline.generate per image',
  );
}

export const tempName: typeof NodeBatchFs.tempName = () => {
  throw needsNode();
};
export const writeFileAtomic: typeof NodeBatchFs.writeFileAtomic = async () => {
  throw needsNode();
};
export const appendDurable: typeof NodeBatchFs.appendDurable = async () => {
  throw needsNode();
};
export const readIfExists: typeof NodeBatchFs.readIfExists = async () => {
  throw needsNode();
};
export const truncateFile: typeof NodeBatchFs.truncateFile = async () => {
  throw needsNode();
};
export const listNames: typeof NodeBatchFs.listNames = async () => {
  throw needsNode();
};
export const removeFile: typeof NodeBatchFs.removeFile = async () => {
  throw needsNode();
};
export const makeDir: typeof NodeBatchFs.makeDir = async () => {
  throw needsNode();
};
export const absolutePath: typeof NodeBatchFs.absolutePath = () => {
  throw needsNode();
};
export const processAlive: typeof NodeBatchFs.processAlive = () => {
  throw needsNode();
};
export const ownPid: typeof NodeBatchFs.ownPid = () => {
  throw needsNode();
};
export const acquireLock: typeof NodeBatchFs.acquireLock = async () => {
  throw needsNode();
};
