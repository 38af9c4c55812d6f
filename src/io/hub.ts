import { ConfigError, FileFormatError } from '../runtime/errors.js';
import { type FileTree, joinPath } from './file-tree.js';
import { parseJsonLenient } from './json.js';
import { openShardedWeights } from './sharded.js';
import type { ByteSource } from './source.js';
import type { WeightSource } from './weight-source.js';
import { weightSourceFromByteSource } from './weights.js';

/**
 * Hugging Face hub folder layouts, as `save_pretrained` writes them: a pipeline folder with `model_index.json`
 * naming its components, one sub-folder per component with its config (`config.json`,
 * `scheduler_config.json`, ...) and weights (`diffusion_pytorch_model.safetensors`, `model.safetensors`, their
 * `.fp16` variants, sharded `*.index.json`, or the `.bin` fallback).
 */

/** Config file names, in the order a component folder is searched. */
const CONFIG_FILES = ['config.json', 'scheduler_config.json', 'preprocessor_config.json', 'tokenizer_config.json'];

/** Weight file bases, in diffusers' / transformers' order of preference (safetensors first, `.bin` last). */
const WEIGHT_NAMES = [
  'diffusion_pytorch_model.safetensors',
  'model.safetensors',
  'diffusion_pytorch_model.bin',
  'pytorch_model.bin',
] as const;

const WEIGHT_EXTENSIONS = ['.safetensors', '.bin', '.ckpt', '.pt', '.pth'];

/** diffusers `_add_variant`: the variant goes before the last extension (`model.fp16.safetensors`, `x.index.fp16.json`). */
export function addVariant(file: string, variant: string | undefined): string {
  if (!variant) return file;
  const parts = file.split('.');
  return [...parts.slice(0, -1), variant, parts.at(-1)].join('.');
}

export interface WeightFileChoice {
  /** Path inside the tree. */
  file: string;
  sharded: boolean;
  /** The variant the file has, or null (also when a requested variant was missing and the standard file is used). */
  variant: string | null;
}

export interface HubComponent {
  name: string;
  /** Folder inside the tree ('' for a component opened at the tree root). */
  dir: string;
  /** As shown in messages. */
  displayPath: string;
  /** From model_index.json: `["diffusers", "UNet2DConditionModel"]`; null when not in a pipeline. */
  library: string | null;
  className: string | null;
  /** The config file found (path inside the tree) and its parsed content; YAML configs are listed, not parsed. */
  configFile: string | null;
  config: Record<string, unknown> | null;
  /** Every weight-like file in the folder. */
  weightFiles: string[];
  /** Which weight file `openWeights` would use (null when the component has no weights, e.g. a scheduler). */
  resolveWeights(opts?: { variant?: string }): Promise<WeightFileChoice | null>;
  openWeights(opts?: { variant?: string; stateDictKey?: string }): Promise<WeightSource>;
  readText(file: string): Promise<string>;
  open(file: string): Promise<ByteSource>;
}

export interface HubPipeline {
  root: string;
  className: string;
  /** model_index.json as parsed (component entries and options such as `requires_safety_checker`). */
  modelIndex: Record<string, unknown>;
  /** Components present (declared with a library and class), in model_index order. */
  components: Map<string, HubComponent>;
  /** Components declared as `[null, null]` (e.g. `safety_checker`). */
  absent: string[];
  /** A component by name, or a `ConfigError` saying which ones exist. */
  component(name: string): HubComponent;
}

/** Reads a JSON config leniently (bare NaN / Infinity / -Infinity, as Python writes them). */
export async function readJsonConfig(tree: FileTree, path: string): Promise<Record<string, unknown>> {
  const text = await tree.readText(path);
  const v = parseJsonLenient(text, tree.display(path));
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError('BAD_CONFIG', `${tree.display(path)}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Chooses the weight file of a component folder, as diffusers / transformers `from_pretrained` would. */
export async function resolveComponentWeights(
  tree: FileTree,
  dir: string,
  opts: { variant?: string } = {},
): Promise<WeightFileChoice | null> {
  const files = new Set((await tree.list(dir)).filter((e) => !e.isDir).map((e) => e.name));
  const variants = opts.variant ? [opts.variant, undefined] : [undefined];
  for (const v of variants) {
    for (const base of WEIGHT_NAMES) {
      const single = addVariant(base, v);
      if (files.has(single)) return { file: joinPath(dir, single), sharded: false, variant: v ?? null };
      const index = addVariant(`${base}.index.json`, v);
      if (files.has(index)) return { file: joinPath(dir, index), sharded: true, variant: v ?? null };
    }
  }
  // Not a hub name (MedVAE's model.safetensors is covered above; other tools use their own names): take the
  // folder's only weight file, if there is exactly one.
  const others = [...files].filter((f) => WEIGHT_EXTENSIONS.some((x) => f.endsWith(x)));
  if (others.length === 1) return { file: joinPath(dir, others[0] as string), sharded: false, variant: null };
  if (others.length > 1) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${tree.display(dir)}: several weight files (${others.join(', ')}) and none with a standard hub name; open one of them directly`,
    );
  }
  return null;
}

