/**
 * diffusers `UNet2DConditionModel` config (`unet/config.json`), read with the library's defaults (diffusers
 * 0.30) and checked: every option this engine does not implement is rejected by name instead of silently
 * computing something else. What SD1.x and SD2.x checkpoints use is supported.
 */
import { ConfigError } from '../../runtime/errors.js';
import { type ConfigObject, ConfigReader } from '../config.js';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';
export type MidBlockType = 'UNetMidBlock2DCrossAttn';

export interface UNetConfig {
  /** Where the config came from, for messages. */
  source: string;
  inChannels: number;
  outChannels: number;
  /** `sample = 2·sample − 1` first. */
  centerInputSample: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  /** Width of the time embedding MLP (`time_embedding_dim`, default 4·block_out_channels[0]). */
  timeEmbedDim: number;
  blockOutChannels: number[];
  /** Resnets per down block (up blocks have one more). */
  layersPerBlock: number[];
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  /** null: no mid block. */
  midBlockType: MidBlockType | null;
  downsamplePadding: number;
  midBlockScaleFactor: number;
  resnetOutScaleFactor: number;
  normNumGroups: number;
  normEps: number;
  /** Per down block (the up blocks use it reversed). */
  crossAttentionDim: number[];
  /** Per down block. */
  transformerLayersPerBlock: number[];
  /**
   * Attention heads per down block: `num_attention_heads`, or else `attention_head_dim`, which in diffusers
   * is (despite its name) the number of heads; head_dim = channels / heads.
   */
  heads: number[];
  useLinearProjection: boolean;
  upcastAttention: boolean;
  convInKernel: number;
  convOutKernel: number;
}

const DOWN_TYPES: readonly DownBlockType[] = ['CrossAttnDownBlock2D', 'DownBlock2D'];
const UP_TYPES: readonly UpBlockType[] = ['CrossAttnUpBlock2D', 'UpBlock2D'];

/** Options that change the computation; each must keep its default (the value that disables it). */
const MUST_BE_DEFAULT: ReadonlyArray<readonly [string, unknown, string]> = [
  ['class_embed_type', null, 'class embeddings'],
  ['num_class_embeds', null, 'class embeddings'],
  ['class_embeddings_concat', false, 'class embeddings'],
  ['projection_class_embeddings_input_dim', null, 'class/addition embeddings'],
  ['addition_embed_type', null, 'addition embeddings (SDXL-style text_time conditioning)'],
  ['addition_time_embed_dim', null, 'addition embeddings'],
  ['encoder_hid_dim', null, 'an encoder_hid_proj on the text embeddings'],
  ['encoder_hid_dim_type', null, 'an encoder_hid_proj on the text embeddings'],
  ['time_cond_proj_dim', null, 'timestep conditioning (LCM)'],
  ['time_embedding_type', 'positional', 'Fourier time embeddings'],
  ['time_embedding_act_fn', null, 'an activation after the time embedding'],
  ['timestep_post_act', null, 'a post-activation in the time embedding'],
  ['dual_cross_attention', false, 'dual cross-attention'],
  ['mid_block_only_cross_attention', null, 'cross-attention-only transformer blocks'],
  ['attention_type', 'default', 'gated (GLIGEN) attention'],
  ['resnet_time_scale_shift', 'default', 'scale-shift time conditioning in the resnets'],
  ['resnet_skip_time_act', false, 'resnets without the time activation'],
  ['cross_attention_norm', null, 'a norm on the cross-attention context'],
  ['reverse_transformer_layers_per_block', null, 'asymmetric transformer depths'],
];

function unsupported(source: string, key: string, value: unknown, what: string): ConfigError {
  return new ConfigError(
    'BAD_CONFIG',
    `${source}: "${key}" = ${JSON.stringify(value)} asks for ${what}, which this engine does not implement ` +
      '(it supports the Stable Diffusion 1.x/2.x UNet). Use a model with an SD1/SD2 UNet config.',
  );
}

/** A per-block option: one value for every block or a list with one per block. */
function perBlock(r: ConfigReader, key: string, blocks: number, fallback: number | readonly number[]): number[] {
  const v = r.intOrList(key, blocks, fallback);
  if (v.some((x) => x < 1))
    throw new ConfigError('BAD_CONFIG', `${r.source}: "${key}" must hold positive integers, got ${JSON.stringify(v)}`);
  return v;
}

