import { CheckpointError } from '../runtime/errors.js';
import { convertForUpload, FILE_DTYPE_BYTES, type FileDType, type HostTensor, numelOf, type UploadType } from './tensor-data.js';

/**
 * One interface over every weight file layout (safetensors, sharded index, PyTorch zip/legacy checkpoints):
 * what the model code (src/nn) loads from. Tensors are read one at a time, each converted for upload.
 */

export interface WeightInfo {
  name: string;
  dtype: FileDType;
  shape: number[];
}

export type WeightFormat = 'safetensors' | 'torch-zip' | 'torch-legacy' | 'sharded';

export interface WeightSource {
  /** Used in error messages. */
  readonly path: string;
  readonly format: WeightFormat;
  /** safetensors `__metadata__` (empty for other formats). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names in file order. */
  keys(): string[];
  info(name: string): WeightInfo | undefined;
  /**
   * This tensor's values converted for upload: 'f32' -> Float32Array, 'f16' -> Uint16Array of f16 bits
   * (default 'f32'). Reads only this tensor's bytes.
   */
  read(name: string, as?: UploadType): Promise<Float32Array | Uint16Array>;
  /** This tensor in its file dtype (I64 as BigInt64Array, F16/BF16 as Uint16Array bits...). */
  readRaw(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}

/** Builds a `WeightSource` from a table of tensors and a raw reader; every format below goes through here. */
export function makeWeightSource(
  path: string,
  format: WeightFormat,
  infos: ReadonlyMap<string, WeightInfo>,
  readRaw: (name: string) => Promise<HostTensor>,
  close: () => Promise<void>,
  metadata: Record<string, string> = {},
): WeightSource {
  const need = (name: string) => {
    if (!infos.has(name))
      throw new CheckpointError('CHECKPOINT_KEYS', `${path}: no tensor named ${name} (the file has ${infos.size} tensors)`);
  };
  return {
    path,
    format,
    metadata,
    keys: () => [...infos.keys()],
    info: (name) => {
      const i = infos.get(name);
      return i && { name: i.name, dtype: i.dtype, shape: [...i.shape] };
    },
    async read(name, as = 'f32') {
      need(name);
      const h = await readRaw(name);
      return convertForUpload(h.data, h.dtype, as);
    },
    async readRaw(name) {
      need(name);
      return readRaw(name);
    },
    close,
  };
}

/** Total parameter count and bytes (in the file's dtypes) of a weight source. */
export function weightTotals(src: WeightSource): { tensors: number; params: number; bytes: number; dtypes: Record<string, number> } {
  let params = 0;
  let bytes = 0;
  const dtypes: Record<string, number> = {};
  const keys = src.keys();
  for (const k of keys) {
    const i = src.info(k) as WeightInfo;
    const n = numelOf(i.shape);
    params += n;
    bytes += n * FILE_DTYPE_BYTES[i.dtype];
    dtypes[i.dtype] = (dtypes[i.dtype] ?? 0) + 1;
  }
  return { tensors: keys.length, params, bytes, dtypes };
}

/** The problems `checkWeights` found, all of them, by name. */
export class WeightsMismatchError extends CheckpointError {
  constructor(
    readonly path: string,
    readonly missing: { name: string; shape: readonly number[] }[],
    readonly unexpected: { name: string; shape: readonly number[] }[],
    readonly misshaped: { name: string; expected: readonly number[]; found: readonly number[] }[],
  ) {
    const sh = (s: readonly number[]) => `[${s.join(', ')}]`;
    const lines = [
      `${path}: the weights do not match the model: ${missing.length} missing, ${unexpected.length} unexpected, ${misshaped.length} with the wrong shape.`,
    ];
    if (missing.length) lines.push(`missing (${missing.length}):`, ...missing.map((m) => `  ${m.name} ${sh(m.shape)}`));
    if (unexpected.length) lines.push(`unexpected (${unexpected.length}):`, ...unexpected.map((m) => `  ${m.name} ${sh(m.shape)}`));
    if (misshaped.length) {
      lines.push(
        `wrong shape (${misshaped.length}):`,
        ...misshaped.map((m) => `  ${m.name}: expected ${sh(m.expected)}, found ${sh(m.found)}`),
      );
    }
    lines.push('Check that the file belongs to this model and that the config matches it.');
    super('CHECKPOINT_KEYS', lines.join('\n'));
  }
}

/**
 * Strict loading: throws `WeightsMismatchError` (a `CheckpointError`) listing ALL missing, unexpected and
 * mis-shaped keys by name (expected vs found shapes) and the file. `ignoreUnexpected` exempts known-harmless
 * extra keys (e.g. `text_model.embeddings.position_ids` buffers).
 */
export function checkWeights(
  src: Pick<WeightSource, 'path' | 'keys'> & { info(name: string): { shape: readonly number[] } | undefined },
  expected: ReadonlyMap<string, readonly number[]>,
  opts: { ignoreUnexpected?: (name: string) => boolean } = {},
): void {
  const missing: { name: string; shape: readonly number[] }[] = [];
  const misshaped: { name: string; expected: readonly number[]; found: readonly number[] }[] = [];
  for (const [name, shape] of expected) {
    const i = src.info(name);
    if (!i) missing.push({ name, shape });
    else if (i.shape.length !== shape.length || i.shape.some((d, k) => d !== shape[k]))
      misshaped.push({ name, expected: shape, found: i.shape });
  }
  const unexpected = src
    .keys()
    .filter((k) => !expected.has(k) && !opts.ignoreUnexpected?.(k))
    .map((name) => ({ name, shape: (src.info(name) as { shape: readonly number[] }).shape }));
  if (missing.length || unexpected.length || misshaped.length) throw new WeightsMismatchError(src.path, missing, unexpected, misshaped);
}