/** Opens the weights of a component folder (see `resolveComponentWeights`). */
export async function openComponentWeights(
  tree: FileTree,
  dir: string,
  opts: { variant?: string; stateDictKey?: string } = {},
): Promise<WeightSource> {
  const choice = await resolveComponentWeights(tree, dir, opts);
  if (!choice) {
    const names = (await tree.list(dir)).map((e) => e.name).join(', ') || '(empty)';
    throw new FileFormatError(
      'BAD_FILE',
      `${tree.display(dir)}: no weight file (looked for ${WEIGHT_NAMES.join(', ')} and their .index.json); the folder has ${names}`,
    );
  }
  if (!choice.sharded) return weightSourceFromByteSource(await tree.open(choice.file), opts);
  const folder = choice.file.includes('/') ? choice.file.slice(0, choice.file.lastIndexOf('/')) : '';
  return openShardedWeights(await tree.readText(choice.file), tree.display(choice.file), async (shard) =>
    weightSourceFromByteSource(await tree.open(joinPath(folder, shard)), opts),
  );
}

/** A component folder: its config and weights. `ref` is its model_index.json entry, when in a pipeline. */
export async function openHubComponent(
  tree: FileTree,
  dir = '',
  ref: { name?: string; library?: string | null; className?: string | null } = {},
): Promise<HubComponent> {
  const entries = await tree.list(dir);
  if ((await tree.kind(dir)) !== 'dir') throw new FileFormatError('BAD_FILE', `${tree.display(dir)}: no such folder`);
  const files = entries.filter((e) => !e.isDir).map((e) => e.name);
  let configFile: string | null = null;
  let config: Record<string, unknown> | null = null;
  const json = CONFIG_FILES.find((f) => files.includes(f));
  if (json) {
    configFile = joinPath(dir, json);
    config = await readJsonConfig(tree, configFile);
  } else {
    const yaml = files.find((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
    if (yaml) configFile = joinPath(dir, yaml);
  }
  const classFromConfig = typeof config?._class_name === 'string' ? config._class_name : null;
  const name = ref.name ?? (dir.split('/').at(-1) || tree.root.split(/[\\/]/).at(-1) || tree.root);
  return {
    name,
    dir,
    displayPath: tree.display(dir),
    library: ref.library ?? null,
    className: ref.className ?? classFromConfig,
    configFile,
    config,
    weightFiles: files.filter((f) => WEIGHT_EXTENSIONS.some((x) => f.endsWith(x)) || /\.index(\.[^.]+)?\.json$/.test(f)),
    resolveWeights: (opts) => resolveComponentWeights(tree, dir, opts),
    openWeights: (opts) => openComponentWeights(tree, dir, opts),
    readText: (file) => tree.readText(joinPath(dir, file)),
    open: (file) => tree.open(joinPath(dir, file)),
  };
}

/** Opens a pipeline folder (path on Node, or any `FileTree`): model_index.json and each component. */
export async function openHubPipeline(dir: string | FileTree): Promise<HubPipeline> {
  const tree = typeof dir === 'string' ? (await import('./node-fs.js')).nodeFileTree(dir) : dir;
  if ((await tree.kind('model_index.json')) !== 'file') {
    throw new ConfigError(
      'BAD_CONFIG',
      `${tree.display('')}: no model_index.json, so not a pipeline folder${(await tree.kind('config.json')) === 'file' ? ' (it looks like a single component: use openHubComponent / openWeights)' : ''}`,
    );
  }
  const modelIndex = await readJsonConfig(tree, 'model_index.json');
  const className = typeof modelIndex._class_name === 'string' ? modelIndex._class_name : '';
  const components = new Map<string, HubComponent>();
  const absent: string[] = [];
  const missing: string[] = [];
  for (const [name, v] of Object.entries(modelIndex)) {
    if (name.startsWith('_') || !Array.isArray(v) || v.length !== 2) continue;
    const [library, cls] = v as [unknown, unknown];
    if (library === null || cls === null) {
      absent.push(name);
      continue;
    }
    if (typeof library !== 'string' || typeof cls !== 'string') {
      throw new ConfigError(
        'BAD_CONFIG',
        `${tree.display('model_index.json')}: component ${name} is ${JSON.stringify(v)}, not [library, class]`,
      );
    }
    if ((await tree.kind(name)) !== 'dir') {
      missing.push(name);
      continue;
    }
    components.set(name, await openHubComponent(tree, name, { name, library, className: cls }));
  }
  if (missing.length) {
    throw new ConfigError(
      'BAD_CONFIG',
      `${tree.display('')}: model_index.json declares ${missing.join(', ')} but the folder has no such sub-folder(s); the download is incomplete`,
    );
  }
  return {
    root: tree.root,
    className,
    modelIndex,
    components,
    absent,
    component(name) {
      const c = components.get(name);
      if (!c) {
        throw new ConfigError(
          'BAD_CONFIG',
          `${tree.display('')}: the pipeline has no component "${name}" (it has ${[...components.keys()].join(', ')})`,
        );
      }
      return c;
    },
  };
}
