/**
 * Loading a diffusers Stable Diffusion pipeline folder (`model_index.json` + tokenizer/, text_encoder/, unet/,
 * vae/, scheduler/) into GPU models, from a path (Node) or any `FileTree` (browser, in memory).
 */
import { type FileTree, joinPath } from '../../io/file-tree.js';
import { type HubPipeline, openHubPipeline, readJsonConfig } from '../../io/hub.js';
import { parseJsonLenient } from '../../io/json.js';
import { CLIPTextModel } from '../../nn/clip/text-model.js';
import { UNet2DConditionModel } from '../../nn/unet/unet-2d-condition.js';
import { AutoencoderKL } from '../../nn/vae/autoencoder-kl.js';
import type { DType } from '../../runtime/dtype.js';
import { ConfigError, MedgpuError } from '../../runtime/errors.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { SchedulerConfig } from '../schedulers/config.js';
import { ClipTokenizer, type ClipTokenizerOptions } from '../tokenizer/clip-tokenizer.js';

export interface PipelineLoadOptions {
  /** Storage dtype of weights and activations: 'f32' (default) or 'f16' (needs the adapter's shader-f16). */
  dtype?: DType;
  /** Weight file variant, e.g. "fp16" (`diffusion_pytorch_model.fp16.safetensors`); falls back to the standard files. */
  variant?: string;
  /** Loading progress: which component, and bytes of its weights done / total. */
  onProgress?: (component: string, doneBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/** The models of a Stable Diffusion pipeline, loaded. */
export interface DiffusionComponents {
  /** Where the pipeline came from (shown in metadata and messages). */
  source: string;
  tokenizer: ClipTokenizer;
  textEncoder: CLIPTextModel;
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  /** `scheduler/scheduler_config.json` as stored (`_class_name` included). */
  schedulerConfig: SchedulerConfig;
  /** The UNet config's `sample_size` (latent pixels): the default image size is this × the VAE scale factor. */
  unetSampleSize: number;
  dtype: DType;
}

/** The part of `tree` under `dir`, as its own tree (component folders of a pipeline). */
export function subTree(tree: FileTree, dir: string): FileTree {
  const p = (x: string) => joinPath(dir, x);
  return {
    root: tree.display(dir),
    display: (x) => tree.display(p(x)),
    list: (d) => tree.list(p(d)),
    kind: (x) => tree.kind(p(x)),
    open: (x) => tree.open(p(x)),
    readText: (x) => tree.readText(p(x)),
  };
}

/** The CLIP tokenizer of a `tokenizer/` folder (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json). */
export async function loadTokenizer(tree: FileTree, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
  for (const f of ['vocab.json', 'merges.txt']) {
    if ((await tree.kind(f)) !== 'file') {
      throw new ConfigError('BAD_CONFIG', `${tree.display('')}: no ${f}; a CLIP tokenizer folder needs vocab.json and merges.txt`);
    }
  }
  const optional = async (f: string) => ((await tree.kind(f)) === 'file' ? await readJsonConfig(tree, f) : undefined);
  return new ClipTokenizer(
    {
      vocab: parseJsonLenient(await tree.readText('vocab.json'), tree.display('vocab.json')) as Record<string, number>,
      merges: await tree.readText('merges.txt'),
      tokenizerConfig: await optional('tokenizer_config.json'),
      specialTokensMap: await optional('special_tokens_map.json'),
      source: tree.display(''),
    },
    options,
  );
}

const SD_CLASSES = ['StableDiffusionPipeline', 'StableDiffusionImg2ImgPipeline', 'StableDiffusionInpaintPipeline'];

/** Reads a pipeline folder and loads every model onto `gpu` (released again if any of them fails). */
export async function loadComponents(gpu: Gpu, dir: string | FileTree, opts: PipelineLoadOptions = {}): Promise<DiffusionComponents> {
  const dtype = opts.dtype ?? 'f32';
  if (dtype === 'f16' && !gpu.hasF16) {
    throw new MedgpuError(
      'MISSING_FEATURE',
      "dtype 'f16' needs the adapter's 'shader-f16' feature, which this adapter lacks: use dtype 'f32'",
    );
  }
  const tree = typeof dir === 'string' ? (await import('../../io/node-fs.js')).nodeFileTree(dir) : dir;
  const hub: HubPipeline = await openHubPipeline(tree);
  if (!SD_CLASSES.includes(hub.className)) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${tree.display('model_index.json')}: "_class_name" is ${JSON.stringify(hub.className)}; medgpu runs Stable Diffusion 1.x/2.x pipelines (${SD_CLASSES.join(', ')})`,
    );
  }
  for (const name of ['tokenizer', 'text_encoder', 'unet', 'vae', 'scheduler']) hub.component(name);
  const sched = hub.component('scheduler');
  if (!sched.config) throw new ConfigError('BAD_CONFIG', `${sched.displayPath}: no scheduler_config.json`);
  const progress = (name: string) => (done: number, total: number) => opts.onProgress?.(name, done, total);
  const load = { dtype, variant: opts.variant, signal: opts.signal };
  const tokenizer = await loadTokenizer(subTree(tree, 'tokenizer'));
  const loaded: { release(): void }[] = [];
  try {
    // Weights get exact-size buffers (the UNet and VAE ask for them themselves): see BufferPool.
    const textEncoder = await gpu.pool.exactSizes(() =>
      CLIPTextModel.fromPretrained(gpu, subTree(tree, 'text_encoder'), { ...load, onProgress: progress('text_encoder') }),
    );
    loaded.push(textEncoder);
    const unet = await UNet2DConditionModel.fromPretrained(gpu, subTree(tree, 'unet'), { ...load, onProgress: progress('unet') });
    loaded.push(unet);
    const vae = await AutoencoderKL.fromPretrained(gpu, subTree(tree, 'vae'), { ...load, onProgress: progress('vae') });
    loaded.push(vae);
    const sample = hub.component('unet').config?.sample_size;
    const unetSampleSize = typeof sample === 'number' ? sample : Array.isArray(sample) && typeof sample[0] === 'number' ? sample[0] : 64;
    return { source: tree.root, tokenizer, textEncoder, unet, vae, schedulerConfig: sched.config, unetSampleSize, dtype };
  } catch (e) {
    for (const m of loaded) m.release();
    throw e;
  }
}
