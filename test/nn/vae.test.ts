/**
 * AutoencoderKL against diffusers 0.30.3 on the fixture VAEs (sd1: 4 levels, 2 resnets per level; sd2:
 * narrower, 1 resnet): encode (mean, clamped logvar, std, mean + std·noise, ×scaling_factor) and decode,
 * square and 48×64, every output within the manifest's tolerance. Plus the legacy attention key names,
 * tiled decoding (diffusers' tile/overlap/blend semantics) and f16 storage.
 */
import { describe, expect, it, vi } from 'vitest';
import { openWeights } from '../../src/io/weights.js';
import { permute, slice } from '../../src/kernels/layout.js';
import type { WeightReader } from '../../src/nn/params.js';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.js';
import { tilePlan } from '../../src/nn/vae/tiled-decode.js';
import { CheckpointError, ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { readCaseTensors, readManifest, valuesOf } from '../../src/verify/manifest.js';
import { runVaeCase } from '../../src/verify/runners/vae.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import { expectCaseChecks } from '../helpers/fixture-checks.js';
import * as ref from './sd-reference.js';

// The first test that meets a kernel compiles it: with a cold shader cache on a busy 2-core lavapipe that
// alone took 70 s (f32) and 68 s (f16) at load 12, so tests get more than the default 120 s.
vi.setConfig({ testTimeout: 300_000 });

const manifest = await readManifest('test/fixtures/vae/manifest.json');
const SD1 = 'test/fixtures/pipelines/sd1/vae';
const SD2 = 'test/fixtures/pipelines/sd2/vae';

async function decodeHost(gpu: Gpu, vae: AutoencoderKL, z: Float32Array, shape: number[], tiling?: { tileSampleSize?: number }) {
  return gpu.scopeAsync(async () => gpu.read(vae.decode(gpu, gpu.upload(z, shape), { tiling })));
}

describe('AutoencoderKL vs diffusers fixtures', () => {
  for (const c of manifest.cases) {
    it(`${c.name}: every output within the manifest tolerance`, async () => {
      const gpu = await getGpu();
      const checks = await runVaeCase({ gpu }, manifest, c);
      expectCaseChecks(checks, c);
    });
  }
});

describe('AutoencoderKL weights', () => {
  it('reads the legacy attention names query/key/value/proj_attn (detected from the file) with the same result', async () => {
    const gpu = await getGpu();
    const src = await openWeights(SD2);
    const legacyName: Record<string, string> = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };
    const toLegacy = (k: string) =>
      k.replace(/attentions\.0\.(to_q|to_k|to_v|to_out\.0)\./, (_, n: string) => `attentions.0.${legacyName[n]}.`);
    const fromLegacy = new Map(src.keys().map((k) => [toLegacy(k), k]));
    const legacy: WeightReader = {
      path: 'legacy-vae.safetensors',
      keys: () => [...fromLegacy.keys()],
      info: (n) => src.info(fromLegacy.get(n) ?? n),
      read: (n, as) => src.read(fromLegacy.get(n) ?? n, as),
    };
    expect(legacy.keys()).toContain('decoder.mid_block.attentions.0.proj_attn.weight');
    const c = manifest.cases.find((k) => k.name === 'sd2_decode_1x6x8');
    if (!c) throw new Error('no case sd2_decode_1x6x8');
    const t = await readCaseTensors(manifest, c);
    const latent = t.get('latent') as NonNullable<ReturnType<typeof t.get>>;
    try {
      expect(AutoencoderKL.attentionNamesOf(legacy)).toBe('legacy');
      const raw = JSON.parse(await (await import('node:fs/promises')).readFile(`${SD2}/config.json`, 'utf8'));
      // A model built for the new names refuses the legacy file with a message saying how to load it.
      await expect(AutoencoderKL.fromConfig(raw).load(gpu, legacy)).rejects.toThrow(CheckpointError);
      const vae = await AutoencoderKL.fromWeights(gpu, raw, legacy);
      try {
        expect(vae.attentionNames).toBe('legacy');
        const got = await gpu.scopeAsync(async () => {
          const z = permute(gpu, gpu.upload(Float32Array.from(valuesOf(latent)), latent.shape), [0, 2, 3, 1]);
          return gpu.read(permute(gpu, vae.decode(gpu, z), [0, 3, 1, 2]));
        });
        const tol = c.outputs?.image?.tolerance?.max_abs ?? 0;
        expect(diff(got, valuesOf(t.get('image') as NonNullable<ReturnType<typeof t.get>>)).maxAbs).toBeLessThanOrEqual(tol);
      } finally {
        vae.release();
      }
    } finally {
      await src.close();
    }
  });

  it('f16 storage stays within 1e-2 of the output scale of diffusers f32 (observed <= 5.2e-3 decode, 7e-4 encode)', async () => {
    const gpu = await getGpu();
    if (!gpu.hasF16) return;
    for (const name of ['sd1_decode_1x6x8', 'sd2_encode_48x64']) {
      const c = manifest.cases.find((k) => k.name === name);
      if (!c) throw new Error(`no case ${name}`);
      const t = await readCaseTensors(manifest, c);
      const nhwc = (n: string) => {
        const h = t.get(n) as NonNullable<ReturnType<typeof t.get>>;
        return permute(gpu, gpu.upload(Float32Array.from(valuesOf(h)), h.shape), [0, 2, 3, 1]);
      };
      const vae = await AutoencoderKL.fromPretrained(gpu, name.startsWith('sd1') ? SD1 : SD2, { dtype: 'f16' });
      try {
        const encode = t.has('noise');
        const got = await gpu.scopeAsync(async () => {
          const out = encode ? vae.encode(gpu, nhwc('image'), { noise: nhwc('noise') }).sample : vae.decode(gpu, nhwc('latent'));
          if (!out) throw new Error('no sample');
          expect(out.dtype).toBe('f32');
          return gpu.read(permute(gpu, out, [0, 3, 1, 2]));
        });
        const want = valuesOf(t.get(encode ? 'latent_sample' : 'image') as NonNullable<ReturnType<typeof t.get>>);
        const d = diff(got, want);
        expect(d.nonFinite).toBe(0);
        expect(d.maxRel, `${name}: f16 max rel ${d.maxRel.toExponential(3)}`).toBeLessThanOrEqual(1e-2);
      } finally {
        vae.release();
      }
    }
  });

  it('options the fixtures do not use match the float64 reference (random weights): no quant convs, no attention, 3 levels', async () => {
    const gpu = await getGpu();
    const base = {
      in_channels: 1,
      out_channels: 2,
      latent_channels: 3,
      block_out_channels: [8, 16, 16],
      layers_per_block: 1,
      norm_num_groups: 4,
    };
    for (const extra of [
      { use_quant_conv: false, use_post_quant_conv: false },
      { mid_block_add_attention: false, layers_per_block: 2 },
    ]) {
      const vae = AutoencoderKL.fromConfig({
        ...base,
        down_block_types: Array(3).fill('DownEncoderBlock2D'),
        up_block_types: Array(3).fill('UpDecoderBlock2D'),
        ...extra,
      });
      const { reader, host } = ref.randomWeights(vae.params);
      await vae.load(gpu, reader);
      try {
        const W = (n: string) => Float64Array.from(host.get(n) ?? []);
        const image = ref.values(2 * 20 * 12, 31);
        const z = ref.values(2 * 5 * 3 * 3, 32);
        const [moments, decoded] = await gpu.scopeAsync(async () => {
          const d = vae.encode(gpu, gpu.upload(image, [2, 20, 12, 1]));
          return [await gpu.read(d.mean), await gpu.read(vae.decode(gpu, gpu.upload(z, [2, 5, 3, 3])))];
        });
        const wantMoments = ref.vaeEncode(vae.config, W, ref.img(2, 20, 12, 1, Float64Array.from(image)));
        const wantMean = wantMoments.d.filter((_, i) => i % 6 < 3);
        const wantImage = ref.vaeDecode(vae.config, W, ref.img(2, 5, 3, 3, Float64Array.from(z)));
        for (const [what, got, want] of [
          ['mean', moments, wantMean],
          ['image', decoded, wantImage.d],
        ] as const) {
          const d = diff(got, want);
          expect(d.nonFinite).toBe(0);
          expect(want.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(0.5);
          expect(d.maxRel, `${what}: max rel ${d.maxRel.toExponential(3)}`).toBeLessThanOrEqual(1e-5);
        }
      } finally {
        vae.release();
      }
    }
  });

  it('refuses images and latents of the wrong layout', async () => {
    const gpu = await getGpu();
    const vae = await AutoencoderKL.fromPretrained(gpu, SD2);
    try {
      gpu.scope(() => {
        expect(() => vae.encode(gpu, gpu.zeros([1, 3, 64, 64]))).toThrow(ShapeError);
        expect(() => vae.encode(gpu, gpu.zeros([1, 64, 64, 3]), { noise: gpu.zeros([1, 8, 8, 3]) })).toThrow(
          /noise \[1, 8, 8, 3\] must be \[1, 8, 8, 4\]/,
        );
        expect(() => vae.decode(gpu, gpu.zeros([1, 4, 8, 8]))).toThrow(ShapeError);
      });
      await expect(gpu.scopeAsync(() => vae.decodeAsync(gpu, gpu.zeros([1, 4, 8, 8])))).rejects.toThrow(ShapeError);
      await expect(gpu.scopeAsync(() => vae.encodeAsync(gpu, gpu.zeros([1, 3, 64, 64])))).rejects.toThrow(ShapeError);
      expect(vae.downscaleFactor).toBe(8);
      expect(vae.scalingFactor).toBe(0.18215);
    } finally {
      vae.release();
    }
  });
});

/**
 * diffusers `tiled_decode`, written out naively on the host in float64 over the tiles the GPU decodes one
 * by one: slices every `stride` latent px, blend_v / blend_h in place (so a tile blends with its
 * neighbours' already-blended values), crops to `keep`, concatenates. Channels-last [B, H, W, C].
 */
async function tiledDecodeHost(gpu: Gpu, vae: AutoencoderKL, z: Float32Array, b: number, h: number, w: number, tileSampleSize: number) {
  const f = vae.downscaleFactor;
  const plan = tilePlan(tileSampleSize, f, 0.25);
  interface Tile {
    h: number;
    w: number;
    d: Float64Array;
  }
  const C = vae.config.outChannels;
  const at = (t: Tile, n: number, y: number, x: number, c: number) => ((n * t.h + y) * t.w + x) * C + c;
  const rows: Tile[][] = [];
  for (let i = 0; i < h; i += plan.stride) {
    const row: Tile[] = [];
    for (let j = 0; j < w; j += plan.stride) {
      const th = Math.min(i + plan.tileLatent, h) - i;
      const tw = Math.min(j + plan.tileLatent, w) - j;
      const data = await gpu.scopeAsync(async () => {
        const part = slice(gpu, slice(gpu, gpu.upload(z, [b, h, w, 4]), 1, i, i + th), 2, j, j + tw);
        return gpu.read(vae.decode(gpu, part));
      });
      row.push({ h: th * f, w: tw * f, d: Float64Array.from(data) });
    }
    rows.push(row);
  }
  const blendV = (a: Tile, t: Tile) => {
    const e = Math.min(a.h, t.h, plan.blend);
    for (let n = 0; n < b; n++)
      for (let y = 0; y < e; y++)
        for (let x = 0; x < t.w; x++)
          for (let c = 0; c < C; c++) {
            const k = at(t, n, y, x, c);
            t.d[k] = (a.d[at(a, n, a.h - e + y, x, c)] as number) * (1 - y / e) + (t.d[k] as number) * (y / e);
          }
  };
  const blendH = (a: Tile, t: Tile) => {
    const e = Math.min(a.w, t.w, plan.blend);
    for (let n = 0; n < b; n++)
      for (let y = 0; y < t.h; y++)
        for (let x = 0; x < e; x++)
          for (let c = 0; c < C; c++) {
            const k = at(t, n, y, x, c);
            t.d[k] = (a.d[at(a, n, y, a.w - e + x, c)] as number) * (1 - x / e) + (t.d[k] as number) * (x / e);
          }
  };
  const H = h * f;
  const W = w * f;
  const out = new Float64Array(b * H * W * C);
  let y0 = 0;
  for (const [i, row] of rows.entries()) {
    let x0 = 0;
    let rowH = 0;
    for (const [j, t] of row.entries()) {
      if (i > 0) blendV(rows[i - 1]?.[j] as Tile, t);
      if (j > 0) blendH(row[j - 1] as Tile, t);
      const kh = Math.min(t.h, plan.keep);
      const kw = Math.min(t.w, plan.keep);
      for (let n = 0; n < b; n++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let c = 0; c < C; c++) out[((n * H + y0 + y) * W + x0 + x) * C + c] = t.d[at(t, n, y, x, c)] as number;
      x0 += kw;
      rowH = kh;
    }
    y0 += rowH;
  }
  return out;
}

describe('AutoencoderKL decodeAsync', () => {
  it('gives bitwise the image of decode (f32 and f16 out), calling gpu.settle() after every decoder stage', async () => {
    const gpu = await getGpu();
    const vae = await AutoencoderKL.fromPretrained(gpu, SD1);
    try {
      const z = ref.values(2 * 6 * 5 * 4, 21);
      for (const outputDtype of ['f32', ...(gpu.hasF16 ? ['f16' as const] : [])] as const) {
        const want = await gpu.scopeAsync(async () => gpu.read(vae.decode(gpu, gpu.upload(z, [2, 6, 5, 4]), { outputDtype })));
        const settle = vi.spyOn(gpu, 'settle');
        const got = await gpu.scopeAsync(async () => {
          const image = await vae.decodeAsync(gpu, gpu.upload(z, [2, 6, 5, 4]), { outputDtype });
          expect(image.dtype).toBe(outputDtype);
          return gpu.read(image);
        });
        // conv_in, mid, 4 levels of 3 resnets of 2 stages, 3 upsamplers of 2 steps, norm_out, conv_out
        expect(settle).toHaveBeenCalledTimes(2 + 4 * 3 * 2 + 3 * 2 + 2);
        settle.mockRestore();
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    } finally {
      vae.release();
    }
  });
});

describe('AutoencoderKL encodeAsync', () => {
  it('gives bitwise the posterior and sample of encode, calling gpu.settle() after every encoder stage', async () => {
    const gpu = await getGpu();
    const vae = await AutoencoderKL.fromPretrained(gpu, SD1);
    try {
      const image = ref.values(2 * 48 * 40 * 3, 31);
      const noise = ref.values(2 * 6 * 5 * 4, 32);
      const read = async (d: { mean: Tensor; logvar: Tensor; std: Tensor; sample?: Tensor }) =>
        Promise.all([d.mean, d.logvar, d.std, d.sample as Tensor].map(async (t) => Array.from(await gpu.read(t))));
      const inputs = () => [gpu.upload(image, [2, 48, 40, 3]), { noise: gpu.upload(noise, [2, 6, 5, 4]) }] as const;
      const want = await gpu.scopeAsync(async () => read(vae.encode(gpu, ...inputs())));
      const settle = vi.spyOn(gpu, 'settle');
      const got = await gpu.scopeAsync(async () => read(await vae.encodeAsync(gpu, ...inputs())));
      // conv_in, 4 down blocks, mid, norm_out, conv_out
      expect(settle).toHaveBeenCalledTimes(1 + 4 + 1 + 2);
      settle.mockRestore();
      expect(got).toEqual(want);
    } finally {
      vae.release();
    }
  });
});

describe('AutoencoderKL tiled decode', () => {
  it('follows diffusers tiled_decode exactly: edge tiles, in-place blends, crops (|tiled - host float64 blend| <= 1e-6)', async () => {
    // 20×14 latents with 8-latent tiles every 6: 4×3 tiles, the last row and column only 2 latents wide.
    const gpu = await getGpu();
    const vae = await AutoencoderKL.fromPretrained(gpu, SD2);
    try {
      const [b, h, w] = [2, 20, 14];
      const z = ref.values(b * h * w * 4, 5);
      const got = await decodeHost(gpu, vae, z, [b, h, w, 4], { tileSampleSize: 64 });
      expect(got.length).toBe(b * h * 8 * w * 8 * 3);
      const want = await tiledDecodeHost(gpu, vae, z, b, h, w, 64);
      const d = diff(got, want);
      expect(d.nonFinite).toBe(0);
      // The only differences are the float32 roundings of the blend weights and products.
      expect(d.maxAbs, `max abs ${d.maxAbs.toExponential(3)}`).toBeLessThanOrEqual(1e-6);
    } finally {
      vae.release();
    }
  });

  it('a latent within one tile decodes untiled; larger tiles approach the untiled decode (interior RMS <= 0.06·scale at 128 px)', async () => {
    // Each tile has its own GroupNorm statistics and mid-block attention (diffusers: "the end result of tiled
    // decoding is different from non-tiled decoding"), so on a random-weight VAE the tiles only agree with
    // the whole-image decode as they grow. Measured on this 32×32 latent, interior RMS over max|untiled|:
    // 0.119 at 64 px tiles, 0.047 at 128, 0.025 at 192; max |diff| 0.9·scale at 64 px and 0.38 at 128.
    const gpu = await getGpu();
    const vae = await AutoencoderKL.fromPretrained(gpu, SD2);
    try {
      const small = ref.values(8 * 8 * 4, 9);
      expect(Array.from(await decodeHost(gpu, vae, small, [1, 8, 8, 4], { tileSampleSize: 64 }))).toEqual(
        Array.from(await decodeHost(gpu, vae, small, [1, 8, 8, 4])),
      );
      const n = 32;
      const z = ref.values(n * n * 4, 1);
      const full = await decodeHost(gpu, vae, z, [1, n, n, 4]);
      const H = 8 * n;
      const scale = full.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const interiorRms = (tiled: Float32Array, tile: number) => {
        const plan = tilePlan(tile, 8, 0.25);
        const stride = plan.stride * 8;
        let s = 0;
        let cnt = 0;
        for (let y = 32; y < H - 32; y++)
          for (let x = 32; x < H - 32; x++) {
            if ((y >= stride && y % stride < plan.blend) || (x >= stride && x % stride < plan.blend)) continue;
            for (let c = 0; c < 3; c++) {
              const i = (y * H + x) * 3 + c;
              s += ((tiled[i] as number) - (full[i] as number)) ** 2;
              cnt++;
            }
          }
        return Math.sqrt(s / cnt) / scale;
      };
      // Tiling bounds memory by one tile's activations (plus the 3-channel tiles being blended).
      const peak = async (tiling?: { tileSampleSize: number }) => {
        gpu.pool.resetPeak();
        const before = gpu.memory().liveBytes;
        const out = await decodeHost(gpu, vae, z, [1, n, n, 4], tiling);
        return { out, bytes: gpu.memory().peakLiveBytes - before };
      };
      const untiledPeak = (await peak()).bytes;
      const tiled64 = await peak({ tileSampleSize: 64 });
      // The bound follows from the tile size, not from the untiled decode (which shrinks as the decoder gets
      // leaner): one tile's own decode peak (an 8×8 latent decoded untiled) plus the 3-channel f32 pieces being
      // assembled — the previous and current row of 64 px tiles, one row of kept crops and its concatenation,
      // and the rows plus their final concatenation (the image twice). Measured: 2.6 MiB tiled, 8.0 MiB untiled.
      gpu.pool.resetPeak();
      const before = gpu.memory().liveBytes;
      await decodeHost(gpu, vae, ref.values(8 * 8 * 4, 3), [1, 8, 8, 4]);
      const tilePeak = gpu.memory().peakLiveBytes - before;
      const plan = tilePlan(64, 8, 0.25);
      const tilesPerRow = Math.ceil(n / plan.stride);
      const px = 3 * 4;
      const assembly = 2 * tilesPerRow * 64 * 64 * px + 2 * plan.keep * H * px + 2 * H * H * px;
      expect(
        tiled64.bytes,
        `peak ${tiled64.bytes}: one tile ${tilePeak} + assembly ${assembly} (untiled ${untiledPeak})`,
      ).toBeLessThanOrEqual(tilePeak + assembly);
      expect(tilePeak + assembly).toBeLessThan(untiledPeak / 2);
      const r64 = interiorRms(tiled64.out, 64);
      const r128 = interiorRms(await decodeHost(gpu, vae, z, [1, n, n, 4], { tileSampleSize: 128 }), 128);
      expect(r128).toBeLessThan(r64);
      expect(r128, `interior RMS ${r128.toFixed(4)}·scale`).toBeLessThanOrEqual(0.06);
    } finally {
      vae.release();
    }
  });
});
