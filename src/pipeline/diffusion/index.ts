/** Stable Diffusion text-to-image and image-to-image, with diffusers' names. */
export { StableDiffusionPipeline } from './text-to-image.js';
export { StableDiffusionImg2ImgPipeline } from './image-to-image.js';
export { DiffusionPipelineBase } from './base.js';
export { type DiffusionComponents, type PipelineLoadOptions, loadComponents, loadTokenizer, subTree } from './components.js';
export type {
  CommonOptions,
  GeneratedImages,
  ImageInput,
  ImageToImageOptions,
  StepProgress,
  TextToImageOptions,
  TraceEvent,
} from './options.js';
export { type NoiseSource, randomSeed, recordedNoise, seededNoise } from './noise.js';
export { type GenerationMetadata, imageInput, latin1Text, metadataText, toRgb8 } from './image.js';
export { nchwToNhwc, nhwcToNchw } from './layout.js';
export { assertCanWrite, imageFileNames, promptSlug, readImageInput, saveImages, type SaveOptions } from './files.js';
