/**
 * The Node file operations of batch generation: crash-safe writes (temporary sibling, fsync, rename, fsync of
 * the folder), durable appends, and a lock file so two runs never write into one folder. Like io/node-fs.ts,
 * it is imported lazily and has a browser twin (browser-batch-fs.ts) that refuses.
 */
import { open, readFile, readdir, rename, truncate, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MedgpuError } from '../../runtime/errors.js';
import { BatchLockedError, LOCK_FILE } from './folder.js';

export function tempName(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems cannot fsync a folder; the rename is still atomic there.
  } finally {
    await fh.close();
  }
}

/**
 * Writes `bytes` to `path` so that `path` is either absent/old or complete, never partial: the data goes to
 * `<path>.tmp-<pid>` in the same folder, is fsync'ed, then renamed over `path`, and the folder is fsync'ed so
 * the rename survives a crash.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(resolve(path, '..'));
}

/** Appends one line in one write and fsyncs it. */
export async function appendDurable(path: string, text: string): Promise<void> {
  const fh = await open(path, 'a');
  try {
    await fh.write(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A file's bytes, or null when it does not exist. */
export async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export async function truncateFile(path: string, length: number): Promise<void> {
  await truncate(path, length);
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function listNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

export async function makeDir(dir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
}

export function absolutePath(p: string): string {
  return resolve(p);
}

/** Whether a process with this id is running (on this machine). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function ownPid(): number {
  return process.pid;
}

/**
 * Takes `DIR/.medgpu-batch.lock` (created exclusively, holding our pid). A lock left by a dead process (a
 * killed run) is taken over; one held by a live process is a `BatchLockedError`. Returns the release function.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => removeFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = (await readIfExists(path)) ?? new Uint8Array();
    const pid = Number.parseInt(new TextDecoder().decode(text), 10);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid) && pid !== process.pid) throw new BatchLockedError(dir, pid);
    await removeFile(path);
  }
  throw new MedgpuError('BAD_ARGUMENT', `cannot take the batch lock ${path}; remove it if no medgpu batch is running`);
}
