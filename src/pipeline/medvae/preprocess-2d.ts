/**
 * MedVAE's 2D preprocessing (`medvae.utils.loaders.load_2d`, no resizing at inference), reproduced in
 * float32 step by step so the result matches PyTorch to the bit:
 *
 * 1. `PIL.Image.open` + torchvision `ToTensor`: 8-bit samples become `u8 / 255`; a 16-bit grayscale PNG is
 *    PIL mode "I", which ToTensor leaves as integers (no division); PIL reads 16-bit gray+alpha / RGB / RGBA
 *    PNGs as 8-bit modes from the high byte of each sample. HWC → CHW.
 * 2. MONAI `ScaleIntensity(minv=0, maxv=1, channel_wise=True)`: per channel `(x - min) / (max - min)`, or
 *    `x · 0` for a constant channel.
 * 3. `Normalize(0.5, 0.5)`: `(x - 0.5) / 0.5`.
 * 4. `*_1_2d` models (`merge_channels`): mean over channels (`sum / C`, summed in channel order).
 *
 * Math.fround after every operation makes each step the correctly rounded float32 operation PyTorch does
 * (a double result of one +, -, ×, ÷ of floats rounds to the same float as the float operation would).
 */
import type { Image } from '../../io/image.js';
import { ShapeError } from '../../runtime/errors.js';

const f = Math.fround;

/** A channels-first host image [C, H, W] (what the reference holds before `unsqueeze(0)`). */
export interface ImageCHW {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

/** Step 1: torchvision `ToTensor` of what PIL decodes (see the module comment for 16-bit files). */
export function toTensorCHW(img: Image): ImageCHW {
  const { width, height, channels, bitDepth, data } = img;
  const n = width * height;
  const out = new Float32Array(n * channels);
  // PIL keeps full 16-bit precision only for grayscale (mode "I", integers); other 16-bit PNGs become 8-bit.
  const integer16 = bitDepth === 16 && channels === 1;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < channels; c++) {
      const v = data[p * channels + c] as number;
      let x: number;
      if (integer16) x = v;
      else if (bitDepth === 16) x = f((v >>> 8) / 255);
      else x = f(v / 255);
      out[c * n + p] = x;
    }
  }
  return { channels, height, width, data: out };
}

/** Step 2: MONAI `rescale_array` per channel to [0, 1], in float32. */
export function scaleIntensityChannelwise(img: ImageCHW): ImageCHW {
  const n = img.width * img.height;
  const out = new Float32Array(img.data.length);
  for (let c = 0; c < img.channels; c++) {
    const ch = img.data.subarray(c * n, (c + 1) * n);
    let mn = Number.POSITIVE_INFINITY;
    let mx = Number.NEGATIVE_INFINITY;
    for (const v of ch) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const range = f(mx - mn);
    for (let i = 0; i < n; i++) out[c * n + i] = mn === mx ? f((ch[i] as number) * 0) : f(f((ch[i] as number) - mn) / range);
  }
  return { ...img, data: out };
}

/** Step 3: `(x - 0.5) / 0.5`. */
export function normalizeHalf(data: Float32Array): Float32Array {
  return data.map((x) => f(f(x - 0.5) / 0.5));
}

/** Step 4: mean over channels, keepdim. */
export function mergeChannels(img: ImageCHW): ImageCHW {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < img.channels; c++) s = f(s + (img.data[c * n + i] as number));
    out[i] = f(s / img.channels);
  }
  return { ...img, channels: 1, data: out };
}

export interface Preprocess2DOptions {
  /** `*_1_2d` models average the channels. */
  mergeChannels: boolean;
  /** Channels the model takes: the result must have them (a 3-channel model needs an RGB file). */
  modelChannels: number;
  /** For messages. */
  name?: string;
}

/** The whole of `load_2d(path, merge_channels)`: a decoded image → [C, H, W] in [-1, 1]. */
export function preprocess2D(img: Image, opts: Preprocess2DOptions): ImageCHW {
  const t = scaleIntensityChannelwise(toTensorCHW(img));
  let out: ImageCHW = { ...t, data: normalizeHalf(t.data) };
  if (opts.mergeChannels) out = mergeChannels(out);
  if (out.channels !== opts.modelChannels) {
    throw new ShapeError(
      `${opts.name ?? 'image'}: ${img.channels}-channel image${opts.mergeChannels ? '' : ' (channels are not merged for this model)'} but the model takes ${opts.modelChannels} channels; ` +
        (opts.modelChannels === 3 ? 'use an RGB file (convert grayscale to RGB first)' : 'use an image with that many channels'),
    );
  }
  return out;
}
