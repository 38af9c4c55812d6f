import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryFileTree } from '../../src/io/file-tree.js';
import { addVariant, openHubComponent, openHubPipeline } from '../../src/io/hub.js';
import { parseJsonLenient } from '../../src/io/json.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { openWeights } from '../../src/io/weights.js';
import { ConfigError, type MedgpuError } from '../../src/runtime/errors.js';
import { f32Bytes, op, pickle, stateDictOps, torchZip } from './pickle-builder.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const tmp = mkdtemp(join(tmpdir(), 'medgpu-hub-'));
afterAll(async () => rm(await tmp, { recursive: true, force: true }));

/** Tensor names straight from a safetensors header, to compare the hub loader's choice of file with. */
async function headerKeys(path: string): Promise<string[]> {
  const b = await readFile(path);
  const n = Number(b.readBigUInt64LE(0));
  return Object.keys(JSON.parse(b.subarray(8, 8 + n).toString('utf8'))).filter((k) => k !== '__metadata__');
}

describe('lenient JSON (Python json.dump output)', () => {
  it('reads bare NaN, Infinity and -Infinity, as in DPM-Solver scheduler configs', async () => {
    const text = await readFile(join(fixtures, 'schedulers/dpmpp_2m/scheduler_config.json'), 'utf8');
    expect(() => JSON.parse(text)).toThrow();
    const cfg = parseJsonLenient(text, 'scheduler_config.json') as Record<string, unknown>;
    expect(cfg.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    expect(cfg._class_name).toBe('DPMSolverMultistepScheduler');
    const v = parseJsonLenient(
      '{"a": [NaN, Infinity, -Infinity, -0.5e-3, 12], "s": "NaN \\"Infinity\\" \\u00e9", "__proto__": {"x": 1}, "n": null, "t": true}',
    ) as Record<string, unknown>;
    expect(v.a).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.0005, 12]);
    expect(v.s).toBe('NaN "Infinity" é');
    expect(Object.keys(v)).toEqual(['a', 's', '__proto__', 'n', 't']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v.n).toBeNull();
    expect(v.t).toBe(true);
  });

  it('reports malformed text with file, line and column, and refuses absurd nesting', () => {
    const cases: [string, RegExp][] = [
      ['{"a": NaN,\n  "b": nan}', /cfg\.json: invalid JSON at line 2, column 8: unexpected "n"/],
      ['{"a": Infinity', /expected "," or "}"/],
      ['[NaN] x', /unexpected text after the value/],
      ['{"a": "unterminated}', /unterminated string/],
      [`${'['.repeat(600)}NaN${']'.repeat(600)}`, /nesting deeper than 512/],
    ];
    for (const [text, pattern] of cases) {
      const e = (() => {
        try {
          parseJsonLenient(text, 'cfg.json');
        } catch (x) {
          return x;
        }
      })();
      expect(e, text).toBeInstanceOf(ConfigError);
      expect((e as Error).message, text).toMatch(pattern);
    }
  });
});

