import { FileFormatError } from '../runtime/errors.js';
import { openSafetensors } from './safetensors.js';
import { openShardedWeights } from './sharded.js';
import { type ByteSource, bufferSource } from './source.js';
import { openTorchCheckpoint, stateDictOf } from './torch-checkpoint.js';
import { makeWeightSource, type WeightInfo, type WeightSource } from './weight-source.js';

export {
  checkWeights,
  makeWeightSource,
  type WeightFormat,
  type WeightInfo,
  type WeightSource,
  WeightsMismatchError,
  weightTotals,
} from './weight-source.js';

/** Opening weights from files, bytes or paths: every layout becomes one `WeightSource` (weight-source.ts). */

/** safetensors over any byte source. */
export async function safetensorsWeights(source: ByteSource): Promise<WeightSource> {
  const f = await openSafetensors(source);
  const infos = new Map<string, WeightInfo>();
  for (const [name, t] of f.tensors) infos.set(name, { name, dtype: t.dtype, shape: t.shape });
  return makeWeightSource(
    source.name,
    'safetensors',
    infos,
    (n) => f.readRaw(n),
    () => f.close(),
    f.metadata,
  );
}

/** A PyTorch checkpoint's state dict (`state_dict` unwrapped when present, or `stateDictKey`). */
export async function torchWeights(source: ByteSource, opts: { stateDictKey?: string } = {}): Promise<WeightSource> {
  const ck = await openTorchCheckpoint(source);
  try {
    const sd = stateDictOf(ck.root, ck.name, opts.stateDictKey);
    const infos = new Map<string, WeightInfo>();
    for (const [name, t] of sd) infos.set(name, { name, dtype: t.dtype, shape: t.shape });
    const format = ck.format === 'zip' ? 'torch-zip' : 'torch-legacy';
    return makeWeightSource(
      source.name,
      format,
      infos,
      (n) => (sd.get(n) as NonNullable<ReturnType<typeof sd.get>>).readRaw(),
      () => ck.close(),
    );
  } catch (e) {
    await ck.close();
    throw e;
  }
}

/** Which reader a file needs, from its first bytes (extensions lie: `.bin` and `.pt` are both torch files). */
export async function sniffWeights(source: ByteSource): Promise<'safetensors' | 'torch'> {
  const head = await source.read(0, Math.min(source.size, 9));
  if (head.length >= 2 && head[0] === 0x50 && head[1] === 0x4b) return 'torch';
  if (head.length >= 1 && head[0] === 0x80) return 'torch';
  if (head.length === 9 && head[8] === 0x7b /* { */) return 'safetensors';
  throw new FileFormatError(
    'BAD_FILE',
    `${source.name}: neither a safetensors file nor a PyTorch checkpoint (it starts with bytes ${[...head.subarray(0, 9)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`,
  );
}

/** Opens weights from a byte source of either kind. The source is closed if opening fails. */
export async function weightSourceFromByteSource(source: ByteSource, opts: { stateDictKey?: string } = {}): Promise<WeightSource> {
  try {
    return (await sniffWeights(source)) === 'safetensors' ? await safetensorsWeights(source) : await torchWeights(source, opts);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Weights from bytes in memory (browser, tests): safetensors or a PyTorch checkpoint, detected by content. */
export async function weightSourceFromBytes(bytes: Uint8Array, name: string, opts: { stateDictKey?: string } = {}): Promise<WeightSource> {
  return weightSourceFromByteSource(bufferSource(bytes, name), opts);
}

/**
 * Opens weights from a path (Node): `.safetensors`, a sharded `*.index.json` (safetensors or `.bin` shards),
 * `.ckpt`/`.pt`/`.pth`/`.bin` (restricted unpickler; `state_dict` unwrapped when present), or a model
 * component folder (its weight file is chosen as diffusers/transformers would; see hub.ts).
 */
export async function openWeights(path: string, opts: { stateDictKey?: string; variant?: string } = {}): Promise<WeightSource> {
  const fs = await import('./node-fs.js');
  const kind = await fs.pathKind(path);
  if (kind === 'missing') throw new FileFormatError('BAD_FILE', `cannot open ${path}: no such file or folder`);
  if (kind === 'dir') {
    const { openComponentWeights } = await import('./hub.js');
    return openComponentWeights(fs.nodeFileTree(path), '', { variant: opts.variant });
  }
  if (path.endsWith('.json')) {
    return openShardedWeights(await fs.readTextFile(path), path, async (shard) =>
      weightSourceFromByteSource(await fs.fileSource(fs.siblingPath(path, shard)), opts),
    );
  }
  return weightSourceFromByteSource(await fs.fileSource(path), opts);
}
