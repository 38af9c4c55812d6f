import { FileFormatError } from '../runtime/errors.js';
import { parseJsonLenient } from './json.js';
import { makeWeightSource, type WeightInfo, type WeightSource } from './weight-source.js';

/**
 * Sharded weights: `model.safetensors.index.json` / `pytorch_model.bin.index.json` (and their variants) map each
 * tensor to a shard file next to the index. Every shard is opened (headers only) and checked up front.
 */

function bad(index: string, what: string): FileFormatError {
  return new FileFormatError('BAD_FILE', `${index}: ${what}`);
}

/** Parses an index: tensor -> shard file name, with shard names checked to stay inside the folder. */
export function parseShardIndex(text: string, indexPath: string): { weightMap: Map<string, string>; metadata: Record<string, unknown> } {
  let index: unknown;
  try {
    index = parseJsonLenient(text, indexPath);
  } catch (e) {
    throw bad(indexPath, `not a valid shard index (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw bad(indexPath, 'no "weight_map" object; not a shard index');
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') || shard === '..' || shard === '.') {
      throw bad(indexPath, `tensor ${tensor} maps to ${JSON.stringify(shard)}, not a file name next to the index`);
    }
    weightMap.set(tensor, shard);
  }
  const metadata = (index as { metadata?: unknown }).metadata;
  return { weightMap, metadata: typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {} };
}

export async function openShardedWeights(
  indexText: string,
  indexPath: string,
  openShard: (file: string) => Promise<WeightSource>,
): Promise<WeightSource> {
  const { weightMap } = parseShardIndex(indexText, indexPath);
  const shards = new Map<string, WeightSource>();
  const owner = new Map<string, WeightSource>();
  const infos = new Map<string, WeightInfo>();
  const closeAll = async () => {
    for (const s of shards.values()) await s.close();
  };
  try {
    for (const [tensor, shard] of weightMap) {
      let s = shards.get(shard);
      if (!s) {
        s = await openShard(shard);
        shards.set(shard, s);
      }
      const info = s.info(tensor);
      if (!info) throw bad(indexPath, `tensor ${tensor} is listed in shard ${shard} but is not in it`);
      owner.set(tensor, s);
      infos.set(tensor, info);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return makeWeightSource(indexPath, 'sharded', infos, (name) => (owner.get(name) as WeightSource).readRaw(name), closeAll);
}
