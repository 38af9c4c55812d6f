/**
 * Opening a batch folder before any generation: lock it, check (or record) the settings, clean up what a
 * killed run left (temporary files, a torn manifest line), verify every finished image against its sha256,
 * adopt an image that was renamed into place just before a kill could append its manifest line, and refuse to
 * overwrite files that are not the batch's own. What is left is the list of images still to make.
 */
import { decodePng } from '../../io/png.js';
import { FileFormatError, MedgpuError } from '../../runtime/errors.js';
import { MEDGPU_VERSION } from '../../version.js';
import { randomSeed } from '../diffusion/noise.js';
import { BATCH_FILE, MANIFEST_FILE, TEMP_PATTERN } from './folder.js';
import { type BatchJob, planJobs } from './jobs.js';
import { type ManifestEntry, formatManifestLine, parseManifest } from './manifest.js';
import { type PromptEntry, PromptFileError, parsePromptFile, promptFileFormat } from './prompt-file.js';
import {
  BATCH_FORMAT,
  type BatchRecord,
  type BatchSettings,
  BatchSettingsChangedError,
  batchId,
  parseBatchRecord,
  settingsChanges,
  sha256Hex,
} from './settings.js';

/** A batch: the prompt file, the output folder, and every generation setting (defaults as `medgpu generate`). */
export interface BatchOptions {
  /** Output folder (created if missing). */
  dir: string;
  /** A `.txt` or `.jsonl` prompt file (prompt-file.ts). */
  promptsFile: string;
  /** Diffusers pipeline folder. */
  model: string;
  dtype?: 'f32' | 'f16';
  variant?: string;
  /** Default 50. */
  steps?: number;
  /** Default 7.5; a prompt line may override it. */
  guidance?: number;
  scheduler?: string;
  width?: number;
  height?: number;
  /** Default ""; a prompt line may override it. */
  negativePrompt?: string;
  /** The seed every image seed derives from (seeds.ts). Default: the folder's, or a random one for a new batch. */
  baseSeed?: bigint;
  /** Default 1; a prompt line's `num_images` overrides it. */
  numImagesPerPrompt?: number;
  clipSkip?: number;
  tiledDecode?: boolean;
  /** Replace files at the batch's file names that are not in its manifest (default: refuse). */
  overwrite?: boolean;
}

/** An opened batch folder: call `release()` when done (it removes the lock). */
export interface PreparedBatch {
  dir: string;
  record: BatchRecord;
  prompts: PromptEntry[];
  /** Every image of the batch, in generation order. */
  jobs: BatchJob[];
  /** The images still to make, in order. */
  pending: BatchJob[];
  /** Whether the folder already held this batch. */
  resumed: boolean;
  /** What was found and done while opening (stale files removed, images to redo, images adopted). */
  notes: string[];
  release(): Promise<void>;
}

/** A file at one of the batch's names that the batch did not write. */
export class BatchOutputExistsError extends MedgpuError {
  readonly files: readonly string[];
  constructor(dir: string, files: readonly string[]) {
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? ` and ${files.length - 5} more` : '');
    super(
      'FILE_EXISTS',
      `${dir} already has ${files.length} file(s) at names this batch writes, which are not in its manifest: ${shown}. Refusing to overwrite them: move them, use another --out folder, or pass --overwrite.`,
    );
    this.files = files;
  }
}

const DEFAULT_STEPS = 50;
const DEFAULT_GUIDANCE = 7.5;

function fs() {
  return import('./node-batch-fs.js');
}

async function readPrompts(file: string): Promise<{ prompts: PromptEntry[]; sha256: string }> {
  const { readIfExists } = await fs();
  const format = promptFileFormat(file);
  const bytes = await readIfExists(file);
  if (!bytes) throw new PromptFileError(file, null, 'no such file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PromptFileError(file, null, 'not UTF-8 text');
  }
  return { prompts: parsePromptFile(text, file, format), sha256: await sha256Hex(bytes) };
}

