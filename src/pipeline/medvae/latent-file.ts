/**
 * The files a MedVAE encode writes and a decode reads back.
 *
 * `<name>.safetensors` holds `latent` (what the reference returns: the 2D stage-2 latent, the 3D blended z),
 * for 2D also `z` (the stage-1 sample: the only thing the decoder can take), both channels-first F32
 * ([E, h, w] / [E, d, h, w], the reference's layout with the batch axis dropped but the channel axis kept),
 * and string metadata: model, modality, input shape, factor, sampling, and for volumes the affine of the
 * preprocessed (RAS, cropped) input, the latent's affine and the intensity mapping.
 *
 * The latent affine scales the input affine by the downsampling factor f and moves the origin to the centre
 * of the first f-wide block, `A · [[f,0,0,(f-1)/2], [0,f,0,(f-1)/2], [0,0,f,(f-1)/2], [0,0,0,1]]`, so a viewer
 * overlays the latent on the input.
 */
import { type Affine, matmul4 } from '../../io/orientation.js';
import type { TensorToWrite } from '../../io/safetensors.js';
import { FileFormatError } from '../../runtime/errors.js';
import type { Modality3D } from './preprocess-3d.js';
import type { HostGrid } from './sliding-window.js';

export const LATENT_FORMAT = 'medgpu-medvae-latent';
export const LATENT_FORMAT_VERSION = '1';

export type Modality = 'xray' | 'mammo' | 'ct' | 'mri';

export interface LatentMeta {
  model: string;
  modality: Modality;
  /** The input file's name (no folders). */
  source: string;
  /** Preprocessed model input [C, ...spatial]. */
  inputShape: number[];
  factor: number;
  /** 'stage2' (2D, `channel_proj(channel_ds(z) + z)`) or 'z' (3D). */
  latentKind: 'stage2' | 'z';
  sampling: { deterministic: boolean; seed: string | null };
  /** 2D: how the image was stored (for writing reconstructions like it). */
  image?: { bitDepth: 8 | 16; channels: number };
  /** 3D: voxel-to-world of the preprocessed input, of the latent, and the intensity mapping. */
  volume?: {
    affine: Affine;
    latentAffine: Affine;
    sourceAxcodes: string;
    intensity: { modality: Modality3D; min: number; max: number };
  };
}

/** The latent's affine for an input `affine` and downsampling `factor` (see the module comment). */
export function latentAffine(affine: Affine, factor: number): Affine {
  const o = (factor - 1) / 2;
  return matmul4(affine, [
    [factor, 0, 0, o],
    [0, factor, 0, o],
    [0, 0, factor, o],
    [0, 0, 0, 1],
  ]);
}

export function latentTensors(latent: HostGrid, z: HostGrid | null): Record<string, TensorToWrite> {
  const t = (g: HostGrid): TensorToWrite => ({ dtype: 'F32', shape: [g.channels, ...g.spatial], data: g.data });
  return z ? { latent: t(latent), z: t(z) } : { latent: t(latent) };
}

export function encodeLatentMeta(m: LatentMeta): Record<string, string> {
  const out: Record<string, string> = {
    format: LATENT_FORMAT,
    format_version: LATENT_FORMAT_VERSION,
    model: m.model,
    modality: m.modality,
    source: m.source,
    input_shape: JSON.stringify(m.inputShape),
    factor: String(m.factor),
    latent_kind: m.latentKind,
    deterministic: String(m.sampling.deterministic),
  };
  if (m.sampling.seed !== null) out.seed = m.sampling.seed;
  if (m.image) out.image = JSON.stringify(m.image);
  if (m.volume) {
    out.affine = JSON.stringify(m.volume.affine);
    out.latent_affine = JSON.stringify(m.volume.latentAffine);
    out.source_axcodes = m.volume.sourceAxcodes;
    out.intensity = JSON.stringify(m.volume.intensity);
  }
  return out;
}

export function decodeLatentMeta(meta: Readonly<Record<string, string>>, file: string): LatentMeta {
  const need = (k: string): string => {
    const v = meta[k];
    if (v === undefined) throw new FileFormatError('BAD_FILE', `${file}: not a medgpu MedVAE latent file (metadata "${k}" missing)`);
    return v;
  };
  if (need('format') !== LATENT_FORMAT)
    throw new FileFormatError('BAD_FILE', `${file}: metadata format is "${meta.format}", not ${LATENT_FORMAT}`);
  const json = <T>(k: string): T => {
    try {
      return JSON.parse(need(k)) as T;
    } catch (e) {
      throw new FileFormatError('BAD_FILE', `${file}: metadata "${k}" is not valid JSON`, { cause: e });
    }
  };
  return {
    model: need('model'),
    modality: need('modality') as Modality,
    source: need('source'),
    inputShape: json<number[]>('input_shape'),
    factor: Number(need('factor')),
    latentKind: need('latent_kind') as 'stage2' | 'z',
    sampling: { deterministic: need('deterministic') === 'true', seed: meta.seed ?? null },
    image: meta.image ? json('image') : undefined,
    volume: meta.affine
      ? { affine: json('affine'), latentAffine: json('latent_affine'), sourceAxcodes: need('source_axcodes'), intensity: json('intensity') }
      : undefined,
  };
}
