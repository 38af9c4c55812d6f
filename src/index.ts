/** medgpu's public API. */
export { createGpu, Gpu, type GpuOptions, type GpuInfo, type GpuFeature } from './runtime/gpu.js';
export { Tensor, type Shape, numel } from './runtime/tensor.js';
export type { DType } from './runtime/dtype.js';
export type { MemoryStats } from './runtime/buffer-pool.js';
export * from './runtime/errors.js';
export * as ops from './kernels/index.js';
export { TorchGenerator } from './pipeline/rng.js';
export * from './pipeline/tokenizer/index.js';
export * from './pipeline/schedulers/index.js';
export * from './pipeline/medvae/index.js';
export { CLIPTextModel, type CLIPTextOutput, type CLIPTextForwardOptions } from './nn/clip/text-model.js';
export * from './pipeline/diffusion/index.js';
export * from './pipeline/batch/index.js';
export { MEDGPU_VERSION } from './version.js';
export { UNet2DConditionModel, type UNetForwardOptions, type UNetPretrainedOptions } from './nn/unet/unet-2d-condition.js';
export { parseUNetConfig, type UNetConfig } from './nn/unet/config.js';
export {
  AutoencoderKL,
  type LatentDistribution,
  type DecodeOptions,
  type AttentionNames,
  type VaePretrainedOptions,
} from './nn/vae/autoencoder-kl.js';
export { parseAutoencoderKLConfig, type AutoencoderKLConfig } from './nn/vae/config.js';
export type { TileOptions } from './nn/vae/tiled-decode.js';
export type { Timesteps } from './nn/timestep.js';
export * from './verify/index.js';
export * from './io/index.js';
export * from './quality/index.js';
