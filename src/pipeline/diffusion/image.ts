/**
 * Images at the pipeline's edges: decoded files → the [0, 1] NCHW input of img2img, and generated [0, 1] HWC
 * floats → 8-bit RGB images with their generation parameters as PNG text, as diffusers' `numpy_to_pil` makes
 * them (`(x * 255).round()`, NumPy's round-half-to-even).
 */
import type { Image } from '../../io/image.js';
import { MedgpuError } from '../../runtime/errors.js';
import type { ImageInput } from './options.js';

/** NumPy `round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One generated image (HWC, RGB, [0, 1]) as an 8-bit RGB `Image`. */
export function toRgb8(hwc: Float32Array, width: number, height: number, text?: Record<string, string>): Image {
  if (hwc.length !== width * height * 3) {
    throw new MedgpuError('SHAPE_MISMATCH', `toRgb8: ${hwc.length} values for a ${width}x${height} RGB image (${width * height * 3})`);
  }
  const data = new Uint8Array(hwc.length);
  for (let i = 0; i < hwc.length; i++) data[i] = Math.min(255, Math.max(0, roundHalfEven((hwc[i] as number) * 255)));
  return { width, height, channels: 3, bitDepth: 8, data, ...(text ? { text } : {}) };
}

/**
 * A decoded image as img2img input: RGB in [0, 1], NCHW [1, 3, H, W]. Gray is replicated to RGB and alpha is
 * dropped (PIL's `convert("RGB")`); 16-bit samples are scaled by 1/65535.
 */
export function imageInput(img: Image): ImageInput {
  const { width, height, channels } = img;
  const max = img.bitDepth === 16 ? 65535 : 255;
  const color = channels >= 3;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = img.data[i * channels + (color ? c : 0)] as number;
      data[c * plane + i] = v / max;
    }
  }
  return { data, batch: 1, channels: 3, height, width };
}

/**
 * PNG tEXt holds Latin-1 only: characters outside it (e.g. "≥" in a prompt) are written as `\u{…}` escapes so
 * the text survives and stays readable.
 */
export function latin1Text(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    out += cp <= 0xff && cp !== 0 ? ch : `\\u{${cp.toString(16)}}`;
  }
  return out;
}

export interface GenerationMetadata {
  prompt: string;
  negativePrompt: string;
  seed: bigint | null;
  steps: number;
  guidance: number;
  scheduler: string;
  model: string;
  width: number;
  height: number;
  strength?: number;
  /** Index of the image among those made for the prompt. */
  index?: number;
}

/** The tEXt entries a generated PNG carries. */
export function metadataText(m: GenerationMetadata): Record<string, string> {
  const t: Record<string, string> = {
    prompt: latin1Text(m.prompt),
    negative_prompt: latin1Text(m.negativePrompt),
    seed: m.seed === null ? 'none' : String(m.seed),
    steps: String(m.steps),
    guidance_scale: String(m.guidance),
    scheduler: m.scheduler,
    model: latin1Text(m.model),
    size: `${m.width}x${m.height}`,
    Software: 'medgpu',
  };
  if (m.strength !== undefined) t.strength = String(m.strength);
  if (m.index !== undefined) t.image_index = String(m.index);
  return t;
}
