/**
 * The MedVAE public API end to end on the reference fixtures: loading from the hub's `.ckpt` layouts (zip,
 * legacy, F16) with the LDM yaml, seeded sampling through `MedVAE.encode` (the torch-compatible generator),
 * decoding (2D directly, 3D through the sliding window), strict key checking with its messages, and the
 * 2D → 3D kernel inflation of MedVAE's 3D loader. Tolerances are the manifest's, unless stated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/tensor-data.js';
import { type WeightSource, makeWeightSource } from '../../src/io/weights.js';
import { MedVAEAutoencoder } from '../../src/nn/medvae/autoencoder.js';
import { expectedKeys } from '../../src/nn/params.js';
import { checkConfigForModel, medvaeModelInfo, parseMedVAEConfigText } from '../../src/nn/medvae/config.js';
import { toChannelsFirst, toChannelsLast } from '../../src/pipeline/medvae/layout.js';
import { MedVAE } from '../../src/pipeline/medvae/medvae.js';
import { TorchGenerator } from '../../src/pipeline/rng.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { f32, readSafetensors } from '../helpers/read-safetensors.js';

const root = join(import.meta.dirname, '../fixtures');
const dir = join(root, 'medvae');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
  cases: { name: string; outputs: Record<string, { tolerance: { max_abs: number } }> }[];
};
const tol = (c: string, out: string) => manifest.cases.find((x) => x.name === c)?.outputs[out]?.tolerance.max_abs as number;
const caseTensors = (c: string) => readSafetensors(join(dir, 'cases', `${c}.safetensors`));
const yaml = (model: string) => ({ yaml: readFileSync(join(dir, model, 'config.yaml'), 'utf8'), source: `${model}/config.yaml` });

/** A weight source over host tensors (tests build variants of the fixture weights with it). */
function memorySource(tensors: Map<string, HostTensor>, name = 'memory.safetensors'): WeightSource {
  const infos = new Map([...tensors].map(([k, t]) => [k, { name: k, dtype: t.dtype, shape: t.shape }]));
  return makeWeightSource(
    name,
    'safetensors',
    infos,
    async (k) => tensors.get(k) as HostTensor,
    async () => {},
  );
}

describe('MedVAE.load from the hub checkpoint layouts (medvae_4_3_2d: LoRA, LDM yaml layout)', () => {
  const c = 'medvae_4_3_2d_forward';
  const ts = caseTensors(c);
  const x = { channels: 3, spatial: [64, 48], data: f32(ts, 'x') };

  test.each([
    ['zip', 'medvae_4_3_2d_zip.ckpt'],
    ['legacy', 'medvae_4_3_2d_legacy.ckpt'],
  ])('%s .ckpt: seeded encode gives the reference z, stage-2 latent and reconstruction', async (_kind, file) => {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, {
      model: 'medvae_4_3_2d',
      weights: join(root, 'checkpoints', file),
      config: yaml('medvae_4_3_2d'),
    });
    try {
      expect(mvae.model.encoder.levels[0]?.blocks[0]?.conv1.layout).toEqual({ lora: true, inflated: false, rank: 4 });
      const r = await mvae.encode(x, { seed: 2244, recon: true });
      expect(r.z.spatial).toEqual([16, 12]);
      expect(diff(r.z.data, f32(ts, 'z_sample')).maxAbs).toBeLessThanOrEqual(tol(c, 'z_sample'));
      expect(diff(r.latent.data, f32(ts, 'latent_s2_from_z_sample')).maxAbs).toBeLessThanOrEqual(tol(c, 'latent_s2_from_z_sample'));
      expect(diff((r.recon as { data: Float32Array }).data, f32(ts, 'recon_from_z_sample')).maxAbs).toBeLessThanOrEqual(
        tol(c, 'recon_from_z_sample'),
      );
      const dec = await mvae.decode({ channels: 3, spatial: [16, 12], data: f32(ts, 'mean') });
      expect(diff(dec.data, f32(ts, 'recon_from_mean')).maxAbs).toBeLessThanOrEqual(tol(c, 'recon_from_mean'));
      const det = await mvae.encode(x, { deterministic: true });
      expect(diff(det.z.data, f32(ts, 'mean')).maxAbs).toBeLessThanOrEqual(tol(c, 'mean'));
      expect(diff(det.latent.data, f32(ts, 'latent_s2_from_mean')).maxAbs).toBeLessThanOrEqual(tol(c, 'latent_s2_from_mean'));
    } finally {
      await mvae.dispose();
    }
  });

  test('F16 .ckpt: weights widened to f32 load, and the latent stays near the f32 reference (|err| < 2e-3, F16 weight rounding)', async () => {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, {
      model: 'medvae_4_3_2d',
      weights: join(root, 'checkpoints/medvae_4_3_2d_zip_f16.ckpt'),
      config: yaml('medvae_4_3_2d'),
    });
    try {
      const r = await mvae.encode(x, { deterministic: true });
      const d = diff(r.latent.data, f32(ts, 'latent_s2_from_mean'));
      expect(d.maxAbs).toBeGreaterThan(0);
      expect(d.maxAbs).toBeLessThan(2e-3);
    } finally {
      await mvae.dispose();
    }
  });
});

