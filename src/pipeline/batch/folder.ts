/**
 * The layout of a batch output folder, next to the images:
 *   manifest.jsonl        one line per finished image (manifest.ts)
 *   batch.json            the batch's settings (settings.ts)
 *   .medgpu-batch.lock    the pid of the run writing the folder
 *   <name>.tmp-<pid>      a file being written (renamed into place when complete; removed when stale)
 */
import { MedgpuError } from '../../runtime/errors.js';

export const MANIFEST_FILE = 'manifest.jsonl';
export const BATCH_FILE = 'batch.json';
export const LOCK_FILE = '.medgpu-batch.lock';
/** The pid tells a live writer's temporary file from a killed one's. */
export const TEMP_PATTERN = /\.tmp-(\d+)$/;

/** Another live process holds the batch lock of a folder. */
export class BatchLockedError extends MedgpuError {
  readonly pid: number;
  constructor(dir: string, pid: number) {
    super(
      'BAD_ARGUMENT',
      `${dir} is being written by another medgpu batch (process ${pid}); wait for it to finish, stop it, or use another --out folder`,
    );
    this.pid = pid;
  }
}
