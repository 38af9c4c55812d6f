import { describe, expect, test } from 'vitest';
import { ConfigReader } from '../../src/nn/config.js';
import { ConfigError } from '../../src/runtime/errors.js';

describe('ConfigReader', () => {
  const cfg = new ConfigReader(
    {
      in_channels: 4,
      block_out_channels: [32, 64],
      attention_head_dim: 8,
      per_block: [2, 4],
      act_fn: 'silu',
      use_linear_projection: true,
      norm_eps: 1e-5,
      nested: { embed_dim: 3 },
      nothing: null,
    },
    'unet/config.json',
  );

  test('typed getters return values and apply defaults for missing or null keys', () => {
    expect(cfg.count('in_channels')).toBe(4);
    expect(cfg.numbers('block_out_channels')).toEqual([32, 64]);
    expect(cfg.intOrList('attention_head_dim', 2)).toEqual([8, 8]);
    expect(cfg.intOrList('per_block', 2)).toEqual([2, 4]);
    expect(cfg.oneOf('act_fn', ['silu', 'gelu'])).toBe('silu');
    expect(cfg.bool('use_linear_projection')).toBe(true);
    expect(cfg.number('norm_eps')).toBe(1e-5);
    expect(cfg.bool('upcast_attention', false)).toBe(false);
    expect(cfg.int('nothing', 7)).toBe(7);
    expect(cfg.object('nested').count('embed_dim')).toBe(3);
  });

  test('missing, mistyped and unsupported values name the file and key', () => {
    expect(() => cfg.count('out_channels')).toThrow(ConfigError);
    expect(() => cfg.count('out_channels')).toThrow(/unet\/config.json: required key "out_channels" is missing/);
    expect(() => cfg.string('in_channels')).toThrow(/"in_channels" must be a string, got 4/);
    expect(() => cfg.intOrList('per_block', 3)).toThrow(/a list of 3 integers/);
    expect(() => cfg.oneOf('act_fn', ['gelu'])).toThrow(/one of "gelu"/);
    expect(() => cfg.require('act_fn', ['gelu'], 'gelu')).toThrow(/"act_fn" = "silu" is not supported/);
    expect(() => cfg.object('nested').count('missing')).toThrow(/unet\/config.json:nested: required key "missing"/);
    expect(() => new ConfigReader([] as unknown as Record<string, unknown>, 'x.json')).toThrow(/must be a JSON object/);
  });
});