describe('MedVAE 3D through the public API', () => {
  test('decode of the CT case z through the sliding window equals the reference reconstruction', async () => {
    const gpu = await getGpu();
    const c = 'medvae_4_1_3d_forward_ct';
    const ts = caseTensors(c);
    const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_3d', weights: join(dir, 'medvae_4_1_3d/model.safetensors') });
    try {
      const windows: number[] = [];
      const out = await mvae.decode({ channels: 1, spatial: [8, 8, 8], data: f32(ts, 'z_sample') }, { onProgress: (d) => windows.push(d) });
      expect(windows).toEqual([1]);
      expect(out.spatial).toEqual([32, 32, 32]);
      expect(diff(out.data, f32(ts, 'recon_from_z_sample')).maxAbs).toBeLessThanOrEqual(tol(c, 'recon_from_z_sample'));
    } finally {
      await mvae.dispose();
    }
  });

  test('a 2D checkpoint in a 3D model is inflated into the middle slice of the last kernel axis', async () => {
    const gpu = await getGpu();
    const weights = await loadSafetensors(join(dir, 'medvae_4_1_3d/model.safetensors'));
    // The same weights once as 2D kernels (the middle slice) and once as 3D kernels zero outside it.
    const flat = new Map<string, HostTensor>();
    const zeroed = new Map<string, HostTensor>();
    for (const [k, t] of weights) {
      if (t.shape.length !== 5) {
        flat.set(k, t);
        zeroed.set(k, t);
        continue;
      }
      const kw = t.shape[4] as number;
      const mid = Math.floor(kw / 2);
      const src = t.data as Float32Array;
      const n2 = src.length / kw;
      flat.set(k, {
        dtype: 'F32',
        shape: t.shape.slice(0, 4),
        data: Float32Array.from({ length: n2 }, (_, i) => src[i * kw + mid] as number),
      });
      zeroed.set(k, { dtype: 'F32', shape: t.shape, data: src.map((v, i) => (i % kw === mid ? v : 0)) });
    }
    const config = parseMedVAEConfigText(yaml('medvae_4_1_3d').yaml, 'medvae_4_1_3d/config.yaml');
    const build = async (src: WeightSource) => {
      const m = new MedVAEAutoencoder(config, { dims: 3, fileShape: (k) => src.info(k)?.shape, loraDefault: false });
      await m.load(gpu, src);
      return m;
    };
    const a = await build(memorySource(flat, 'flat-2d.ckpt'));
    const b = await build(memorySource(zeroed, 'zeroed-3d.safetensors'));
    expect(a.encoder.convIn.layout.inflated).toBe(true);
    expect(b.encoder.convIn.layout.inflated).toBe(false);
    const x = f32(caseTensors('medvae_4_1_3d_forward_mri'), 'x');
    const [ma, mb] = await gpu.scopeAsync(async () => {
      const xt = gpu.upload(toChannelsLast(x, 1), [1, 32, 16, 32, 1]);
      return [await gpu.read(a.moments(gpu, xt)), await gpu.read(b.moments(gpu, xt))];
    });
    expect(
      diff(toChannelsFirst(new Float32Array(ma as Float32Array), 2), toChannelsFirst(new Float32Array(mb as Float32Array), 2)).maxAbs,
    ).toBe(0);
    a.release();
    b.release();
  });
});

