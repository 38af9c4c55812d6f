/**
 * diffusers `AutoencoderKL` config (`vae/config.json`) with the library's defaults (diffusers 0.30), checked:
 * options this engine does not implement are rejected by name.
 */
import { ConfigError } from '../../runtime/errors.js';
import { type ConfigObject, ConfigReader } from '../config.js';

export interface AutoencoderKLConfig {
  source: string;
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  /** Image size the model was trained at: the tile size of tiled decoding. */
  sampleSize: number;
  scalingFactor: number;
  /** SD3-style latent shift (`latents / scaling_factor + shift_factor` before decoding); null for SD1/SD2. */
  shiftFactor: number | null;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  midBlockAddAttention: boolean;
}

function unsupported(source: string, key: string, value: unknown, what: string): ConfigError {
  return new ConfigError(
    'BAD_CONFIG',
    `${source}: "${key}" = ${JSON.stringify(value)} asks for ${what}, which this engine does not implement ` +
      '(it supports the Stable Diffusion AutoencoderKL).',
  );
}

export function parseAutoencoderKLConfig(raw: ConfigObject, source = 'vae/config.json'): AutoencoderKLConfig {
  const r = new ConfigReader(raw, source);
  if (r.has('_class_name') && r.string('_class_name') !== 'AutoencoderKL') {
    throw new ConfigError('BAD_CONFIG', `${source}: "_class_name" is ${JSON.stringify(raw._class_name)}, not AutoencoderKL`);
  }
  const act = r.string('act_fn', 'silu');
  if (act !== 'silu' && act !== 'swish') throw unsupported(source, 'act_fn', act, `the activation "${act}"`);
  const blockOutChannels = r.numbers('block_out_channels', [64]);
  const n = blockOutChannels.length;
  if (n < 1 || blockOutChannels.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new ConfigError('BAD_CONFIG', `${source}: "block_out_channels" must be a non-empty list of positive integers`);
  }
  const down = r.strings('down_block_types', ['DownEncoderBlock2D']);
  const up = r.strings('up_block_types', ['UpDecoderBlock2D']);
  if (down.length !== n || up.length !== n) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${source}: block_out_channels (${n}), down_block_types (${down.length}) and up_block_types (${up.length}) must have the same length`,
    );
  }
  for (const t of down) if (t !== 'DownEncoderBlock2D') throw unsupported(source, 'down_block_types', t, `the block type ${t}`);
  for (const t of up) if (t !== 'UpDecoderBlock2D') throw unsupported(source, 'up_block_types', t, `the block type ${t}`);
  const sample = raw.sample_size ?? 32;
  const sampleSize = Array.isArray(sample) ? sample[0] : sample;
  if (typeof sampleSize !== 'number' || !Number.isInteger(sampleSize) || sampleSize < 1) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${source}: "sample_size" must be a positive integer (or a list of them), got ${JSON.stringify(sample)}`,
    );
  }
  const cfg: AutoencoderKLConfig = {
    source,
    inChannels: r.count('in_channels', 3),
    outChannels: r.count('out_channels', 3),
    latentChannels: r.count('latent_channels', 4),
    blockOutChannels,
    layersPerBlock: r.count('layers_per_block', 1),
    normNumGroups: r.count('norm_num_groups', 32),
    sampleSize,
    scalingFactor: r.number('scaling_factor', 0.18215),
    shiftFactor: r.has('shift_factor') ? r.number('shift_factor') : null,
    useQuantConv: r.bool('use_quant_conv', true),
    usePostQuantConv: r.bool('use_post_quant_conv', true),
    midBlockAddAttention: r.bool('mid_block_add_attention', true),
  };
  for (const [i, c] of blockOutChannels.entries()) {
    if (c % cfg.normNumGroups !== 0) {
      throw new ConfigError(
        'BAD_CONFIG',
        `${source}: block_out_channels[${i}] = ${c} is not divisible by norm_num_groups ${cfg.normNumGroups}`,
      );
    }
  }
  return cfg;
}
