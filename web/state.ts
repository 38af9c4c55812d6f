/**
 * The page's latest results, also published as `window.medgpuDemo` so they can be inspected from the console
 * and read by the browser test (test/browser/page.test.ts) to compare with a Node run.
 */
import type { HostGrid } from '../src/browser.js';

export interface TextToImageResult {
  /** HWC RGB in [0, 1], as the pipeline returned it. */
  image: Float32Array;
  width: number;
  height: number;
  seed: string;
  scheduler: string;
  timesteps: number[];
  /** Steps reported to the progress bar, in order. */
  progress: number[];
  ms: number;
}

export interface MedVAEResult {
  model: string;
  /** The preprocessed input, the latent and the reconstruction, channels-first. */
  input: HostGrid;
  latent: HostGrid;
  recon: HostGrid;
  psnr: number;
  ssim: number;
  ms: number;
}

export interface DemoState {
  adapter: string | null;
  txt2img: TextToImageResult | null;
  medvae: MedVAEResult | null;
}

export const demo: DemoState = { adapter: null, txt2img: null, medvae: null };
(globalThis as { medgpuDemo?: DemoState }).medgpuDemo = demo;