/** Opens (or starts) the batch in `o.dir`; see the module comment. */
export async function prepareBatch(o: BatchOptions): Promise<PreparedBatch> {
  const f = await fs();
  const { prompts, sha256: promptsSha256 } = await readPrompts(o.promptsFile);
  const dir = o.dir;
  await f.makeDir(dir);
  const release = await f.acquireLock(dir);
  try {
    const notes: string[] = [];
    const join = (name: string) => `${dir.replace(/\/+$/, '')}/${name}`;
    const recordBytes = await f.readIfExists(join(BATCH_FILE));
    const old = recordBytes ? parseBatchRecord(new TextDecoder().decode(recordBytes), join(BATCH_FILE)) : null;
    const settings: BatchSettings = {
      model: f.absolutePath(o.model),
      dtype: o.dtype ?? 'f32',
      variant: o.variant ?? null,
      steps: o.steps ?? DEFAULT_STEPS,
      guidance: o.guidance ?? DEFAULT_GUIDANCE,
      scheduler: o.scheduler ?? null,
      width: o.width ?? null,
      height: o.height ?? null,
      negativePrompt: o.negativePrompt ?? '',
      baseSeed: String(o.baseSeed ?? (old ? BigInt(old.settings.baseSeed) : BigInt(randomSeed()))),
      numImagesPerPrompt: o.numImagesPerPrompt ?? 1,
      clipSkip: o.clipSkip ?? null,
      tiledDecode: o.tiledDecode ?? false,
      promptsSha256,
      promptCount: prompts.length,
    };
    let record: BatchRecord;
    if (old) {
      const changes = settingsChanges(old.settings, settings);
      if (changes.length) throw new BatchSettingsChangedError(dir, changes);
      record = old;
    } else {
      if (await f.readIfExists(join(MANIFEST_FILE))) {
        throw new FileFormatError(
          'BAD_FILE',
          `${join(MANIFEST_FILE)} exists but ${join(BATCH_FILE)} does not, so the images there cannot be checked against this batch's settings; use another --out folder`,
        );
      }
      record = {
        format: BATCH_FORMAT,
        id: await batchId(settings),
        settings,
        promptsFile: f.absolutePath(o.promptsFile),
        engine: `medgpu ${MEDGPU_VERSION}`,
        createdAt: new Date().toISOString(),
      };
      await f.writeFileAtomic(join(BATCH_FILE), `${JSON.stringify(record, null, 2)}\n`);
    }

    let names = new Set(await f.listNames(dir));
    for (const name of names) {
      const m = TEMP_PATTERN.exec(name);
      if (m && !f.processAlive(Number(m[1]))) {
        await f.removeFile(join(name));
        notes.push(`removed ${name}, a partial file left by an interrupted run`);
      }
    }
    names = new Set(await f.listNames(dir));

    const jobs = planJobs(prompts, {
      baseSeed: BigInt(settings.baseSeed),
      numImagesPerPrompt: settings.numImagesPerPrompt,
      negativePrompt: settings.negativePrompt,
      guidance: settings.guidance,
    });
    const byFile = new Map(jobs.map((j) => [j.file, j]));
    const done = new Set<string>();
    /** Our files whose content no longer matches: regenerated, so they may be overwritten. */
    const ours = new Set<string>();

    // The manifest: cut a torn tail, verify every listed file, drop the lines of files to redo.
    const manifestPath = join(MANIFEST_FILE);
    const manifestBytes = (await f.readIfExists(manifestPath)) ?? new Uint8Array();
    const parsed = parseManifest(manifestBytes, manifestPath);
    if (parsed.tornLine !== null) {
      await f.truncateFile(manifestPath, parsed.validBytes);
      notes.push(`cut the last manifest line (${parsed.tornLine}), which an interrupted run left incomplete`);
    }
    const kept: ManifestEntry[] = [];
    for (const { entry, line } of parsed.entries) {
      const job = byFile.get(entry.file);
      if (!job) {
        kept.push(entry);
        notes.push(`manifest line ${line} names ${entry.file}, which is not an image of this batch; left as it is`);
        continue;
      }
      if (done.has(entry.file)) {
        notes.push(`manifest line ${line} repeats ${entry.file}; dropped`);
        continue;
      }
      const bytes = names.has(entry.file) ? await f.readIfExists(join(entry.file)) : null;
      if (!bytes) {
        notes.push(`${entry.file} is in the manifest but missing: generating it again`);
      } else if ((await sha256Hex(bytes)) !== entry.sha256 || entry.batch_id !== record.id || entry.seed !== String(job.seed)) {
        ours.add(entry.file);
        notes.push(`${entry.file} does not match its manifest sha256 (changed since it was written): generating it again`);
      } else {
        done.add(entry.file);
        kept.push(entry);
      }
    }
    if (kept.length !== parsed.entries.length) {
      await f.writeFileAtomic(manifestPath, kept.map(formatManifestLine).join(''));
    }

    // Files at our names that the manifest does not list: our own from a kill between rename and manifest
    // append (adopted), or someone else's (refused unless overwrite).
    const foreign: string[] = [];
    for (const job of jobs) {
      if (done.has(job.file) || ours.has(job.file) || !names.has(job.file)) continue;
      const bytes = await f.readIfExists(join(job.file));
      const entry = bytes ? await adoptable(bytes, job, record) : null;
      if (entry) {
        await f.appendDurable(manifestPath, formatManifestLine(entry));
        done.add(job.file);
        notes.push(`${job.file} was written by an interrupted run just before its manifest line: verified and added`);
      } else if (bytes) {
        foreign.push(job.file);
      }
    }
    if (foreign.length && !o.overwrite) throw new BatchOutputExistsError(dir, foreign);

    return {
      dir,
      record,
      prompts,
      jobs,
      pending: jobs.filter((j) => !done.has(j.file)),
      resumed: old !== null,
      notes,
      release,
    };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * The manifest entry of a file at a job's name when it is that job's image (a whole PNG stamped with this
 * batch's id, the job's indices and seed); null otherwise.
 */
async function adoptable(bytes: Uint8Array, job: BatchJob, record: BatchRecord): Promise<ManifestEntry | null> {
  let png: ReturnType<typeof decodePng>;
  try {
    png = decodePng(bytes, job.file);
  } catch {
    return null;
  }
  const t = png.text ?? {};
  const mine =
    t.batch_id === record.id &&
    t.seed === String(job.seed) &&
    t.prompt_index === String(job.promptIndex) &&
    t.image_index === String(job.imageIndex);
  if (!mine) return null;
  return manifestEntry(job, record, {
    sha256: await sha256Hex(bytes),
    scheduler: t.scheduler ?? '',
    width: png.width,
    height: png.height,
    elapsedMs: null,
  });
}

/** The manifest line of a finished job. */
export function manifestEntry(
  job: BatchJob,
  record: BatchRecord,
  r: { sha256: string; scheduler: string; width: number; height: number; elapsedMs: number | null },
): ManifestEntry {
  const s = record.settings;
  return {
    file: job.file,
    sha256: r.sha256,
    prompt: job.prompt,
    negative_prompt: job.negativePrompt,
    seed: String(job.seed),
    prompt_index: job.promptIndex,
    image_index: job.imageIndex,
    steps: s.steps,
    guidance: job.guidance,
    scheduler: r.scheduler,
    model: s.model,
    dtype: s.dtype,
    width: r.width,
    height: r.height,
    batch_id: record.id,
    engine: `medgpu ${MEDGPU_VERSION}`,
    time: new Date().toISOString(),
    elapsed_ms: r.elapsedMs,
  };
}
