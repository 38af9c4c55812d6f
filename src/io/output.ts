import { MedgpuError } from '../runtime/errors.js';

/** Options shared by every writer that creates a file. */
export interface WriteOptions {
  /** Replace an existing file. Default false: writing onto an existing path throws `OutputExistsError`. */
  overwrite?: boolean;
}

/** A writer was asked to create a file that already exists (and `overwrite` was not set). */
export class OutputExistsError extends MedgpuError {
  readonly path: string;
  constructor(path: string) {
    super('FILE_EXISTS', `${path} already exists; refusing to overwrite it (pass overwrite: true, or --overwrite on the CLI)`);
    this.path = path;
  }
}
