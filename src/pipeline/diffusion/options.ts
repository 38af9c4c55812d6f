/**
 * The arguments of text-to-image and image-to-image, named after diffusers' `__call__` arguments, and their
 * checks (diffusers `check_inputs`): every bad value is a `MedgpuError` that names it and says what is allowed.
 */
import { MedgpuError } from '../../runtime/errors.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { NoiseSource } from './noise.js';

export interface StepProgress {
  /** Steps done so far (1 after the first step). */
  step: number;
  /** Steps this run takes (after img2img's strength cut). */
  numSteps: number;
  /** The timestep just computed. */
  timestep: number;
  /** Milliseconds since the denoising loop started. */
  elapsedMs: number;
}

/** Intermediate tensors, offered while they exist (for verification against a reference and debugging). */
export type TraceEvent =
  | { kind: 'prompt_embeds' | 'negative_prompt_embeds'; tensor: Tensor }
  | { kind: 'timesteps'; timesteps: readonly number[] }
  | { kind: 'unet_output' | 'step_latents'; step: number; tensor: Tensor }
  | { kind: 'init_latents'; tensor: Tensor };

export interface CommonOptions {
  prompt: string | readonly string[];
  /** Ignored when guidance is off (guidanceScale ≤ 1). Empty / absent: the empty prompt "" is encoded. */
  negativePrompt?: string | readonly string[];
  /** Default 50. */
  numInferenceSteps?: number;
  /** Classifier-free guidance weight; ≤ 1 turns guidance off (one UNet batch, no negative prompt). Default 7.5. */
  guidanceScale?: number;
  numImagesPerPrompt?: number;
  /** Seed of the torch CPU generator every random tensor is drawn from (default: a random one, reported back). */
  seed?: number | bigint;
  /** A custom random stream instead of `seed` (e.g. recorded noise). */
  noise?: NoiseSource;
  /** DDIM η (0 by default, deterministic); other schedulers ignore it. */
  eta?: number;
  /** diffusers `clip_skip`: use the output of the (k+1)-th last text encoder layer for the prompt. */
  clipSkip?: number;
  /** A scheduler by diffusers class name or short name ("ddim", "euler", "dpm++2m"...); its config is inherited. */
  scheduler?: string;
  /**
   * Decode the latents tile by tile with blended overlaps (diffusers `enable_vae_tiling`), for images too
   * large to decode at once; a no-op when the latents fit one tile.
   */
  vaeTiling?: boolean;
  /** Called after every denoising step; may be async (awaited). */
  callback?: (progress: StepProgress) => void | Promise<void>;
  /** Aborting stops the run before the next step and frees its GPU memory; the call rejects with code CANCELLED. */
  signal?: AbortSignal;
  /** Receives intermediate tensors while they are alive (read them inside the call). */
  trace?: (event: TraceEvent) => void | Promise<void>;
}

export interface TextToImageOptions extends CommonOptions {
  /** Default: the UNet's `sample_size` × the VAE scale factor. Must be a multiple of 8. */
  width?: number;
  height?: number;
  /** Initial latents, NCHW [batch·numImagesPerPrompt, C, height/8, width/8] (unscaled: multiplied by init_noise_sigma). */
  latents?: Float32Array;
}

export interface ImageInput {
  /** Pixels in [0, 1], NCHW [1 or batch, 3, H, W] (diffusers' tensor input), H and W multiples of 8. */
  data: Float32Array;
  batch: number;
  channels: number;
  height: number;
  width: number;
}

export interface ImageToImageOptions extends CommonOptions {
  image: ImageInput;
  /** How much of the schedule runs, in [0, 1]: only the last int(steps·strength) timesteps. Default 0.8. */
  strength?: number;
}

export interface GeneratedImages {
  /** One HWC Float32Array in [0, 1] per image (RGB), in prompt order, numImagesPerPrompt each. */
  images: Float32Array[];
  width: number;
  height: number;
  /** The seed used (null when a custom noise source was given). */
  seed: bigint | null;
  /** The scheduler's class name and the timesteps that ran. */
  scheduler: string;
  timesteps: number[];
  /** The final latents (NCHW, before the VAE), for reuse. */
  latents: Float32Array;
}

export function bad(message: string): MedgpuError {
  return new MedgpuError('BAD_ARGUMENT', message);
}

export function asList(p: string | readonly string[], what: string): string[] {
  const list = typeof p === 'string' ? [p] : [...p];
  if (list.length === 0) throw bad(`${what}: give at least one prompt`);
  if (list.some((s) => typeof s !== 'string')) throw bad(`${what} must be a string or a list of strings`);
  return list;
}

/** The negative prompts, one per prompt (diffusers: none → "" each; a list must match the prompts). */
export function negativeList(neg: string | readonly string[] | undefined, batch: number): string[] {
  if (neg === undefined || neg === null) return Array<string>(batch).fill('');
  if (typeof neg === 'string') return Array<string>(batch).fill(neg);
  if (neg.length !== batch) {
    throw bad(`negativePrompt has ${neg.length} entries but there are ${batch} prompts; give one per prompt or a single string`);
  }
  return [...neg];
}

export function checkInt(v: number, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

export function checkNumber(v: number, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw bad(`${what} must be a number in [${min}, ${max}], got ${v}`);
  return v;
}

/** diffusers `check_inputs`: both sides divisible by 8. */
export function checkSize(width: number, height: number): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 8 || v % 8 !== 0) {
      throw bad(`${name} must be a positive multiple of 8 (the VAE downsamples by 8), got ${v}; try ${Math.max(8, Math.round(v / 8) * 8)}`);
    }
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new MedgpuError('CANCELLED', `generation was cancelled ${where}`);
}