export function parseUNetConfig(raw: ConfigObject, source = 'unet/config.json'): UNetConfig {
  const r = new ConfigReader(raw, source);
  if (r.has('_class_name') && r.string('_class_name') !== 'UNet2DConditionModel') {
    throw new ConfigError('BAD_CONFIG', `${source}: "_class_name" is ${JSON.stringify(raw._class_name)}, not UNet2DConditionModel`);
  }
  for (const [key, def, what] of MUST_BE_DEFAULT) {
    // A missing key takes the default; null and false both mean "off".
    const v = raw[key] ?? (typeof def === 'string' ? def : null);
    const off = (x: unknown) => x === null || x === false;
    if (v !== def && !(off(v) && off(def))) throw unsupported(source, key, v, what);
  }
  const onlyCross = raw.only_cross_attention ?? false;
  if (onlyCross !== false && !(Array.isArray(onlyCross) && onlyCross.every((x) => x === false))) {
    throw unsupported(source, 'only_cross_attention', onlyCross, 'cross-attention-only transformer blocks');
  }
  const act = r.string('act_fn', 'silu');
  if (act !== 'silu' && act !== 'swish') throw unsupported(source, 'act_fn', act, `the activation "${act}" (SD uses silu)`);

  const blockOutChannels = r.numbers('block_out_channels', [320, 640, 1280, 1280]);
  const downBlockTypes = r.strings('down_block_types', [
    'CrossAttnDownBlock2D',
    'CrossAttnDownBlock2D',
    'CrossAttnDownBlock2D',
    'DownBlock2D',
  ]);
  const upBlockTypes = r.strings('up_block_types', ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']);
  const n = blockOutChannels.length;
  if (n < 1 || blockOutChannels.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new ConfigError('BAD_CONFIG', `${source}: "block_out_channels" must be a non-empty list of positive integers`);
  }
  if (downBlockTypes.length !== n || upBlockTypes.length !== n) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${source}: block_out_channels (${n}), down_block_types (${downBlockTypes.length}) and up_block_types (${upBlockTypes.length}) must have the same length`,
    );
  }
  for (const t of downBlockTypes) {
    if (!DOWN_TYPES.includes(t as DownBlockType)) throw unsupported(source, 'down_block_types', t, `the block type ${t}`);
  }
  for (const t of upBlockTypes) {
    if (!UP_TYPES.includes(t as UpBlockType)) throw unsupported(source, 'up_block_types', t, `the block type ${t}`);
  }
  const mid = raw.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : raw.mid_block_type;
  if (mid !== null && mid !== 'UNetMidBlock2DCrossAttn') throw unsupported(source, 'mid_block_type', mid, `the mid block ${String(mid)}`);

  const headsKey = r.has('num_attention_heads') ? 'num_attention_heads' : 'attention_head_dim';
  const cfg: UNetConfig = {
    source,
    inChannels: r.count('in_channels', 4),
    outChannels: r.count('out_channels', 4),
    centerInputSample: r.bool('center_input_sample', false),
    flipSinToCos: r.bool('flip_sin_to_cos', true),
    freqShift: r.number('freq_shift', 0),
    timeEmbedDim: r.has('time_embedding_dim') ? r.count('time_embedding_dim') : 4 * (blockOutChannels[0] as number),
    blockOutChannels,
    layersPerBlock: perBlock(r, 'layers_per_block', n, 2),
    downBlockTypes: downBlockTypes as DownBlockType[],
    upBlockTypes: upBlockTypes as UpBlockType[],
    midBlockType: mid,
    downsamplePadding: r.int('downsample_padding', 1),
    midBlockScaleFactor: r.number('mid_block_scale_factor', 1),
    resnetOutScaleFactor: r.number('resnet_out_scale_factor', 1),
    normNumGroups: r.count('norm_num_groups', 32),
    normEps: r.number('norm_eps', 1e-5),
    crossAttentionDim: perBlock(r, 'cross_attention_dim', n, 1280),
    transformerLayersPerBlock: perBlock(r, 'transformer_layers_per_block', n, 1),
    heads: perBlock(r, headsKey, n, 8),
    useLinearProjection: r.bool('use_linear_projection', false),
    upcastAttention: r.bool('upcast_attention', false),
    convInKernel: r.count('conv_in_kernel', 3),
    convOutKernel: r.count('conv_out_kernel', 3),
  };
  if (cfg.downsamplePadding < 0) throw new ConfigError('BAD_CONFIG', `${source}: "downsample_padding" must be >= 0`);
  for (const [key, k] of [
    ['conv_in_kernel', cfg.convInKernel],
    ['conv_out_kernel', cfg.convOutKernel],
  ] as const) {
    if (k % 2 !== 1) throw new ConfigError('BAD_CONFIG', `${source}: "${key}" must be odd (same padding), got ${k}`);
  }
  for (const [i, c] of blockOutChannels.entries()) {
    if (c % cfg.normNumGroups !== 0) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${source}: block_out_channels[${i}] = ${c} is not divisible by norm_num_groups ${cfg.normNumGroups}`,
      );
    }
    if (c % (cfg.heads[i] as number) !== 0) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${source}: block_out_channels[${i}] = ${c} is not divisible by ${cfg.heads[i]} heads (${headsKey})`,
      );
    }
  }
  return cfg;
}
