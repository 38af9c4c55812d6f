/**
 * Prompt files of a batch: `.txt` (one prompt per line; blank lines and lines starting with `#` are skipped)
 * and `.jsonl` (one JSON object per line, blank lines skipped). A JSON line may carry its own negative prompt,
 * seed, guidance and image count; anything else is an error that names the line, so a typo such as
 * `"negative"` never silently generates the wrong dataset.
 */
import { FileFormatError } from '../../runtime/errors.js';

/** One prompt of a batch, with what its line overrides (absent: the batch's setting). */
export interface PromptEntry {
  prompt: string;
  negativePrompt?: string;
  /** The prompt's own seed: its image j uses seed + j (see seeds.ts). */
  seed?: bigint;
  guidance?: number;
  /** Images for this prompt instead of --num-images-per-prompt. */
  numImages?: number;
  /** 1-based line in the prompt file, for messages. */
  line: number;
}

/** A prompt file that cannot be used; the message names the file and line. */
export class PromptFileError extends FileFormatError {
  readonly file: string;
  readonly line: number | null;
  constructor(file: string, line: number | null, what: string) {
    super('BAD_FILE', `${file}${line === null ? '' : `:${line}`}: ${what}`);
    this.file = file;
    this.line = line;
  }
}

/** The keys a `.jsonl` prompt line may have. */
export const PROMPT_LINE_KEYS = ['prompt', 'negative_prompt', 'seed', 'guidance', 'num_images'] as const;

/** Seeds are torch generator seeds: non-negative and below 2^64 (torch `manual_seed`). */
const SEED_LIMIT = 1n << 64n;
/** Per-prompt image counts above this are almost certainly a typo (e.g. a seed in the wrong key). */
export const MAX_IMAGES_PER_PROMPT = 100_000;

/** Parses a prompt file's text; `format` comes from the file extension (`promptFileFormat`). */
export function parsePromptFile(text: string, file: string, format: 'txt' | 'jsonl'): PromptEntry[] {
  const entries: PromptEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) continue;
    if (format === 'txt') {
      if (line.trimStart().startsWith('#')) continue;
      entries.push({ prompt: line.trim(), line: i + 1 });
    } else {
      entries.push(parseJsonLine(line, file, i + 1));
    }
  }
  if (entries.length === 0) {
    throw new PromptFileError(
      file,
      null,
      format === 'txt' ? 'no prompts (every line is blank or a # comment)' : 'no prompts (every line is blank)',
    );
  }
  return entries;
}

/** The format of a prompt file by its extension: `.txt` or `.jsonl`. */
export function promptFileFormat(file: string): 'txt' | 'jsonl' {
  const lower = file.toLowerCase();
  if (lower.endsWith('.txt')) return 'txt';
  if (lower.endsWith('.jsonl')) return 'jsonl';
  throw new PromptFileError(file, null, 'unknown prompt file type: use .txt (one prompt per line) or .jsonl (one JSON object per line)');
}

function parseJsonLine(line: string, file: string, n: number): PromptEntry {
  const fail = (what: string) => new PromptFileError(file, n, what);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw fail(`not valid JSON (${(e as Error).message}); each line must be one object like {"prompt": "..."}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('each line must be a JSON object like {"prompt": "..."}');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(PROMPT_LINE_KEYS as readonly string[]).includes(k));
  if (unknown.length)
    throw fail(`unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${PROMPT_LINE_KEYS.join(', ')}`);
  if (typeof o.prompt !== 'string' || !o.prompt.trim()) throw fail('"prompt" must be a non-empty string');
  const entry: PromptEntry = { prompt: o.prompt, line: n };
  if (o.negative_prompt !== undefined) {
    if (typeof o.negative_prompt !== 'string') throw fail('"negative_prompt" must be a string');
    entry.negativePrompt = o.negative_prompt;
  }
  if (o.seed !== undefined) entry.seed = parseSeed(o.seed, fail);
  if (o.guidance !== undefined) {
    if (typeof o.guidance !== 'number' || !Number.isFinite(o.guidance) || o.guidance < 0) {
      throw fail(`"guidance" must be a number ≥ 0, got ${JSON.stringify(o.guidance)}`);
    }
    entry.guidance = o.guidance;
  }
  if (o.num_images !== undefined) {
    const k = o.num_images;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_IMAGES_PER_PROMPT) {
      throw fail(`"num_images" must be an integer in [1, ${MAX_IMAGES_PER_PROMPT}], got ${JSON.stringify(k)}`);
    }
    entry.numImages = k;
  }
  return entry;
}

/** A seed as a JSON integer (exact below 2^53) or a decimal string (any 64-bit seed). */
function parseSeed(s: unknown, fail: (what: string) => PromptFileError): bigint {
  let v: bigint | null = null;
  if (typeof s === 'number' && Number.isSafeInteger(s)) v = BigInt(s);
  else if (typeof s === 'string' && /^\d{1,20}$/.test(s)) v = BigInt(s);
  if (v === null || v < 0n || v >= SEED_LIMIT) {
    throw fail(
      `"seed" must be an integer in [0, 2^64) (write seeds above 2^53 as a decimal string, JSON numbers lose digits there), got ${JSON.stringify(s)}`,
    );
  }
  return v;
}
