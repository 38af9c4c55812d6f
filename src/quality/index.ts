/** Dataset quality checks: diversity (MS-SSIM per prompt), fidelity (histogram flags), authenticity (near copies). */
export { type Plane, LUMA_WEIGHTS, makePlane, resizeArea, toPlane } from './plane.js';
export {
  GAUSSIAN_TAPS,
  SSIM_K1,
  SSIM_K2,
  SSIM_SIGMA,
  SSIM_WINDOW,
  type SsimOptions,
  type SsimPrepared,
  type SsimResult,
  prepareSsim,
  ssimAndCs,
  ssimPlanes,
  ssimPrepared,
} from './ssim.js';
export {
  MS_SSIM_WEIGHTS,
  type MsSsimOptions,
  type MsSsimPrepared,
  type MsSsimResult,
  downsample2x,
  msSsim,
  msSsimPrepared,
  msSsimScalesThatFit,
  prepareMsSsim,
} from './ms-ssim.js';
export { type DiversityResult, promptDiversity } from './diversity.js';
export {
  DEFAULT_HISTOGRAM_THRESHOLDS,
  type FlagReason,
  HISTOGRAM_BINS,
  type HistogramThresholds,
  type IntensityFlag,
  type IntensityStats,
  type ReferenceHistogram,
  intensityFlags,
  intensityStats,
  referenceHistogram,
  wasserstein1,
} from './histogram-flags.js';
export {
  DEFAULT_NEAR_COPY_OPTIONS,
  type LatentNeighbour,
  type NearCopyOptions,
  type SsimNeighbour,
  meanLatent,
  medvaeLatent,
  nearestByLatent,
  nearestBySsim,
  prepareForNearCopy,
} from './near-copy.js';
export { type AssessOptions, type QualityItem, type QualityPhase, assessQuality } from './assess.js';
export {
  type ImageReport,
  type PromptReport,
  QUALITY_REPORT_FORMAT,
  QUALITY_REPORT_VERSION,
  type QualityFlag,
  type QualityReport,
  type ReferenceReport,
  qualityReportJson,
} from './report.js';
export { escapeHtml, renderQualityHtml } from './report-html.js';
export {
  type FolderImage,
  type ImageFolder,
  MANIFEST_NAME,
  filteredManifest,
  folderItems,
  parseManifest,
  pngTextChunks,
  readImageFolder,
} from './folder.js';
export { FILTERED_MANIFEST_NAME, type QualityRunOptions, type QualityRunResult, runQuality } from './run.js';
