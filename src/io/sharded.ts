import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileFormatError } from '../runtime/errors.js';
import { openSafetensors, type SafetensorsFile, type TensorInfo } from './safetensors.js';
import type { HostTensor } from './tensor-data.js';

/** A set of tensors spread over one or more safetensors files (`*.safetensors.index.json` shards). */
export interface TensorStore {
  readonly name: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  read(name: string, opts?: { raw16?: boolean }): Promise<HostTensor>;
  close(): Promise<void>;
}

/** Opens `model.safetensors.index.json` (weight_map: tensor -> shard file) with every shard's header checked. */
export async function openShardedSafetensors(indexPath: string): Promise<TensorStore> {
  let index: { weight_map?: unknown; metadata?: unknown };
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (e) {
    throw new FileFormatError('BAD_FILE', `${indexPath}: cannot read shard index (${(e as Error).message})`, { cause: e });
  }
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null) throw new FileFormatError('BAD_FILE', `${indexPath}: no weight_map object`);
  const shards = new Map<string, SafetensorsFile>();
  const owner = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, TensorInfo>();
  try {
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard.includes('..') || shard.startsWith('/')) {
        throw new FileFormatError('BAD_FILE', `${indexPath}: tensor ${tensor} maps to an invalid shard ${JSON.stringify(shard)}`);
      }
      let f = shards.get(shard);
      if (!f) {
        f = await openSafetensors(join(dirname(indexPath), shard));
        shards.set(shard, f);
      }
      const info = f.tensors.get(tensor);
      if (!info) throw new FileFormatError('BAD_FILE', `${indexPath}: tensor ${tensor} is listed in shard ${shard} but is not in it`);
      owner.set(tensor, f);
      tensors.set(tensor, info);
    }
  } catch (e) {
    for (const f of shards.values()) await f.close();
    throw e;
  }
  return {
    name: indexPath,
    tensors,
    metadata: {},
    read(name, opts) {
      const f = owner.get(name);
      if (!f) throw new FileFormatError('BAD_FILE', `${indexPath}: no tensor named ${name}`);
      return f.read(name, opts);
    },
    async close() {
      for (const f of shards.values()) await f.close();
    },
  };
}
