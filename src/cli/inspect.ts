import type { Command } from 'commander';
import {
  axcodes,
  type HubComponent,
  type Image,
  type NiftiVolume,
  niftiToFloat32,
  openHubComponent,
  openHubPipeline,
  openWeights,
  readImage,
  readNifti,
  type WeightSource,
  weightTotals,
} from '../io/index.js';

/**
 * `medgpu inspect PATH`: what a weight file, hub folder, image or volume holds, without a GPU. The report is
 * plain data (`--json` prints it); `formatInspect` renders it for people.
 */

export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
}

export interface WeightsReport {
  path: string;
  format: string;
  tensors: number;
  params: number;
  bytes: number;
  dtypes: Record<string, number>;
  metadata: Record<string, string>;
  list?: TensorRow[];
}

export interface ComponentReport {
  name: string;
  library: string | null;
  className: string | null;
  configFile: string | null;
  /** The config values that say most about the component. */
  facts: Record<string, unknown>;
  weights: (WeightsReport & { variant: string | null }) | null;
}

export type InspectReport =
  | {
      kind: 'pipeline';
      path: string;
      className: string;
      diffusersVersion: string | null;
      components: ComponentReport[];
      absent: string[];
      totals: Totals;
    }
  | { kind: 'component'; path: string; component: ComponentReport }
  | { kind: 'weights'; path: string; weights: WeightsReport }
  | { kind: 'image'; path: string; width: number; height: number; channels: number; bitDepth: number; text: Record<string, string> }
  | {
      kind: 'volume';
      path: string;
      shape: number[];
      dtype: string;
      zooms: number[];
      affineSource: string;
      affine: number[][];
      axcodes: string;
      scaling: { slope: number; inter: number } | null;
      range: [number, number];
    };

interface Totals {
  weightFiles: number;
  params: number;
  bytes: number;
}

export interface InspectOptions {
  /** List every tensor (name, dtype, shape). */
  tensors?: boolean;
  /** Weight variant to prefer in hub folders (e.g. fp16). */
  variant?: string;
}

const FACTS: [RegExp, string[]][] = [
  [
    /^UNet/,
    [
      'in_channels',
      'out_channels',
      'block_out_channels',
      'layers_per_block',
      'attention_head_dim',
      'cross_attention_dim',
      'use_linear_projection',
      'upcast_attention',
      'sample_size',
    ],
  ],
  [
    /^Autoencoder/,
    ['in_channels', 'out_channels', 'latent_channels', 'block_out_channels', 'layers_per_block', 'scaling_factor', 'sample_size'],
  ],
  [
    /^CLIPText/,
    ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'hidden_act', 'vocab_size', 'max_position_embeddings'],
  ],
  [
    /Scheduler$/,
    [
      'prediction_type',
      'beta_schedule',
      'beta_start',
      'beta_end',
      'num_train_timesteps',
      'timestep_spacing',
      'steps_offset',
      'algorithm_type',
      'solver_order',
    ],
  ],
  [/Tokenizer$/, ['model_max_length', 'pad_token', 'do_lower_case']],
  [/(ImageProcessor|FeatureExtractor)$/, ['size', 'crop_size', 'do_normalize']],
];

function factsOf(className: string | null, config: Record<string, unknown> | null): Record<string, unknown> {
  if (!config) return {};
  const keys = FACTS.find(([re]) => className && re.test(className))?.[1];
  const out: Record<string, unknown> = {};
  const pick =
    keys ??
    Object.keys(config)
      .filter((k) => !k.startsWith('_') && ['number', 'string', 'boolean'].includes(typeof config[k]))
      .slice(0, 8);
  for (const k of pick) {
    if (!(k in config)) continue;
    const v = config[k];
    // Tokenizer configs store special tokens as {content: ...} objects.
    out[k] = typeof v === 'object' && v !== null && 'content' in v ? (v as { content: unknown }).content : v;
  }
  return out;
}

function weightsReport(w: WeightSource, opts: InspectOptions): WeightsReport {
  const t = weightTotals(w);
  return {
    path: w.path,
    format: w.format,
    tensors: t.tensors,
    params: t.params,
    bytes: t.bytes,
    dtypes: t.dtypes,
    metadata: { ...w.metadata },
    ...(opts.tensors
      ? { list: w.keys().map((name) => ({ name, dtype: w.info(name)?.dtype ?? '?', shape: w.info(name)?.shape ?? [] })) }
      : {}),
  };
}

async function componentReport(c: HubComponent, opts: InspectOptions): Promise<ComponentReport> {
  const choice = await c.resolveWeights({ variant: opts.variant });
  let weights: ComponentReport['weights'] = null;
  if (choice) {
    const w = await c.openWeights({ variant: opts.variant });
    try {
      weights = { ...weightsReport(w, opts), variant: choice.variant };
    } finally {
      await w.close();
    }
  }
  return {
    name: c.name,
    library: c.library,
    className: c.className,
    configFile: c.configFile,
    facts: factsOf(c.className, c.config),
    weights,
  };
}

function imageReport(path: string, img: Image): InspectReport {
  return {
    kind: 'image',
    path,
    width: img.width,
    height: img.height,
    channels: img.channels,
    bitDepth: img.bitDepth,
    text: img.text ?? {},
  };
}

