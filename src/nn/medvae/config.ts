/**
 * MedVAE model configs: the LDM `AutoencoderKL` yaml in either of the two layouts the MedVAE hub files use,
 * and the seven published model names with what each name implies (2D/3D, channel merging of the input,
 * downsampling factor and latent channels, which the config must agree with).
 *
 * - `medvae_4x1.yaml` / `medvae_8x1.yaml` (also used by the 3D models): top-level `embed_dim` + `ddconfig`.
 * - `medvae_4x3.yaml` / `medvae_8x4.yaml` (LDM style): `model.params.{embed_dim, ddconfig}`.
 * Both layouts are accepted for every model; the reference picks the layout by model name.
 */
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../runtime/errors.js';
import { type ConfigObject, ConfigReader } from '../config.js';

/** `ddconfig` of the LDM Encoder/Decoder, with its library defaults applied. */
export interface DdConfig {
  doubleZ: boolean;
  zChannels: number;
  /** Nominal training resolution: only used to decide where attention goes (`attn_resolutions`). */
  resolution: number;
  inChannels: number;
  outCh: number;
  ch: number;
  chMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
}

export interface MedVAEConfig {
  embedDim: number;
  ddconfig: DdConfig;
  /** Where the config came from, for messages. */
  source: string;
}

/** GroupNorm in the LDM blocks is hard-wired to 32 groups. */
export const GROUP_NORM_GROUPS = 32;
export const GROUP_NORM_EPS = 1e-6;

export type MedVAEModelName =
  | 'medvae_4_1_2d'
  | 'medvae_4_3_2d'
  | 'medvae_4_4_2d'
  | 'medvae_8_1_2d'
  | 'medvae_8_4_2d'
  | 'medvae_4_1_3d'
  | 'medvae_8_1_3d';

export interface MedVAEModelInfo {
  name: MedVAEModelName;
  dims: 2 | 3;
  /** Downsampling per spatial axis. */
  factor: number;
  latentChannels: number;
  /** `*_1_2d`: the preprocessed image is averaged over its channels (`merge_channels`). */
  mergeChannels: boolean;
  /** The reference injects LoRA (r = 4) into these before loading. */
  lora: boolean;
  /** The hub files the reference downloads for this name. */
  hubConfig: string;
  hubCheckpoint: string;
}

const info = (
  name: MedVAEModelName,
  factor: number,
  latentChannels: number,
  dims: 2 | 3,
  lora: boolean,
  hubConfig: string,
  hubCheckpoint: string,
): MedVAEModelInfo => ({
  name,
  dims,
  factor,
  latentChannels,
  mergeChannels: name.endsWith('_1_2d'),
  lora,
  hubConfig: `model_weights/${hubConfig}`,
  hubCheckpoint: `model_weights/${hubCheckpoint}`,
});

/** `medvae/utils/factory.py` FILE_DICT_ASSOCIATIONS and build_model. */
export const MEDVAE_MODELS: Readonly<Record<MedVAEModelName, MedVAEModelInfo>> = {
  medvae_4_1_2d: info('medvae_4_1_2d', 4, 1, 2, false, 'medvae_4x1.yaml', 'vae_4x_1c_2D.ckpt'),
  medvae_4_3_2d: info('medvae_4_3_2d', 4, 3, 2, true, 'medvae_4x3.yaml', 'vae_4x_3c_2D.ckpt'),
  medvae_4_4_2d: info('medvae_4_4_2d', 4, 4, 2, false, 'medvae_4x4.yaml', 'vae_4x_4c_2D.ckpt'),
  medvae_8_1_2d: info('medvae_8_1_2d', 8, 1, 2, false, 'medvae_8x1.yaml', 'vae_8x_1c_2D.ckpt'),
  medvae_8_4_2d: info('medvae_8_4_2d', 8, 4, 2, true, 'medvae_8x4.yaml', 'vae_8x_4c_2D.ckpt'),
  medvae_4_1_3d: info('medvae_4_1_3d', 4, 1, 3, false, 'medvae_4x1.yaml', 'vae_4x_1c_3D.ckpt'),
  medvae_8_1_3d: info('medvae_8_1_3d', 8, 1, 3, false, 'medvae_8x1.yaml', 'vae_8x_1c_3D.ckpt'),
};

