/**
 * Runs one case of the MedVAE reference fixtures (`fixtures/medvae/manifest.json`, see its README) through
 * the engine and returns every output the case stores, by name, in the reference's layout (channels-first,
 * batch axis kept): what `medgpu verify` and the tests compare against the stored tensors.
 *
 * Cases: `medvae.utils.loaders.load_2d` (the PNGs through `load_2d`), `load_ct_3d` / `load_mri_3d` (the
 * NIfTI files), and `medvae AutoencoderKL_2D|3D` (encode → moments, mean, logvar, std, z = mean + std·eps
 * with the stored eps, decode of z and of the mean, the stage-2 latent of both, and for 3D the MVAE latent
 * through the sliding window with eps drawn from `torch.manual_seed(torch_seed_before_sample)`).
 * Node only (it reads the fixture files), but imports Node's modules on use.
 */
import { readNifti } from '../../io/nifti.js';
import { readImage } from '../../io/read-image.js';
import { openWeights } from '../../io/weights.js';
import { MedVAEAutoencoder } from '../../nn/medvae/autoencoder.js';
import { medvaeModelInfo, parseMedVAEConfigText } from '../../nn/medvae/config.js';
import { ConfigError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import { TorchGenerator } from '../rng.js';
import { toChannelsFirst, toChannelsLast } from './layout.js';
import { MedVAE } from './medvae.js';
import { preprocess2D } from './preprocess-2d.js';
import { preprocess3D } from './preprocess-3d.js';

const join = (dir: string, name: string) => (dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`);

export interface MedvaeCase {
  name: string;
  module: string;
  params?: Record<string, unknown>;
}

export interface CaseTensor {
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface MedvaeCaseContext {
  gpu: Gpu;
  /** The manifest's folder (case files and `inputs/` are relative to it). */
  caseDir: string;
  /** The case's model folder (config.yaml + model.safetensors), for model cases. */
  modelDir?: string;
  /** The case's input tensors by name. */
  input: (name: string) => CaseTensor;
}

/** True for the modules `computeMedvaeCase` knows. */
export function isMedvaeModule(module: string): boolean {
  return module.startsWith('medvae');
}

export async function computeMedvaeCase(ctx: MedvaeCaseContext, c: MedvaeCase): Promise<Map<string, Float32Array>> {
  const params = c.params ?? {};
  if (c.module === 'medvae.utils.loaders.load_2d') {
    const files = params.files as string[];
    const [gray, rgb] = await Promise.all(files.map((f) => readImage(join(ctx.caseDir, f))));
    if (!gray || !rgb) throw new ConfigError('BAD_CONFIG', `${c.name}: params.files must name the gray and the RGB image`);
    return new Map([
      ['gray_merge_channels', preprocess2D(gray, { mergeChannels: true, modelChannels: 1 }).data],
      ['rgb_no_merge', preprocess2D(rgb, { mergeChannels: false, modelChannels: 3 }).data],
      ['rgb_merge_channels', preprocess2D(rgb, { mergeChannels: true, modelChannels: 1 }).data],
    ]);
  }
  if (c.module === 'medvae.utils.loaders.load_ct_3d' || c.module === 'medvae.utils.loaders.load_mri_3d') {
    const vol = await readNifti(join(ctx.caseDir, params.file as string));
    return new Map([['preprocessed', preprocess3D(vol, c.module.endsWith('ct_3d') ? 'ct' : 'mri').data]]);
  }
  if (c.module === 'medvae AutoencoderKL_2D' || c.module === 'medvae AutoencoderKL_3D') return forwardCase(ctx, c);
  throw new ConfigError('BAD_CONFIG', `${c.name}: unknown MedVAE fixture module "${c.module}"`);
}

async function forwardCase(ctx: MedvaeCaseContext, c: MedvaeCase): Promise<Map<string, Float32Array>> {
  const { gpu } = ctx;
  if (!ctx.modelDir) throw new ConfigError('BAD_CONFIG', `${c.name}: a model case needs its model folder`);
  const modelName = ctx.modelDir.replace(/\/+$/, '').split('/').pop() as string;
  const info = medvaeModelInfo(modelName);
  const configPath = join(ctx.modelDir, 'config.yaml');
  const { readTextFile } = await import('../../io/node-fs.js');
  const config = parseMedVAEConfigText(await readTextFile(configPath), configPath);
  const src = await openWeights(join(ctx.modelDir, 'model.safetensors'));
  const out = new Map<string, Float32Array>();
  try {
    const model = new MedVAEAutoencoder(config, { dims: info.dims, fileShape: (k) => src.info(k)?.shape, loraDefault: info.lora });
    await model.load(gpu, src);
    const x = ctx.input('x');
    const eps = ctx.input('eps');
    const upload = (t: CaseTensor) =>
      gpu.upload(toChannelsLast(Float32Array.from(t.data), t.shape[1] as number), [
        t.shape[0] as number,
        ...t.shape.slice(2),
        t.shape[1] as number,
      ]);
    const read = async (t: Tensor) => toChannelsFirst(new Float32Array(await gpu.read(t)), t.dim(-1));
    await gpu.scopeAsync(async () => {
      const moments = model.moments(gpu, upload(x));
      const mean = model.posterior(gpu, moments, 'mean');
      const z = model.posterior(gpu, moments, 'sample', upload(eps));
      const outputs: [string, Tensor][] = [
        ['moments', moments],
        ['mean', mean],
        ['logvar', model.posterior(gpu, moments, 'logvar')],
        ['std', model.posterior(gpu, moments, 'std')],
        ['z_sample', z],
        ['recon_from_z_sample', model.decode(gpu, z)],
        ['recon_from_mean', model.decode(gpu, mean)],
        ['latent_s2_from_z_sample', model.stage2(gpu, z)],
        ['latent_s2_from_mean', model.stage2(gpu, mean)],
      ];
      for (const [name, t] of outputs) out.set(name, await read(t));
    });
    if (info.dims === 3) {
      // The MVAE path: preprocessed volume → sliding window → sampled z, eps from the seeded global generator.
      const mvae = MedVAE.fromModel(gpu, modelName, model);
      const seed = Number(c.params?.torch_seed_before_sample);
      const r = await mvae.encode(
        { channels: x.shape[1] as number, spatial: x.shape.slice(2) as number[], data: Float32Array.from(x.data) },
        { generator: new TorchGenerator(seed) },
      );
      out.set('mvae_forward_latent', r.latent.data);
    }
    model.release();
  } finally {
    await src.close();
  }
  return out;
}
