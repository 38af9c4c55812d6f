/**
 * UNet2DConditionModel against diffusers 0.30.3 on the fixture UNets (sd1: conv proj_in/out, 8 heads; sd2:
 * linear projections, per-block heads [2, 4], upcast_attention; unet_3lvl: 3 levels, odd bottleneck, and
 * its hub fp16 variant file), batch 2 as with classifier-free guidance: every case within the manifest's
 * tolerance (10× the reference's own f32-vs-f64 error). Plus what the fixtures do not cover, checked
 * against the float64 re-implementation in sd-reference.ts: latents that are not a multiple of the UNet's
 * total downsampling (diffusers' upsample_size path), and f16 storage against the f32 reference.
 */
import { describe, expect, it, vi } from 'vitest';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { permute } from '../../src/kernels/layout.js';
import { parseUNetConfig } from '../../src/nn/unet/config.js';
import { UNet2DConditionModel } from '../../src/nn/unet/unet-2d-condition.js';
import { CheckpointError, ConfigError, ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { readManifest, readCaseTensors, valuesOf } from '../../src/verify/manifest.js';
import { runUNetCase } from '../../src/verify/runners/unet.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import * as ref from './sd-reference.js';

// The first test that meets a kernel compiles it: with a cold shader cache on a busy 2-core lavapipe that
// alone took 70 s (f32) and 68 s (f16) at load 12, so tests get more than the default 120 s.
vi.setConfig({ testTimeout: 300_000 });

const manifest = await readManifest('test/fixtures/unet/manifest.json');
const SD1 = 'test/fixtures/pipelines/sd1/unet';
const SD2 = 'test/fixtures/pipelines/sd2/unet';
const LVL3 = 'test/fixtures/unet/unet_3lvl';

const readJson = async (path: string) => JSON.parse(await (await import('node:fs/promises')).readFile(path, 'utf8'));

async function weights64(path: string): Promise<ref.Weights> {
  const m = await loadSafetensors(path);
  return (name) => {
    const t = m.get(name);
    if (!t) throw new Error(`reference: no weight ${name}`);
    return Float64Array.from(t.data as Float32Array);
  };
}

/** Runs the model on channels-last host data and reads the prediction back. */
async function predict(
  gpu: Gpu,
  model: UNet2DConditionModel,
  sample: Float32Array,
  shape: number[],
  t: number | number[],
  ctx: Float32Array,
  ctxShape: number[],
) {
  return gpu.scopeAsync(async () => {
    const out = model.forward(gpu, gpu.upload(sample, shape), t, gpu.upload(ctx, ctxShape));
    return gpu.read(out);
  });
}

describe('UNet2DConditionModel vs diffusers fixtures', () => {
  for (const c of manifest.cases) {
    it(`${c.name}: within the manifest tolerance`, async () => {
      const gpu = await getGpu();
      const [check] = await runUNetCase({ gpu }, manifest, c);
      expect(check?.pass, `max abs ${check?.maxAbs.toExponential(3)} vs tolerance ${check?.tolAbs.toExponential(3)}`).toBe(true);
    });
  }
});

describe('UNet2DConditionModel beyond the fixtures', () => {
  it('a latent that is not a multiple of the total downsampling (upsample to the skip size) matches the float64 reference', async () => {
    // unet_3lvl downsamples twice: 10×6 → 5×3 → 3×2, so the upsamplers must produce 5×3 (not 6×4) and 10×6.
    const gpu = await getGpu();
    const model = await UNet2DConditionModel.fromPretrained(gpu, LVL3);
    try {
      const [b, h, w] = [2, 10, 6];
      const sample = ref.values(b * h * w * 4, 11);
      const ctx = ref.values(b * 77 * 32, 12);
      const t = [37, 912];
      const got = await predict(gpu, model, sample, [b, h, w, 4], t, ctx, [b, 77, 32]);
      const cfg = parseUNetConfig(await readJson(`${LVL3}/config.json`));
      const want = ref.unetForward(
        cfg,
        await weights64(`${LVL3}/diffusion_pytorch_model.safetensors`),
        ref.img(b, h, w, 4, Float64Array.from(sample)),
        t,
        ref.img(b, 77, 1, 32, Float64Array.from(ctx)),
      );
      // Bound: the largest max_rel the manifest allows this model (10× diffusers' own f32-vs-f64 error).
      const bound = Math.max(
        ...manifest.cases.filter((c) => c.model === 'unet/unet_3lvl').map((c) => c.outputs?.out?.tolerance?.max_rel ?? 0),
      );
      const d = diff(got, want.d);
      expect(d.nonFinite).toBe(0);
      expect(d.maxRel, `max rel ${d.maxRel.toExponential(3)} vs ${bound.toExponential(3)}`).toBeLessThanOrEqual(bound);
    } finally {
      model.release();
    }
  });

  it('a scalar timestep, a per-sample list and a GPU tensor give the same prediction, so does forwardAsync; batch elements are independent', async () => {
    const gpu = await getGpu();
    const model = await UNet2DConditionModel.fromPretrained(gpu, SD2);
    try {
      const sample = ref.values(2 * 8 * 8 * 4, 3);
      const ctx = ref.values(2 * 77 * 32, 4);
      const scalar = await predict(gpu, model, sample, [2, 8, 8, 4], 250, ctx, [2, 77, 32]);
      const list = await predict(gpu, model, sample, [2, 8, 8, 4], [250, 250], ctx, [2, 77, 32]);
      const tensor = await gpu.scopeAsync(async () =>
        gpu.read(model.forward(gpu, gpu.upload(sample, [2, 8, 8, 4]), gpu.upload([250, 250], [2]), gpu.upload(ctx, [2, 77, 32]))),
      );
      expect(Array.from(list)).toEqual(Array.from(scalar));
      expect(Array.from(tensor)).toEqual(Array.from(scalar));
      // forwardAsync (what the pipelines run): the same prediction, settling the GPU after conv_in and each block
      const settle = vi.spyOn(gpu, 'settle');
      const viaAsync = await gpu.scopeAsync(async () =>
        gpu.read(await model.forwardAsync(gpu, gpu.upload(sample, [2, 8, 8, 4]), 250, gpu.upload(ctx, [2, 77, 32]))),
      );
      expect(settle).toHaveBeenCalledTimes(1 + model.downBlocks.length + (model.midBlock ? 1 : 0) + model.upBlocks.length);
      settle.mockRestore();
      expect(Array.from(viaAsync)).toEqual(Array.from(scalar));
      // The second batch element alone: the same values (the CFG batch does not mix samples).
      const half = 8 * 8 * 4;
      const one = await predict(gpu, model, sample.slice(half), [1, 8, 8, 4], 250, ctx.slice(77 * 32), [1, 77, 32]);
      expect(diff(one, scalar.slice(half)).maxAbs).toBeLessThanOrEqual(1e-6);
    } finally {
      model.release();
    }
  });

  it('f16 storage stays within 5e-3 of the output scale of diffusers f32 (observed <= 2.3e-3)', async () => {
    const gpu = await getGpu();
    if (!gpu.hasF16) return;
    for (const [dir, name] of [
      [SD1, 'sd1_8x8_t999'],
      [SD2, 'sd2_8x8_t_per_sample'],
      [LVL3, 'unet_3lvl_16x16_t500.5'],
    ] as const) {
      const c = manifest.cases.find((k) => k.name === name);
      if (!c) throw new Error(`no case ${name}`);
      const t = await readCaseTensors(manifest, c);
      const model = await UNet2DConditionModel.fromPretrained(gpu, dir, { dtype: 'f16' });
      try {
        expect(model.dtype).toBe('f16');
        const s = t.get('sample');
        const e = t.get('encoder_hidden_states');
        if (!s || !e) throw new Error('case tensors missing');
        const got = await gpu.scopeAsync(async () => {
          const x = permute(gpu, gpu.upload(Float32Array.from(valuesOf(s)), s.shape), [0, 2, 3, 1]);
          const out = model.forward(
            gpu,
            x,
            Array.from(valuesOf(t.get('timestep') as NonNullable<ReturnType<typeof t.get>>)),
            gpu.upload(Float32Array.from(valuesOf(e)), e.shape),
          );
          expect(out.dtype).toBe('f32');
          return gpu.read(permute(gpu, out, [0, 3, 1, 2]));
        });
        const d = diff(got, valuesOf(t.get('out') as NonNullable<ReturnType<typeof t.get>>));
        expect(d.nonFinite).toBe(0);
        expect(d.maxRel, `${name}: f16 max rel ${d.maxRel.toExponential(3)}`).toBeLessThanOrEqual(5e-3);
      } finally {
        model.release();
      }
    }
  });

  it('options the fixtures do not use match the float64 reference (random weights): per-block layers, 2-layer transformers, scale factors, kernels, no mid block', async () => {
    const gpu = await getGpu();
    const options: Record<string, unknown> = {
      in_channels: 3,
      out_channels: 5,
      block_out_channels: [16, 32],
      layers_per_block: [1, 2],
      down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
      up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
      attention_head_dim: [2, 4],
      transformer_layers_per_block: [2, 1],
      cross_attention_dim: 24,
      norm_num_groups: 4,
      norm_eps: 1e-6,
      center_input_sample: true,
      resnet_out_scale_factor: 1.41,
      mid_block_scale_factor: 1.7,
      time_embedding_dim: 40,
      conv_in_kernel: 5,
      conv_out_kernel: 1,
      downsample_padding: 0,
      use_linear_projection: true,
      flip_sin_to_cos: false,
      freq_shift: 1,
    };
    for (const extra of [{}, { mid_block_type: null }]) {
      const model = UNet2DConditionModel.fromConfig({ ...options, ...extra }, 'options test');
      const { reader, host } = ref.randomWeights(model.params);
      await model.load(gpu, reader);
      try {
        const [b, h, w] = [2, 7, 5];
        const sample = ref.values(b * h * w * 3, 21);
        const ctx = ref.values(b * 9 * 24, 22);
        const got = await predict(gpu, model, sample, [b, h, w, 3], [3, 640], ctx, [b, 9, 24]);
        const want = ref.unetForward(
          model.config,
          (n) => Float64Array.from(host.get(n) ?? []),
          ref.img(b, h, w, 3, Float64Array.from(sample)),
          [3, 640],
          ref.img(b, 9, 1, 24, Float64Array.from(ctx)),
        );
        expect(got.length).toBe(b * h * w * 5);
        const d = diff(got, want.d);
        expect(d.nonFinite).toBe(0);
        // Same bound as the fixtures' (10× an f32 engine's own error against float64, relative to the scale).
        // The weights keep activations O(1) (observed max |out| 1.6-2.6), so the relative bound means something.
        expect(want.d.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(0.5);
        expect(d.maxRel, `max rel ${d.maxRel.toExponential(3)}`).toBeLessThanOrEqual(1e-5);
      } finally {
        model.release();
      }
    }
  });

  it('the float64 reference itself reproduces a fixture to its f32-vs-f64 error (it is the yardstick above)', async () => {
    const c = manifest.cases.find((k) => k.name === 'sd2_10x6_t999');
    if (!c) throw new Error('no case sd2_10x6_t999');
    const t = await readCaseTensors(manifest, c);
    const get = (n: string) => t.get(n) as NonNullable<ReturnType<typeof t.get>>;
    const [n, ch, h, w] = get('sample').shape as [number, number, number, number];
    const out = ref.unetForward(
      parseUNetConfig(await readJson(`${SD2}/config.json`)),
      await weights64(`${SD2}/diffusion_pytorch_model.safetensors`),
      ref.fromNchw(valuesOf(get('sample')), n, ch, h, w),
      Array.from(valuesOf(get('timestep'))),
      ref.img(n, 77, 1, 32, valuesOf(get('encoder_hidden_states'))),
    );
    const observed = c.outputs?.out?.tolerance?.observed_f32_vs_f64_max_abs ?? 0;
    // The stored output is diffusers' f32 run; a correct f64 run differs from it by diffusers' own f32 error.
    expect(diff(ref.toNchw(out), valuesOf(get('out'))).maxAbs).toBeLessThanOrEqual(1.1 * observed);
  });
});

describe('UNet2DConditionModel config and loading', () => {
  const base = {
    block_out_channels: [32, 64],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  };

  it('reads diffusers semantics: attention_head_dim is the number of heads (int or per block), num_attention_heads wins', () => {
    expect(parseUNetConfig({ ...base, attention_head_dim: 8 }).heads).toEqual([8, 8]);
    expect(parseUNetConfig({ ...base, attention_head_dim: [2, 4] }).heads).toEqual([2, 4]);
    expect(parseUNetConfig({ ...base, attention_head_dim: 8, num_attention_heads: [4, 2] }).heads).toEqual([4, 2]);
    const cfg = parseUNetConfig({ ...base, cross_attention_dim: 768, layers_per_block: [1, 2], transformer_layers_per_block: 2 });
    expect(cfg.crossAttentionDim).toEqual([768, 768]);
    expect(cfg.layersPerBlock).toEqual([1, 2]);
    expect(cfg.transformerLayersPerBlock).toEqual([2, 2]);
    expect(cfg.timeEmbedDim).toBe(128);
    expect(() => parseUNetConfig({ ...base, attention_head_dim: 5 })).toThrow(/not divisible by 5 heads/);
  });

  it('rejects every option it does not implement, by name', () => {
    const bad: Record<string, unknown>[] = [
      { class_embed_type: 'timestep' },
      { addition_embed_type: 'text_time' },
      { encoder_hid_dim: 64 },
      { time_cond_proj_dim: 256 },
      { time_embedding_type: 'fourier' },
      { resnet_time_scale_shift: 'scale_shift' },
      { only_cross_attention: true },
      { dual_cross_attention: true },
      { attention_type: 'gated' },
      { act_fn: 'mish' },
      { mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' },
      { down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D'] },
      { up_block_types: ['UpBlock2D', 'AttnUpBlock2D'] },
      {
        transformer_layers_per_block: [
          [1, 2],
          [1, 2],
        ],
      },
    ];
    for (const extra of bad) {
      const key = Object.keys(extra)[0] as string;
      expect(() => parseUNetConfig({ ...base, ...extra }, 'unet/config.json'), key).toThrow(ConfigError);
      expect(() => parseUNetConfig({ ...base, ...extra }, 'unet/config.json'), key).toThrow(new RegExp(`unet/config.json.*${key}`));
    }
  });

  it('strict loading names the keys a checkpoint lacks for its config; inputs of the wrong shape are refused', async () => {
    const gpu = await getGpu();
    const { openWeights } = await import('../../src/io/weights.js');
    const raw = { ...(await readJson(`${SD1}/config.json`)), layers_per_block: 2 };
    const weights = await openWeights(SD1);
    try {
      const err = await UNet2DConditionModel.fromConfig(raw, 'sd1/unet/config.json')
        .load(gpu, weights)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toMatch(/missing[\s\S]*down_blocks\.0\.resnets\.1\.conv1\.weight/);
    } finally {
      await weights.close();
    }
    const model = await UNet2DConditionModel.fromPretrained(gpu, SD1);
    try {
      gpu.scope(() => {
        const ctx = gpu.zeros([2, 77, 32]);
        expect(() => model.forward(gpu, gpu.zeros([2, 4, 8, 8]), 1, ctx)).toThrow(ShapeError);
        expect(() => model.forward(gpu, gpu.zeros([2, 8, 8, 4]), 1, gpu.zeros([2, 77, 16]))).toThrow(/cross_attention_dim 32/);
        expect(() => model.forward(gpu, gpu.zeros([2, 8, 8, 4]), [1, 2, 3], ctx)).toThrow(/3 values for a batch of 2/);
      });
    } finally {
      model.release();
    }
  });
});