export function medvaeModelInfo(name: string): MedVAEModelInfo {
  const m = (MEDVAE_MODELS as Record<string, MedVAEModelInfo>)[name];
  if (!m) {
    throw new ConfigError('BAD_CONFIG', `unknown MedVAE model "${name}"; the models are ${Object.keys(MEDVAE_MODELS).join(', ')}`);
  }
  return m;
}

/** Parses MedVAE yaml text (either layout). */
export function parseMedVAEConfigText(text: string, source: string): MedVAEConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError('BAD_CONFIG', `${source}: not valid YAML (${(e as Error).message})`, { cause: e });
  }
  return medvaeConfigFrom(raw, source);
}

/** A MedVAE config from an already parsed object (either layout). */
export function medvaeConfigFrom(raw: unknown, source: string): MedVAEConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('BAD_CONFIG', `${source}: a MedVAE config must be a mapping with "embed_dim" and "ddconfig" (or "model.params")`);
  }
  let top = new ConfigReader(raw as ConfigObject, source);
  if (!top.has('ddconfig') && top.has('model')) top = top.object('model').object('params');
  if (!top.has('ddconfig')) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${source}: no "ddconfig" at the top level or under "model.params"; this is not an LDM AutoencoderKL config`,
    );
  }
  const dd = top.object('ddconfig');
  const ddconfig: DdConfig = {
    doubleZ: dd.bool('double_z', true),
    zChannels: dd.count('z_channels'),
    resolution: dd.count('resolution'),
    inChannels: dd.count('in_channels'),
    outCh: dd.count('out_ch'),
    ch: dd.count('ch'),
    chMult: dd.numbers('ch_mult', [1, 2, 4, 8]),
    numResBlocks: dd.count('num_res_blocks'),
    attnResolutions: dd.numbers('attn_resolutions'),
  };
  // Options the LDM blocks have that MedVAE never sets: reject rather than silently compute something else.
  dd.require('resamp_with_conv', [true], true);
  dd.require('use_linear_attn', [false], false);
  dd.require('attn_type', ['vanilla'], 'vanilla');
  dd.require('give_pre_end', [false], false);
  dd.require('tanh_out', [false], false);
  if (!ddconfig.doubleZ) {
    throw new ConfigError('BAD_CONFIG', `${source}:ddconfig: "double_z" must be true (MedVAE's AutoencoderKL asserts it)`);
  }
  if (ddconfig.chMult.length < 1 || ddconfig.chMult.some((m) => !Number.isInteger(m) || m < 1)) {
    throw new ConfigError('BAD_CONFIG', `${source}:ddconfig: "ch_mult" must be a non-empty list of positive integers`);
  }
  for (const m of ddconfig.chMult) {
    if ((ddconfig.ch * m) % GROUP_NORM_GROUPS !== 0) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${source}:ddconfig: ch ${ddconfig.ch} × ch_mult ${m} = ${ddconfig.ch * m} channels is not a multiple of ${GROUP_NORM_GROUPS}; GroupNorm(32) cannot split it`,
      );
    }
  }
  return { embedDim: top.count('embed_dim'), ddconfig, source };
}

/** Downsampling per axis: one stride-2 conv per level but the last. */
export function downsamplingFactor(c: MedVAEConfig): number {
  return 2 ** (c.ddconfig.chMult.length - 1);
}

/** Checks that a config fits what a model name promises (factor, latent channels). */
export function checkConfigForModel(c: MedVAEConfig, model: MedVAEModelInfo): void {
  const f = downsamplingFactor(c);
  if (f !== model.factor || c.embedDim !== model.latentChannels) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${c.source}: this config gives ${f}x downsampling and ${c.embedDim} latent channels, but ${model.name} has ${model.factor}x and ${model.latentChannels}; use the config that belongs to ${model.name} (${model.hubConfig})`,
    );
  }
}
