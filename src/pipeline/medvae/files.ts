/**
 * MedVAE on files (Node), as the reference CLI runs it over a folder: read, preprocess, encode, write the
 * latent (safetensors, and `.nii.gz` for volumes), optionally the reconstruction (PNG / NIfTI) with PSNR and
 * SSIM against the preprocessed input; and decoding a latent file back to an image or volume.
 *
 * Nothing is overwritten unless asked: every output path of an input is checked before any work is done.
 * Node's modules are imported on use, so importing this module stays browser-safe.
 */
import type { Image } from '../../io/image.js';
import { readNifti, writeNifti } from '../../io/nifti.js';
import { OutputExistsError } from '../../io/output.js';
import { writePng } from '../../io/png.js';
import { readImage } from '../../io/read-image.js';
import type { Affine } from '../../io/orientation.js';
import { loadSafetensors, openSafetensors, writeSafetensors } from '../../io/safetensors.js';
import { MedgpuError } from '../../runtime/errors.js';
import { type LatentMeta, type Modality, decodeLatentMeta, encodeLatentMeta, latentAffine, latentTensors } from './latent-file.js';
import type { EncodeOptions, MedVAE } from './medvae.js';
import { cropToCommon } from './crop.js';
import { psnr, ssim } from './metrics.js';
import { preprocess2D } from './preprocess-2d.js';
import { type Modality3D, preprocess3D } from './preprocess-3d.js';
import type { HostGrid } from './sliding-window.js';

