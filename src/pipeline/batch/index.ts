/** Resumable batch generation: prompt files, per-image seeds, an atomic output folder with a manifest. */
export { type PromptEntry, PromptFileError, PROMPT_LINE_KEYS, parsePromptFile, promptFileFormat } from './prompt-file.js';
export { deriveSeed, promptOwnSeed, splitmix64 } from './seeds.js';
export { type BatchJob, type JobDefaults, planJobs } from './jobs.js';
export {
  BATCH_FORMAT,
  type BatchRecord,
  type BatchSettings,
  BatchSettingsChangedError,
  batchId,
  canonicalSettings,
  parseBatchRecord,
  settingsChanges,
} from './settings.js';
export { type ManifestEntry, type ParsedManifest, formatManifestLine, parseManifest as parseBatchManifest } from './manifest.js';
export { BATCH_FILE, BatchLockedError, LOCK_FILE, MANIFEST_FILE, TEMP_PATTERN } from './folder.js';
export { type BatchOptions, BatchOutputExistsError, type PreparedBatch, manifestEntry, prepareBatch } from './prepare.js';
export {
  type BatchImage,
  type BatchProgress,
  type BatchRenderer,
  type BatchRunOptions,
  type BatchRunResult,
  batchPng,
  runBatch,
} from './run.js';
export { pipelineRenderer } from './render.js';
