/**
 * Reference fixture manifests (the format of `shared/fixtures`, see its README): each `manifest.json` lists
 * cases; a case names its module, its model folder (relative to the fixtures root, the parent of the
 * manifest's folder), a safetensors file holding its input and output tensors, and per-output tolerances.
 */
import { parseJsonLenient } from '../io/json.js';
import { loadSafetensors } from '../io/safetensors.js';
import type { HostTensor } from '../io/tensor-data.js';
import { ConfigError } from '../runtime/errors.js';

export interface Tolerance {
  max_abs: number;
  max_rel?: number;
  ref_max_abs_value?: number;
  observed_f32_vs_f64_max_abs?: number;
}

export interface TensorSpec {
  shape: number[];
  dtype: string;
  tolerance?: Tolerance;
}

export interface FixtureCase {
  name: string;
  module: string;
  /** Model folder(s) relative to the fixtures root. */
  model?: string | string[];
  /** Case tensors, relative to the manifest's folder. */
  file?: string;
  inputs?: Record<string, TensorSpec>;
  outputs?: Record<string, TensorSpec>;
  params?: Record<string, unknown>;
  notes?: string;
  /** Other keys some manifests use (rng, checkpoints). */
  [key: string]: unknown;
}

export interface Manifest {
  /** Path of the manifest.json. */
  path: string;
  /** Folder holding it: case files are relative to this. */
  dir: string;
  /** The fixtures root (its parent): model folders are relative to this. */
  root: string;
  description: string;
  cases: FixtureCase[];
}

function parentDir(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : trimmed.slice(0, i);
}

export function joinFixturePath(base: string, rel: string): string {
  return rel.startsWith('/') ? rel : `${base.replace(/\/+$/, '')}/${rel}`;
}

/** Reads one manifest.json (Node). */
export async function readManifest(path: string): Promise<Manifest> {
  const { readTextFile } = await import('../io/node-fs.js');
  const raw = parseJsonLenient(await readTextFile(path), path) as { description?: unknown; cases?: unknown };
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.cases)) {
    throw new ConfigError('BAD_CONFIG', `${path}: not a fixture manifest (expected {"description", "cases": [...]})`);
  }
  const cases = raw.cases as FixtureCase[];
  for (const [i, c] of cases.entries()) {
    if (!c || typeof c.name !== 'string' || typeof c.module !== 'string') {
      throw new ConfigError('BAD_CONFIG', `${path}: case ${i} lacks a "name" or "module" string`);
    }
  }
  const dir = parentDir(path);
  return { path, dir, root: parentDir(dir), description: String(raw.description ?? ''), cases };
}

/** Every manifest.json at or below `dir`, sorted by path (Node). */
export async function findManifests(dir: string): Promise<string[]> {
  const { listDir, pathKind, join } = await import('../io/node-fs.js');
  const kind = await pathKind(dir);
  if (kind === 'missing')
    throw new ConfigError('BAD_CONFIG', `${dir}: no such file or folder (expected a fixtures folder or a manifest.json)`);
  if (kind === 'file') return dir.endsWith('.json') ? [dir] : [];
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await listDir(d)) {
      const p = join(d, e.name);
      if (e.isDir) await walk(p);
      else if (e.name === 'manifest.json') out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** The case's tensors, by name (F16 widened to f32; integers as their typed arrays). */
export async function readCaseTensors(m: Manifest, c: FixtureCase): Promise<Map<string, HostTensor>> {
  if (typeof c.file !== 'string') throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} has no "file"`);
  return loadSafetensors(joinFixturePath(m.dir, c.file));
}

/** The case's model folder (the first when it lists several). */
export function caseModelDir(m: Manifest, c: FixtureCase, index = 0): string {
  const model = Array.isArray(c.model) ? c.model[index] : c.model;
  if (typeof model !== 'string') throw new ConfigError('BAD_CONFIG', `${m.path}: case ${c.name} names no model folder`);
  return joinFixturePath(m.root, model);
}

export function tensorOf(tensors: ReadonlyMap<string, HostTensor>, name: string, where: string): HostTensor {
  const t = tensors.get(name);
  if (!t) throw new ConfigError('BAD_CONFIG', `${where}: the case file has no tensor "${name}"`);
  return t;
}

/** A host tensor's values as numbers in a Float64Array (integers exactly, up to 2^53). */
export function valuesOf(t: HostTensor): Float64Array {
  const d = t.data;
  if (d instanceof BigInt64Array) return Float64Array.from(d, (v) => Number(v));
  return Float64Array.from(d as ArrayLike<number>);
}
