/**
 * The settings that define a batch's dataset, kept in `DIR/batch.json`. A resumed run must have the same
 * ones: mixing images of two models, step counts or prompt files in one folder would silently corrupt the
 * dataset, so a difference is an error naming each changed setting.
 */
import { FileFormatError, MedgpuError } from '../../runtime/errors.js';

/** `batch.json` format version (bumped when its meaning changes). */
export const BATCH_FORMAT = 1;

/** Everything that decides which images a batch makes (besides the engine itself). */
export interface BatchSettings {
  /** The pipeline folder, absolute. */
  model: string;
  dtype: 'f32' | 'f16';
  variant: string | null;
  steps: number;
  /** Default guidance (a prompt line may override it). */
  guidance: number;
  /** Scheduler as asked for; null: the model's own. */
  scheduler: string | null;
  /** null: the model's sample size. */
  width: number | null;
  height: number | null;
  /** Default negative prompt (a prompt line may override it). */
  negativePrompt: string;
  /** The base seed every image seed is derived from, as a decimal string (64-bit). */
  baseSeed: string;
  numImagesPerPrompt: number;
  clipSkip: number | null;
  tiledDecode: boolean;
  /** sha256 of the prompt file's bytes, and its number of prompts. */
  promptsSha256: string;
  promptCount: number;
}

/** `batch.json`: the settings, plus what is recorded but not compared. */
export interface BatchRecord {
  format: typeof BATCH_FORMAT;
  /** sha256 of the canonical settings (first 16 hex digits); stamped into every PNG as `batch_id`. */
  id: string;
  settings: BatchSettings;
  /** The prompt file as given on the first run (it may move; its hash is what counts). */
  promptsFile: string;
  engine: string;
  createdAt: string;
}

/** A resumed batch was asked for with settings other than those the folder was made with. */
export class BatchSettingsChangedError extends MedgpuError {
  readonly changes: readonly { key: string; was: unknown; now: unknown }[];
  constructor(dir: string, changes: readonly { key: string; was: unknown; now: unknown }[]) {
    const show = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : JSON.stringify(v));
    const list = changes.map((c) => `${SETTING_LABELS[c.key as keyof BatchSettings] ?? c.key} ${show(c.was)} → ${show(c.now)}`).join('; ');
    super(
      'BAD_ARGUMENT',
      `${dir} holds a batch made with other settings (${list}); resuming would mix two datasets. Use another --out folder for the new settings, or repeat the original command to resume.`,
    );
    this.changes = changes;
  }
}

/** How each setting is named in messages (with its `medgpu generate` option). */
const SETTING_LABELS: Record<keyof BatchSettings, string> = {
  model: 'model (--model)',
  dtype: 'dtype (--dtype)',
  variant: 'weight variant (--variant)',
  steps: 'steps (--steps)',
  guidance: 'guidance (--guidance)',
  scheduler: 'scheduler (--scheduler)',
  width: 'width (--width)',
  height: 'height (--height)',
  negativePrompt: 'negative prompt (--negative-prompt)',
  baseSeed: 'base seed (--seed)',
  numImagesPerPrompt: 'images per prompt (--num-images-per-prompt)',
  clipSkip: 'clip skip (--clip-skip)',
  tiledDecode: 'tiled decode (--tiled-decode)',
  promptsSha256: 'prompt file contents (sha256)',
  promptCount: 'number of prompts',
};

const SETTING_KEYS: readonly (keyof BatchSettings)[] = [
  'model',
  'dtype',
  'variant',
  'steps',
  'guidance',
  'scheduler',
  'width',
  'height',
  'negativePrompt',
  'baseSeed',
  'numImagesPerPrompt',
  'clipSkip',
  'tiledDecode',
  'promptsSha256',
  'promptCount',
];

/** The settings as canonical JSON (fixed key order), the input of the batch id. */
export function canonicalSettings(s: BatchSettings): string {
  return JSON.stringify(SETTING_KEYS.map((k) => [k, s[k]]));
}

export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const digest = await globalThis.crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function batchId(s: BatchSettings): Promise<string> {
  return (await sha256Hex(canonicalSettings(s))).slice(0, 16);
}

/** The settings that differ between a folder's record and a new run (empty: the run may resume). */
export function settingsChanges(was: BatchSettings, now: BatchSettings): { key: string; was: unknown; now: unknown }[] {
  return SETTING_KEYS.filter((k) => was[k] !== now[k]).map((k) => ({ key: k, was: was[k], now: now[k] }));
}

/** Parses `batch.json`, checking every setting is present with the right type. */
export function parseBatchRecord(text: string, file: string): BatchRecord {
  const bad = (what: string) =>
    new FileFormatError('BAD_FILE', `${file}: ${what}; it is not a medgpu batch record (was it edited?). Use another --out folder.`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  const r = v as Partial<BatchRecord> | null;
  if (typeof r !== 'object' || r === null || r.format !== BATCH_FORMAT) throw bad(`"format" must be ${BATCH_FORMAT}`);
  if (typeof r.id !== 'string' || typeof r.settings !== 'object' || r.settings === null) throw bad('"id" and "settings" are missing');
  const s = r.settings as unknown as Record<string, unknown>;
  const types: Record<keyof BatchSettings, string> = {
    model: 'string',
    dtype: 'string',
    variant: 'string|null',
    steps: 'number',
    guidance: 'number',
    scheduler: 'string|null',
    width: 'number|null',
    height: 'number|null',
    negativePrompt: 'string',
    baseSeed: 'string',
    numImagesPerPrompt: 'number',
    clipSkip: 'number|null',
    tiledDecode: 'boolean',
    promptsSha256: 'string',
    promptCount: 'number',
  };
  for (const k of SETTING_KEYS) {
    const t = s[k] === null ? 'null' : typeof s[k];
    if (!types[k].split('|').includes(t)) throw bad(`settings.${k} must be ${types[k]}, got ${JSON.stringify(s[k])}`);
  }
  return r as BatchRecord;
}
