/** Which runner checks which fixture `module` (the manifests' own module names). */
import type { CaseRunner } from './runner.js';
import { runCheckpointCase } from './runners/checkpoint.js';
import { runMedvaeCase } from './runners/medvae.js';
import { runPipelineCase } from './runners/pipeline.js';
import { runRngCase } from './runners/rng.js';
import { runSchedulerCase } from './runners/scheduler.js';
import { runTextEncoderCase } from './runners/text-encoder.js';
import { runTokenizerCase } from './runners/tokenizer.js';
import { runUNetCase } from './runners/unet.js';
import { runVaeCase } from './runners/vae.js';

export const MODULE_RUNNERS: Readonly<Record<string, CaseRunner>> = {
  CLIPTokenizer: runTokenizerCase,
  CLIPTextModel: runTextEncoderCase,
  UNet2DConditionModel: runUNetCase,
  'AutoencoderKL.encode': runVaeCase,
  'AutoencoderKL.decode': runVaeCase,
  DDIMScheduler: runSchedulerCase,
  PNDMScheduler: runSchedulerCase,
  EulerDiscreteScheduler: runSchedulerCase,
  EulerAncestralDiscreteScheduler: runSchedulerCase,
  DPMSolverMultistepScheduler: runSchedulerCase,
  LMSDiscreteScheduler: runSchedulerCase,
  StableDiffusionPipeline: runPipelineCase,
  StableDiffusionImg2ImgPipeline: runPipelineCase,
  torch_cpu_rng: runRngCase,
  'medvae.utils.loaders.load_2d': runMedvaeCase,
  'medvae.utils.loaders.load_ct_3d': runMedvaeCase,
  'medvae.utils.loaders.load_mri_3d': runMedvaeCase,
  'medvae AutoencoderKL_2D': runMedvaeCase,
  'medvae AutoencoderKL_3D': runMedvaeCase,
  torch_checkpoint: runCheckpointCase,
};