const join = (dir: string, name: string) => (dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`);
const basename = (p: string) => p.replace(/\/+$/, '').split(/[\\/]/).pop() ?? p;

async function pathKind(p: string): Promise<'file' | 'dir' | 'missing'> {
  const fs = await import('../../io/node-fs.js');
  return fs.pathKind(p);
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;
export const VOLUME_EXTENSIONS = ['.nii.gz', '.nii'] as const;

/** The file name without its image/volume/latent extension. */
export function stemOf(path: string): string {
  const name = basename(path);
  for (const ext of [...VOLUME_EXTENSIONS, ...IMAGE_EXTENSIONS, '.safetensors']) {
    if (name.toLowerCase().endsWith(ext)) return name.slice(0, -ext.length);
  }
  return name;
}

/** The inputs of `-i`: the file itself, or the folder's files with an extension the model can read (sorted). */
export async function listInputs(input: string, dims: 2 | 3): Promise<{ files: string[]; skipped: string[] }> {
  const kind = await pathKind(input);
  if (kind === 'missing') throw new MedgpuError('BAD_ARGUMENT', `input ${input} does not exist`);
  const exts: readonly string[] = dims === 2 ? IMAGE_EXTENSIONS : VOLUME_EXTENSIONS;
  if (kind === 'file') {
    if (!exts.some((e) => input.toLowerCase().endsWith(e))) {
      throw new MedgpuError(
        'BAD_ARGUMENT',
        `${input}: ${dims === 2 ? '2D models take PNG or JPEG images' : '3D models take NIfTI volumes (.nii, .nii.gz)'}`,
      );
    }
    return { files: [input], skipped: [] };
  }
  const { listDir } = await import('../../io/node-fs.js');
  const files: string[] = [];
  const skipped: string[] = [];
  for (const { name } of await listDir(input)) {
    if (name.startsWith('.')) continue;
    const p = join(input, name);
    if ((await pathKind(p)) !== 'file') continue;
    if (exts.some((e) => name.toLowerCase().endsWith(e))) files.push(p);
    else skipped.push(p);
  }
  return { files, skipped };
}

async function refuseExisting(paths: readonly string[], overwrite: boolean): Promise<void> {
  if (overwrite) return;
  for (const p of paths) if ((await pathKind(p)) !== 'missing') throw new OutputExistsError(p);
}

export interface EncodeFileOptions extends EncodeOptions {
  modality: Modality;
  overwrite?: boolean;
}

export interface EncodeFileResult {
  input: string;
  outputs: string[];
  latentShape: number[];
  metrics?: { psnr: number; ssim: number };
}

function modality3D(m: Modality, file: string): Modality3D {
  if (m === 'ct' || m === 'mri') return m;
  throw new MedgpuError('BAD_ARGUMENT', `${file}: modality "${m}" is for 2D images; 3D models take --modality ct or mri`);
}

/** The files `encodeFile` writes for `input`: the latent, for volumes its NIfTI twin, and with `recon` the reconstruction. */
export function encodeOutputPaths(
  input: string,
  outDir: string,
  dims: 2 | 3,
  recon: boolean,
): { latent: string; latentNifti?: string; recon?: string } {
  const stem = join(outDir, stemOf(input));
  const paths: { latent: string; latentNifti?: string; recon?: string } = { latent: `${stem}.safetensors` };
  if (dims === 3) paths.latentNifti = `${stem}_latent.nii.gz`;
  if (recon) paths.recon = dims === 2 ? `${stem}_recon.png` : `${stem}_recon.nii.gz`;
  return paths;
}

/** The file `decodeFile` writes for `latentFile`: `<name>_decoded.png` / `.nii.gz`. */
export function decodeOutputPath(latentFile: string, outDir: string, dims: 2 | 3): string {
  return join(outDir, `${stemOf(latentFile)}_decoded.${dims === 2 ? 'png' : 'nii.gz'}`);
}

/** Encodes one file into `outDir` (see the module comment). */
export async function encodeFile(mvae: MedVAE, input: string, outDir: string, opts: EncodeFileOptions): Promise<EncodeFileResult> {
  const paths = encodeOutputPaths(input, outDir, mvae.dims, true);
  const latentPath = paths.latent;
  const sampling = { deterministic: Boolean(opts.deterministic), seed: opts.deterministic ? null : String(opts.seed ?? 0) };
  const base = { model: mvae.info.name, modality: opts.modality, source: basename(input), factor: mvae.factor, sampling };
  if (mvae.dims === 2) {
    if (opts.modality === 'ct' || opts.modality === 'mri') {
      throw new MedgpuError(
        'BAD_ARGUMENT',
        `${input}: modality "${opts.modality}" is for 3D volumes; 2D models take --modality xray or mammo`,
      );
    }
    const reconPath = paths.recon as string;
    await refuseExisting(opts.recon ? [latentPath, reconPath] : [latentPath], Boolean(opts.overwrite));
    const img = await readImage(input);
    const x = preprocess2D(img, { mergeChannels: mvae.info.mergeChannels, modelChannels: mvae.inChannels, name: input });
    const grid: HostGrid = { channels: x.channels, spatial: [x.height, x.width], data: x.data };
    const r = await mvae.encode(grid, opts);
    const meta: LatentMeta = {
      ...base,
      inputShape: [grid.channels, ...grid.spatial],
      latentKind: 'stage2',
      image: { bitDepth: img.bitDepth, channels: img.channels },
    };
    await writeSafetensors(latentPath, latentTensors(r.latent, r.z), encodeLatentMeta(meta), { overwrite: opts.overwrite });
    const out: EncodeFileResult = { input, outputs: [latentPath], latentShape: [r.latent.channels, ...r.latent.spatial] };
    if (r.recon) {
      await writePng(reconPath, toImage(r.recon, img.bitDepth), { overwrite: opts.overwrite });
      out.outputs.push(reconPath);
      out.metrics = compare(r.recon, grid);
    }
    return out;
  }
  const m3 = modality3D(opts.modality, input);
  const niiPath = paths.latentNifti as string;
  const reconPath = paths.recon as string;
  await refuseExisting(opts.recon ? [latentPath, niiPath, reconPath] : [latentPath, niiPath], Boolean(opts.overwrite));
  const vol = preprocess3D(await readNifti(input), m3);
  const grid: HostGrid = { channels: 1, spatial: [...vol.shape], data: vol.data };
  const r = await mvae.encode(grid, opts);
  const zAffine = latentAffine(vol.affine, mvae.factor);
  const meta: LatentMeta = {
    ...base,
    inputShape: [1, ...vol.shape],
    latentKind: 'z',
    volume: { affine: vol.affine, latentAffine: zAffine, sourceAxcodes: vol.sourceAxcodes, intensity: vol.intensity },
  };
  await writeSafetensors(latentPath, latentTensors(r.latent, null), encodeLatentMeta(meta), { overwrite: opts.overwrite });
  await writeNifti(niiPath, volumeOf(r.latent, zAffine, `MedVAE ${mvae.info.name} latent`), { overwrite: opts.overwrite });
  const out: EncodeFileResult = { input, outputs: [latentPath, niiPath], latentShape: [r.latent.channels, ...r.latent.spatial] };
  if (r.recon) {
    await writeNifti(reconPath, volumeOf(toIntensity(r.recon, vol.intensity), vol.affine, `MedVAE ${mvae.info.name} reconstruction`), {
      overwrite: opts.overwrite,
    });
    out.outputs.push(reconPath);
    out.metrics = compare(r.recon, grid);
  }
  return out;
}

export interface DecodeFileOptions {
  overwrite?: boolean;
  gpuDim?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Decodes a latent file written by `encodeFile` into `outDir` (`<name>_decoded.png` / `.nii.gz`). */
export async function decodeFile(
  mvae: MedVAE,
  latentFile: string,
  outDir: string,
  opts: DecodeFileOptions = {},
): Promise<{ input: string; outputs: string[] }> {
  const f = await openSafetensors(latentFile);
  const meta = decodeLatentMeta(f.metadata, latentFile);
  await f.close();
  if (meta.model !== mvae.info.name) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `${latentFile} was encoded with ${meta.model}; decode it with --model ${meta.model} (got ${mvae.info.name})`,
    );
  }
  const tensors = await loadSafetensors(latentFile);
  const zt = tensors.get(mvae.dims === 2 ? 'z' : 'latent');
  if (zt?.dtype !== 'F32') {
    throw new MedgpuError('BAD_FILE', `${latentFile}: no F32 "${mvae.dims === 2 ? 'z' : 'latent'}" tensor to decode`);
  }
  const z: HostGrid = { channels: zt.shape[0] as number, spatial: zt.shape.slice(1), data: zt.data as Float32Array };
  const out = decodeOutputPath(latentFile, outDir, mvae.dims);
  if (mvae.dims === 2) {
    await refuseExisting([out], Boolean(opts.overwrite));
    const img = await mvae.decode(z, opts);
    await writePng(out, toImage(img, meta.image?.bitDepth ?? 8), { overwrite: opts.overwrite });
    return { input: latentFile, outputs: [out] };
  }
  await refuseExisting([out], Boolean(opts.overwrite));
  const vol = await mvae.decode(z, opts);
  const v = meta.volume;
  if (!v) throw new MedgpuError('BAD_FILE', `${latentFile}: a 3D latent file without the volume metadata (affine)`);
  await writeNifti(out, volumeOf(toIntensity(vol, v.intensity), v.affine, `MedVAE ${mvae.info.name} decoded`), {
    overwrite: opts.overwrite,
  });
  return { input: latentFile, outputs: [out] };
}

function compare(recon: HostGrid, input: HostGrid): { psnr: number; ssim: number } {
  // The decoder returns f·(latent size): equal to the input when its sides are multiples of f. Otherwise
  // compare the region both cover.
  const [a, b] = cropToCommon(recon, input);
  return { psnr: psnr(a, b), ssim: ssim(a, b) };
}

/** [-1, 1] model output → an 8- or 16-bit image ((x + 1) / 2, clipped, rounded). */
export function toImage(g: HostGrid, bitDepth: 8 | 16): Image {
  const [height, width] = g.spatial as [number, number];
  const n = height * width;
  const max = bitDepth === 16 ? 65535 : 255;
  const data = bitDepth === 16 ? new Uint16Array(n * g.channels) : new Uint8Array(n * g.channels);
  for (let c = 0; c < g.channels; c++) {
    for (let i = 0; i < n; i++) {
      const v = ((g.data[c * n + i] as number) + 1) / 2;
      data[i * g.channels + c] = Math.round(Math.min(Math.max(v, 0), 1) * max);
    }
  }
  const channels = g.channels as 1 | 2 | 3 | 4;
  return { width, height, channels, bitDepth, data };
}

/** Model space back to the file's intensities: CT HU (inside the window) or the MRI's original range. */
function toIntensity(g: HostGrid, intensity: { modality: Modality3D; min: number; max: number }): HostGrid {
  const { min, max } = intensity;
  return { ...g, data: g.data.map((x) => (x * 0.5 + 0.5) * (max - min) + min) };
}

function volumeOf(g: HostGrid, affine: Affine, description: string) {
  const n = g.spatial.reduce((a, b) => a * b, 1);
  // NIfTI holds channels as a 4th axis: [X, Y, Z, C] in C order.
  const data =
    g.channels === 1
      ? g.data
      : Float32Array.from({ length: n * g.channels }, (_, i) => g.data[(i % g.channels) * n + Math.floor(i / g.channels)] as number);
  return { shape: g.channels === 1 ? [...g.spatial] : [...g.spatial, g.channels], data, affine, description };
}
