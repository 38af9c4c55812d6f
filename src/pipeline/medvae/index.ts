/** The MedVAE public API: models, preprocessing, inference, files. */
export {
  MedVAE,
  type MedVAELoadOptions,
  type MedVAEConfigInput,
  type EncodeOptions as MedVAEEncodeOptions,
  type EncodeResult as MedVAEEncodeResult,
  type DecodeOptions as MedVAEDecodeOptions,
  type HostGrid,
} from './medvae.js';
export {
  MEDVAE_MODELS,
  type MedVAEModelName,
  type MedVAEModelInfo,
  type MedVAEConfig,
  parseMedVAEConfigText,
  medvaeModelInfo,
} from '../../nn/medvae/config.js';
export { MedVAEAutoencoder } from '../../nn/medvae/autoencoder.js';
export { preprocess2D, type ImageCHW, type Preprocess2DOptions } from './preprocess-2d.js';
export { preprocess3D, preprocess3DArray, type Preprocessed3D, type Modality3D } from './preprocess-3d.js';
export { roiSizeCalc, slidingWindowInference, type SlidingWindowOptions, type WindowPredictor } from './sliding-window.js';
export { psnr, ssim } from './metrics.js';
export { cropToCommon } from './crop.js';
export { type LatentMeta, type Modality as MedVAEModality, latentAffine, decodeLatentMeta } from './latent-file.js';
export {
  encodeFile,
  decodeFile,
  encodeOutputPaths,
  decodeOutputPath,
  listInputs,
  type EncodeFileOptions,
  type EncodeFileResult,
  type DecodeFileOptions,
} from './files.js';
export { computeMedvaeCase, isMedvaeModule, type MedvaeCase, type MedvaeCaseContext } from './fixture-case.js';