function volumeReport(path: string, v: NiftiVolume): InspectReport {
  const f = niftiToFloat32(v);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const x of f) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return {
    kind: 'volume',
    path,
    shape: v.shape,
    dtype: v.dtype,
    zooms: v.zooms,
    affineSource: v.affineSource,
    affine: v.affine,
    axcodes: axcodes(v.affine),
    scaling: v.scaling,
    range: [lo, hi],
  };
}

/** Inspects a file or folder (Node). */
export async function inspectPath(path: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const { pathKind, nodeFileTree } = await import('../io/node-fs.js');
  const kind = await pathKind(path);
  if (kind === 'dir') {
    const tree = nodeFileTree(path);
    if ((await tree.kind('model_index.json')) === 'file') {
      const p = await openHubPipeline(tree);
      const components: ComponentReport[] = [];
      for (const c of p.components.values()) components.push(await componentReport(c, opts));
      const withWeights = components.filter((c) => c.weights);
      return {
        kind: 'pipeline',
        path,
        className: p.className,
        diffusersVersion: typeof p.modelIndex._diffusers_version === 'string' ? p.modelIndex._diffusers_version : null,
        components,
        absent: p.absent,
        totals: {
          weightFiles: withWeights.length,
          params: withWeights.reduce((s, c) => s + (c.weights?.params ?? 0), 0),
          bytes: withWeights.reduce((s, c) => s + (c.weights?.bytes ?? 0), 0),
        },
      };
    }
    return { kind: 'component', path, component: await componentReport(await openHubComponent(tree), opts) };
  }
  const lower = path.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) return volumeReport(path, await readNifti(path));
  if (/\.(png|jpe?g)$/.test(lower)) return imageReport(path, await readImage(path));
  const w = await openWeights(path);
  try {
    return { kind: 'weights', path, weights: weightsReport(w, opts) };
  } finally {
    await w.close();
  }
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function formatWeights(w: WeightsReport, indent: string): string[] {
  const dtypes = Object.entries(w.dtypes)
    .map(([d, n]) => `${d}×${n}`)
    .join(' ');
  const lines = [
    `${indent}weights: ${w.path} (${w.format}): ${w.tensors} tensors, ${formatCount(w.params)} params, ${formatBytes(w.bytes)} [${dtypes}]`,
  ];
  const meta = Object.entries(w.metadata);
  if (meta.length) lines.push(`${indent}metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (w.list) {
    const width = Math.min(72, Math.max(...w.list.map((t) => t.name.length), 4));
    for (const t of w.list) lines.push(`${indent}  ${t.name.padEnd(width)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`);
  }
  return lines;
}

function formatComponent(c: ComponentReport, indent: string): string[] {
  const lines = [
    `${indent}${c.name}: ${[c.library, c.className].filter(Boolean).join(' ') || '(no class)'}${c.configFile ? `  (${c.configFile})` : ''}`,
  ];
  const facts = Object.entries(c.facts);
  if (facts.length) lines.push(`${indent}  config: ${facts.map(([k, v]) => `${k}=${show(v)}`).join(' ')}`);
  if (c.weights) lines.push(...formatWeights(c.weights, `${indent}  `));
  return lines;
}

export function formatInspect(r: InspectReport): string {
  switch (r.kind) {
    case 'pipeline':
      return [
        `${r.path}: ${r.className}${r.diffusersVersion ? ` (diffusers ${r.diffusersVersion})` : ''}`,
        ...r.components.flatMap((c) => formatComponent(c, '  ')),
        ...(r.absent.length ? [`  absent: ${r.absent.join(', ')}`] : []),
        `total: ${r.totals.weightFiles} weight files, ${formatCount(r.totals.params)} params, ${formatBytes(r.totals.bytes)}`,
      ].join('\n');
    case 'component':
      return [`${r.path}:`, ...formatComponent(r.component, '  ')].join('\n');
    case 'weights':
      return [`${r.path}:`, ...formatWeights(r.weights, '  ')].join('\n');
    case 'image':
      return [
        `${r.path}: image ${r.width}x${r.height}, ${r.channels} channel${r.channels > 1 ? 's' : ''}, ${r.bitDepth}-bit`,
        ...Object.entries(r.text).map(([k, v]) => `  ${k}: ${v}`),
      ].join('\n');
    case 'volume':
      return [
        `${r.path}: NIfTI-1 volume [${r.shape.join(', ')}] ${r.dtype}, voxel sizes [${r.zooms.map((z) => +z.toFixed(4)).join(', ')}], orientation ${r.axcodes}`,
        `  scaling: ${r.scaling ? `stored * ${r.scaling.slope} + ${r.scaling.inter}` : 'none'}; values ${r.range[0]} .. ${r.range[1]}`,
        `  affine (${r.affineSource}):`,
        ...r.affine.map((row) => `    [${row.map((x) => (+x.toFixed(6)).toString().padStart(10)).join(' ')}]`),
      ].join('\n');
  }
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'show what a weight file, hub pipeline/component folder, image or NIfTI volume holds: components, configs, tensors, parameter counts, bytes',
    )
    .argument('<path>', '.safetensors / *.index.json / .ckpt / .pt / .bin, a hub folder, .png / .jpg, .nii / .nii.gz')
    .option('--tensors', 'list every tensor (name, dtype, shape)')
    .option('--variant <name>', 'prefer this weight variant in hub folders (e.g. fp16)')
    .option('--json', 'print the report as JSON')
    .action(async (path: string, opts: { tensors?: boolean; variant?: string; json?: boolean }) => {
      const report = await inspectPath(path, { tensors: opts.tensors, variant: opts.variant });
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatInspect(report));
    });
}