describe('hub pipelines', () => {
  it('sd1: model_index components with their configs and weights', async () => {
    const root = join(fixtures, 'pipelines/sd1');
    const p = await openHubPipeline(root);
    expect(p.className).toBe('StableDiffusionPipeline');
    expect([...p.components.keys()]).toEqual(['feature_extractor', 'scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']);
    expect(p.absent).toEqual(['image_encoder', 'safety_checker']);
    expect(p.modelIndex.requires_safety_checker).toBe(false);
    const unet = p.component('unet');
    expect(unet.library).toBe('diffusers');
    expect(unet.className).toBe('UNet2DConditionModel');
    expect(unet.configFile).toBe('unet/config.json');
    expect(unet.config?.cross_attention_dim).toBe(32);
    expect(p.component('scheduler').config?._class_name).toBe('PNDMScheduler');
    expect(p.component('scheduler').configFile).toBe('scheduler/scheduler_config.json');
    expect(p.component('tokenizer').configFile).toBe('tokenizer/tokenizer_config.json');
    expect((await p.component('tokenizer').readText('merges.txt')).startsWith('#version: 0.2')).toBe(true);
    expect(p.component('text_encoder').config?.hidden_act).toBe('quick_gelu');
    expect(await p.component('scheduler').resolveWeights()).toBeNull();
    for (const [name, file] of [
      ['unet', 'unet/diffusion_pytorch_model.safetensors'],
      ['vae', 'vae/diffusion_pytorch_model.safetensors'],
      ['text_encoder', 'text_encoder/model.safetensors'],
    ] as const) {
      expect(await p.component(name).resolveWeights()).toEqual({ file, sharded: false, variant: null });
      const w = await p.component(name).openWeights();
      expect(w.keys().sort(), name).toEqual((await headerKeys(join(root, file))).sort());
      await w.close();
    }
    // A requested variant that the folder lacks falls back to the standard file.
    expect(await unet.resolveWeights({ variant: 'fp16' })).toEqual({
      file: 'unet/diffusion_pytorch_model.safetensors',
      sharded: false,
      variant: null,
    });
    const e = (() => {
      try {
        p.component('safety_checker');
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.message).toMatch(
      /the pipeline has no component "safety_checker" \(it has feature_extractor, scheduler, text_encoder, tokenizer, unet, vae\)/,
    );
  });

  it('sd2: DDIM v-prediction scheduler, linear-projection UNet, per-block head counts', async () => {
    const p = await openHubPipeline(join(fixtures, 'pipelines/sd2'));
    expect(p.component('scheduler').config).toMatchObject({
      _class_name: 'DDIMScheduler',
      prediction_type: 'v_prediction',
      timestep_spacing: 'leading',
    });
    expect(p.component('unet').config).toMatchObject({ use_linear_projection: true, upcast_attention: true });
    expect(Array.isArray(p.component('unet').config?.attention_head_dim)).toBe(true);
    const te = await p.component('text_encoder').openWeights();
    expect(te.format).toBe('safetensors');
    expect(te.keys()).toContain('text_model.final_layer_norm.weight');
    await te.close();
  });

  it('unet_3lvl: the fp16 variant file when asked for, the F32 file otherwise (component folder and openWeights on the folder)', async () => {
    const dir = join(fixtures, 'unet/unet_3lvl');
    const c = await openHubComponent((await import('../../src/io/node-fs.js')).nodeFileTree(dir));
    expect(c.className).toBe('UNet2DConditionModel');
    expect(c.weightFiles).toEqual(['diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.safetensors']);
    expect(await c.resolveWeights({ variant: 'fp16' })).toEqual({
      file: 'diffusion_pytorch_model.fp16.safetensors',
      sharded: false,
      variant: 'fp16',
    });
    const w16 = await openWeights(dir, { variant: 'fp16' });
    const w32 = await openWeights(dir);
    expect(w16.path).toMatch(/diffusion_pytorch_model\.fp16\.safetensors$/);
    expect(w32.path).toMatch(/diffusion_pytorch_model\.safetensors$/);
    const k = w32.keys()[0] as string;
    expect(w16.info(k)?.dtype).toBe('F16');
    expect(w32.info(k)?.dtype).toBe('F32');
    expect(await w16.read(k, 'f16')).toEqual(await w32.read(k, 'f16'));
    await w16.close();
    await w32.close();
  });

  it('.bin fallback, sharded .bin and sharded safetensors variants, and a folder given in memory (browser)', async () => {
    const t = await tmp;
    const comp = join(t, 'pipe/unet');
    await mkdir(comp, { recursive: true });
    await writeFile(
      join(t, 'pipe/model_index.json'),
      JSON.stringify({ _class_name: 'X', unet: ['diffusers', 'UNet2DConditionModel'], vae: [null, null] }),
    );
    await writeFile(join(comp, 'config.json'), '{"_class_name": "UNet2DConditionModel", "bad": NaN}');
    await copyFile(join(fixtures, 'checkpoints/views_zip.pt'), join(comp, 'diffusion_pytorch_model.bin'));
    let p = await openHubPipeline(join(t, 'pipe'));
    expect(Number.isNaN(p.component('unet').config?.bad)).toBe(true);
    expect(await p.component('unet').resolveWeights()).toEqual({ file: 'unet/diffusion_pytorch_model.bin', sharded: false, variant: null });
    const bin = await p.component('unet').openWeights();
    expect(bin.format).toBe('torch-zip');
    await bin.close();
    // Sharded .bin (preferred over nothing) and a sharded safetensors fp16 variant (preferred over .bin when asked).
    const shard = (name: string, v: number) =>
      torchZip(
        pickle(
          op.proto(2),
          stateDictOps([{ name, storageType: 'FloatStorage', key: '0', numel: 1, offset: 0, shape: [1], stride: [1] }]),
          op.stop,
        ),
        {
          0: f32Bytes([v]),
        },
      );
    await rm(join(comp, 'diffusion_pytorch_model.bin'));
    await writeFile(join(comp, 'diffusion_pytorch_model-00001-of-00002.bin'), shard('a', 1));
    await writeFile(join(comp, 'diffusion_pytorch_model-00002-of-00002.bin'), shard('b', 2));
    await writeFile(
      join(comp, 'diffusion_pytorch_model.bin.index.json'),
      JSON.stringify({ weight_map: { a: 'diffusion_pytorch_model-00001-of-00002.bin', b: 'diffusion_pytorch_model-00002-of-00002.bin' } }),
    );
    await writeFile(
      join(comp, 'diffusion_pytorch_model.fp16.safetensors'),
      encodeSafetensors({ a: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) } }),
    );
    p = await openHubPipeline(join(t, 'pipe'));
    expect(await p.component('unet').resolveWeights()).toEqual({
      file: 'unet/diffusion_pytorch_model.bin.index.json',
      sharded: true,
      variant: null,
    });
    const sharded = await p.component('unet').openWeights();
    expect(sharded.format).toBe('sharded');
    expect([...(await sharded.read('a')), ...(await sharded.read('b'))]).toEqual([1, 2]);
    await sharded.close();
    expect(await p.component('unet').resolveWeights({ variant: 'fp16' })).toEqual({
      file: 'unet/diffusion_pytorch_model.fp16.safetensors',
      sharded: false,
      variant: 'fp16',
    });
    expect(addVariant('diffusion_pytorch_model.safetensors.index.json', 'fp16')).toBe(
      'diffusion_pytorch_model.safetensors.index.fp16.json',
    );
    // The same layout from memory, as a browser folder picker would give it.
    const mem = memoryFileTree(
      new Map<string, Uint8Array | Blob>([
        ['model_index.json', new TextEncoder().encode(JSON.stringify({ _class_name: 'X', unet: ['diffusers', 'UNet2DConditionModel'] }))],
        ['unet/config.json', new TextEncoder().encode('{"lambda": -Infinity}')],
        [
          'unet/diffusion_pytorch_model.safetensors',
          new Blob([encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) } }) as BlobPart]),
        ],
      ]),
      'dropped',
    );
    const mp = await openHubPipeline(mem);
    expect(mp.component('unet').config?.lambda).toBe(Number.NEGATIVE_INFINITY);
    const mw = await mp.component('unet').openWeights();
    expect(mw.path).toBe('dropped/unet/diffusion_pytorch_model.safetensors');
    expect([...(await mw.read('w'))]).toEqual([3, 4]);
  });

  it('explains what is wrong with a folder that is not a complete pipeline', async () => {
    const t = await tmp;
    const e1 = await openHubPipeline(join(fixtures, 'unet/unet_3lvl')).catch((x: unknown) => x as MedgpuError);
    expect(e1).toBeInstanceOf(ConfigError);
    expect((e1 as Error).message).toMatch(/unet_3lvl: no model_index\.json, so not a pipeline folder \(it looks like a single component/);
    const half = join(t, 'half');
    await mkdir(half);
    await writeFile(
      join(half, 'model_index.json'),
      JSON.stringify({
        _class_name: 'StableDiffusionPipeline',
        unet: ['diffusers', 'UNet2DConditionModel'],
        vae: ['diffusers', 'AutoencoderKL'],
      }),
    );
    const e2 = await openHubPipeline(half).catch((x: unknown) => x as MedgpuError);
    expect((e2 as Error).message).toMatch(/model_index\.json declares unet, vae but the folder has no such sub-folder/);
    await mkdir(join(half, 'unet'));
    await mkdir(join(half, 'vae'));
    await writeFile(join(half, 'vae/config.json'), '{"a": 1,}');
    const e3 = await openHubPipeline(half).catch((x: unknown) => x as MedgpuError);
    expect((e3 as Error).message).toMatch(/half\/vae\/config\.json: invalid JSON at line 1, column 9: expected a string key/);
    await writeFile(join(half, 'vae/config.json'), '{}');
    const p = await openHubPipeline(half);
    const e4 = await p
      .component('unet')
      .openWeights()
      .catch((x: unknown) => x as MedgpuError);
    expect((e4 as Error).message).toMatch(
      /half\/unet: no weight file \(looked for diffusion_pytorch_model\.safetensors, .*\); the folder has \(empty\)/,
    );
  });
});
