/**
 * `DIR/manifest.jsonl`: one JSON line per finished image, appended (and fsync'ed) only after the image file
 * has been renamed into place, so every line names a whole file. A kill can only cut the line being appended,
 * which is always the last one: reading tolerates that torn tail (it is cut off before the next append), but
 * a bad line anywhere else means the file was edited and is an error naming the line.
 */
import { FileFormatError } from '../../runtime/errors.js';

/** One finished image (snake_case keys, as written). */
export interface ManifestEntry {
  /** File name, relative to the folder. */
  file: string;
  sha256: string;
  prompt: string;
  negative_prompt: string;
  /** Decimal string (seeds may exceed 2^53). */
  seed: string;
  prompt_index: number;
  image_index: number;
  steps: number;
  guidance: number;
  /** The scheduler class that ran. */
  scheduler: string;
  model: string;
  dtype: string;
  width: number;
  height: number;
  /** The batch id of `batch.json`. */
  batch_id: string;
  engine: string;
  /** When the image was finished (ISO 8601). */
  time: string;
  /** Generation time of the image; null for an image adopted from an interrupted run. */
  elapsed_ms: number | null;
}

export interface ParsedManifest {
  entries: { entry: ManifestEntry; line: number }[];
  /** Length in bytes of the whole lines; anything after it is a torn tail. */
  validBytes: number;
  /** The torn last line (a kill while it was appended), if any. */
  tornLine: number | null;
}

/** The manifest line of an entry, newline included. */
export function formatManifestLine(e: ManifestEntry): string {
  return `${JSON.stringify(e)}\n`;
}

const NEWLINE = 0x0a;

/** Parses manifest bytes; the last line may be torn (no newline, or not a complete entry), others may not. */
export function parseManifest(bytes: Uint8Array, file: string): ParsedManifest {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries: ParsedManifest['entries'] = [];
  let start = 0;
  let line = 0;
  while (start < bytes.length) {
    line++;
    const nl = bytes.indexOf(NEWLINE, start);
    const end = nl < 0 ? bytes.length : nl;
    const isLast = nl < 0 || nl === bytes.length - 1;
    if (end === start) {
      start = end + 1;
      continue;
    }
    let entry: ManifestEntry | string;
    try {
      entry = nl < 0 ? 'the line has no newline' : checkEntry(JSON.parse(decoder.decode(bytes.subarray(start, end))));
    } catch (e) {
      entry = (e as Error).message;
    }
    if (typeof entry === 'string') {
      if (isLast) return { entries, validBytes: start, tornLine: line };
      throw new FileFormatError(
        'BAD_FILE',
        `${file}:${line}: ${entry}; only the last line can be cut short by an interrupted run, so this file was edited. Restore it, or use another --out folder.`,
      );
    }
    entries.push({ entry, line });
    start = end + 1;
  }
  return { entries, validBytes: bytes.length, tornLine: null };
}

function checkEntry(v: unknown): ManifestEntry | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const e = v as Record<string, unknown>;
  for (const k of ['file', 'sha256', 'prompt', 'seed', 'batch_id'] as const) {
    if (typeof e[k] !== 'string') return `"${k}" must be a string`;
  }
  for (const k of ['prompt_index', 'image_index'] as const) {
    if (!Number.isInteger(e[k])) return `"${k}" must be an integer`;
  }
  if (!/^[0-9a-f]{64}$/.test(e.sha256 as string)) return '"sha256" must be 64 hex digits';
  return e as unknown as ManifestEntry;
}