describe('strict loading', () => {
  const load = async (src: WeightSource, model = 'medvae_4_1_2d') =>
    MedVAE.load(await getGpu(), { model, weights: src, config: yaml(model) }).then((m) => m.dispose());

  test('every missing, unexpected and mis-shaped key is listed with the file; training-only loss.* keys are skipped', async () => {
    const weights = await loadSafetensors(join(dir, 'medvae_4_1_2d/model.safetensors'));
    const bad = new Map(weights);
    bad.delete('decoder.conv_out.bias');
    bad.set('encoder.extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    bad.set('quant_conv.weight', { dtype: 'F32', shape: [2, 2, 3, 3], data: new Float32Array(36) });
    bad.set('loss.discriminator.main.0.weight', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
    const err = await load(memorySource(bad, 'bad.ckpt')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect((err as { code?: string }).code).toBe('CHECKPOINT_KEYS');
    // The wording belongs to the weight loader; what matters here is that every problem is named.
    expect(msg).toMatch(/^bad\.ckpt/);
    expect(msg).toMatch(/missing/);
    expect(msg).toMatch(/decoder\.conv_out\.bias/);
    expect(msg).toMatch(/unexpected/);
    expect(msg).toMatch(/encoder\.extra\.weight/);
    expect(msg).toMatch(/quant_conv\.weight: expected \[2, 2, 1, 1\], found \[2, 2, 3, 3\]/);
    expect(msg).not.toMatch(/loss\./);
    const ok = new Map(weights);
    ok.set('loss.logvar', { dtype: 'F32', shape: [], data: new Float32Array(1) });
    await expect(load(memorySource(ok))).resolves.toBeUndefined();
  });

  test('LoRA checkpoints load into the plain models and the reverse; a wrong model name or config is refused', async () => {
    // The 4_3 LoRA weights need the LDM-layout config: under the 4_1 name the config check stops them first.
    const lora = await loadSafetensors(join(dir, 'medvae_4_3_2d/model.safetensors'));
    await expect(
      MedVAE.load(await getGpu(), { model: 'medvae_4_1_2d', weights: memorySource(lora), config: yaml('medvae_4_3_2d') }),
    ).rejects.toThrow(/gives 4x downsampling and 3 latent channels, but medvae_4_1_2d has 4x and 1/);
    const c41 = parseMedVAEConfigText(yaml('medvae_4_1_2d').yaml, 'x.yaml');
    expect(() => checkConfigForModel(c41, medvaeModelInfo('medvae_8_1_2d'))).toThrow(/medvae_8_1_2d has 8x and 1/);
    expect(() => medvaeModelInfo('medvae_4_2_2d')).toThrow(/unknown MedVAE model "medvae_4_2_2d"; the models are medvae_4_1_2d/);
  });
});

describe('MedVAE configs', () => {
  test('both yaml layouts parse to the same kind of config, with library defaults', () => {
    const top = parseMedVAEConfigText(yaml('medvae_4_1_2d').yaml, 'a.yaml');
    const ldm = parseMedVAEConfigText(yaml('medvae_8_4_2d').yaml, 'b.yaml');
    expect(top.embedDim).toBe(1);
    expect(top.ddconfig.attnResolutions).toEqual([32]);
    expect(ldm.embedDim).toBe(4);
    expect(ldm.ddconfig.chMult).toEqual([1, 1, 1, 1]);
  });

  test('bad configs name the file and key', () => {
    expect(() => parseMedVAEConfigText('embed_dim: [', 'x.yaml')).toThrow(/x\.yaml: not valid YAML/);
    expect(() => parseMedVAEConfigText('foo: 1', 'x.yaml')).toThrow(/x\.yaml: no "ddconfig"/);
    const base = yaml('medvae_4_1_2d').yaml;
    expect(() => parseMedVAEConfigText(base.replace('ch: 32', 'ch: 48'), 'x.yaml')).toThrow(/48 channels is not a multiple of 32/);
    expect(() => parseMedVAEConfigText(base.replace('double_z: true', 'double_z: false'), 'x.yaml')).toThrow(/"double_z" must be true/);
    expect(() => parseMedVAEConfigText(`${base}  tanh_out: true\n`, 'x.yaml')).toThrow(/"tanh_out" = true is not supported/);
  });
});

/** Deterministic small weights for every key a model declares (norm scales near 1). */
function syntheticWeights(model: MedVAEAutoencoder): WeightSource {
  const tensors = new Map<string, HostTensor>();
  let s = 7;
  for (const [name, shape] of expectedKeys(model.registry)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const base = /norm.*weight$/.test(name) ? 1 : 0;
    const data = Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return base + (s / 2 ** 32 - 0.5) * 0.2;
    });
    tensors.set(name, { dtype: 'F32', shape: [...shape], data });
  }
  return memorySource(tensors, 'synthetic.safetensors');
}

describe('the models without fixtures, and several windows', () => {
  test('medvae_8_1_3d (4 levels, 3D) and medvae_4_4_2d build from their yaml layouts and round-trip shapes', async () => {
    const gpu = await getGpu();
    const cfg8 = parseMedVAEConfigText(yaml('medvae_8_1_2d').yaml, 'medvae_8x1.yaml');
    const m8 = new MedVAEAutoencoder(cfg8, { dims: 3, loraDefault: false });
    await m8.load(gpu, syntheticWeights(m8));
    const v8 = MedVAE.fromModel(gpu, 'medvae_8_1_3d', m8);
    const r8 = await v8.encode({ channels: 1, spatial: [16, 32, 24], data: new Float32Array(16 * 32 * 24).fill(0.25) }, { recon: true });
    expect(r8.latent.spatial).toEqual([2, 4, 3]);
    expect(r8.recon?.spatial).toEqual([16, 32, 24]);
    expect(r8.latent.data.every(Number.isFinite)).toBe(true);
    await v8.dispose();

    const cfg44 = parseMedVAEConfigText(
      yaml('medvae_8_4_2d').yaml.replace(/- 1\n(\s+)- 1\n(\s+)- 1\n(\s+)- 1/, '- 1\n$1- 1\n$2- 1'),
      'medvae_4x4.yaml',
    );
    expect(cfg44.ddconfig.chMult).toEqual([1, 1, 1]);
    const m44 = new MedVAEAutoencoder(cfg44, { dims: 2, loraDefault: false });
    await m44.load(gpu, syntheticWeights(m44));
    const v44 = MedVAE.fromModel(gpu, 'medvae_4_4_2d', m44);
    const r44 = await v44.encode({ channels: 3, spatial: [20, 12], data: new Float32Array(3 * 20 * 12).fill(-0.5) }, { seed: 1 });
    expect([r44.latent.channels, ...r44.latent.spatial]).toEqual([4, 5, 3]);
    expect((await v44.decode(r44.z)).spatial).toEqual([20, 12]);
    await v44.dispose();
  });

  test('a volume larger than the window: 27 windows, one eps draw per window in window order, bounded GPU memory', async () => {
    const gpu = await getGpu();
    const mvae = await MedVAE.load(gpu, { model: 'medvae_4_1_3d', weights: join(dir, 'medvae_4_1_3d/model.safetensors') });
    try {
      const x = f32(caseTensors('medvae_4_1_3d_forward_ct'), 'x');
      const gen = new TorchGenerator(5);
      const windows: number[] = [];
      gpu.pool.resetPeak();
      const before = gpu.memory().liveBytes;
      // gpu_dim 30: 32 → windows of 16 (interval 12: starts 0, 12, 16 per axis).
      const r = await mvae.encode(
        { channels: 1, spatial: [32, 32, 32], data: x },
        { generator: gen, gpuDim: 30, onProgress: (d, t) => windows.push(d * 100 + t) },
      );
      expect(windows).toEqual(Array.from({ length: 27 }, (_, i) => (i + 1) * 100 + 27));
      expect(r.latent.spatial).toEqual([8, 8, 8]);
      // Each window drew randn(1·4·4·4) = 64 values (the < 16-element scalar path is not taken).
      const ref = new TorchGenerator(5);
      for (let w = 0; w < 27; w++) ref.randn(64);
      expect(Array.from(gen.randn(4))).toEqual(Array.from(ref.randn(4)));
      // Only one 16³ window is on the GPU at a time: far below one full 32³ activation set.
      const peak = gpu.memory().peakLiveBytes - before;
      expect(peak).toBeLessThan(32 * 32 * 32 * 32 * 4 * 2);
      const dec = await mvae.decode(r.latent, { gpuDim: 30 });
      expect(dec.spatial).toEqual([32, 32, 32]);
      expect(dec.data.every(Number.isFinite)).toBe(true);
    } finally {
      await mvae.dispose();
    }
  });
});

describe('f16 storage', () => {
  // f16 rounds every stored weight and activation (2^-11 relative) through ~30 layers: the latent stays within
  // 1% of the reference's scale and the reconstruction within 3% (measured: 0.4% and 1.5%).
  // One model: the f16 pipelines are the same for 2D and 3D, and each costs seconds to compile on lavapipe.
  test.each([['medvae_4_1_3d', 'medvae_4_1_3d_forward_ct', [1, 32, 32, 32], 'mean']] as const)(
    '%s in f16 matches the f32 reference within f16 rounding',
    { timeout: 300_000 },
    async (model, c, shape, latentName) => {
      const gpu = await getGpu();
      const load = () => MedVAE.load(gpu, { model, weights: join(dir, model, 'model.safetensors'), dtype: 'f16' });
      if (!gpu.hasF16) {
        await expect(load()).rejects.toThrow(/shader-f16/);
        return;
      }
      const ts = caseTensors(c);
      const mvae = await load();
      try {
        const r = await mvae.encode(
          { channels: shape[0], spatial: [...shape.slice(1)], data: f32(ts, 'x') },
          { deterministic: true, recon: true },
        );
        expect(diff(r.latent.data, f32(ts, latentName)).maxRel).toBeLessThan(1e-2);
        expect(diff((r.recon as { data: Float32Array }).data, f32(ts, 'recon_from_mean')).maxRel).toBeLessThan(3e-2);
      } finally {
        await mvae.dispose();
      }
    },
  );
});
