import { FileFormatError } from '../runtime/errors.js';
import { type PickleGlobal, PickleTuple, unpickle } from './pickle.js';
import { type ByteSource, bufferSource, fileSource } from './source.js';
import { decodeTensorBytes, FILE_DTYPE_BYTES, type FileDType, type HostTensor, numelOf } from './tensor-data.js';
import { ZipReader } from './zip.js';

/**
 * PyTorch checkpoints (`.ckpt`, `.pt`, `.bin`): the zip format (torch >= 1.6) and the legacy format, read with
 * the restricted unpickler. Tensors become lazy `TorchTensorRef`s; only the state dict's storages are read.
 */

const STORAGE_DTYPES: Record<string, FileDType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ALLOWED = new Set<string>([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch.nn.parameter.Parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** A storage: `numel` elements of `dtype`, whose bytes are fetched on demand. */
export interface TorchStorage {
  key: string;
  dtype: FileDType;
  numel: number;
  load(): Promise<Uint8Array>;
}

/** A tensor in a checkpoint: a strided view of a storage. `materialize()` gives a contiguous host tensor. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    private readonly file: string,
  ) {}
  get dtype(): FileDType {
    return this.storage.dtype;
  }
  /** Reads the view's elements in row-major order. */
  async materialize(opts?: { raw16?: boolean }): Promise<HostTensor> {
    const { storage, offset, shape, stride } = this;
    const n = numelOf(shape);
    const es = FILE_DTYPE_BYTES[storage.dtype];
    let maxIndex = offset;
    for (let d = 0; d < shape.length; d++) if ((shape[d] as number) > 0) maxIndex += ((shape[d] as number) - 1) * (stride[d] as number);
    if (n > 0 && (offset < 0 || maxIndex >= storage.numel || stride.some((s) => s < 0))) {
      throw new FileFormatError(
        'BAD_FILE',
        `${this.file}: tensor view (offset ${offset}, shape [${shape}], stride [${stride}]) exceeds its storage ${storage.key} of ${storage.numel} elements`,
      );
    }
    const bytes = await storage.load();
    let contiguous = true;
    let expect = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if ((shape[d] as number) !== 1 && stride[d] !== expect) contiguous = false;
      expect *= shape[d] as number;
    }
    let out: Uint8Array;
    if (contiguous) out = bytes.slice(offset * es, (offset + n) * es);
    else {
      out = new Uint8Array(n * es);
      const idx = new Array<number>(shape.length).fill(0);
      for (let i = 0; i < n; i++) {
        let src = offset;
        for (let d = 0; d < shape.length; d++) src += (idx[d] as number) * (stride[d] as number);
        out.set(bytes.subarray(src * es, src * es + es), i * es);
        for (let d = shape.length - 1; d >= 0; d--) {
          idx[d] = (idx[d] as number) + 1;
          if ((idx[d] as number) < (shape[d] as number)) break;
          idx[d] = 0;
        }
      }
    }
    return { dtype: storage.dtype, shape: [...shape], data: decodeTensorBytes(out, storage.dtype, opts?.raw16 ?? false) };
  }
}

function intList(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0))
    throw new FileFormatError('BAD_FILE', `${file}: tensor ${what} ${String(v)} is not a list of integers`);
  return v as number[];
}

function makeCall(file: string) {
  return (fn: PickleGlobal, args: unknown[]): unknown => {
    switch (fn.qualname) {
      case 'collections.OrderedDict':
        return new Map();
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage && typeof storage === 'object' && 'load' in storage))
          throw new FileFormatError('BAD_FILE', `${file}: tensor rebuilt from a non-storage`);
        if (!Number.isSafeInteger(offset)) throw new FileFormatError('BAD_FILE', `${file}: bad tensor storage offset`);
        const shape = intList(size, 'shape', file);
        const st = intList(stride, 'stride', file);
        if (shape.length !== st.length) throw new FileFormatError('BAD_FILE', `${file}: tensor shape and stride ranks differ`);
        return new TorchTensorRef(storage as TorchStorage, offset as number, shape, st, file);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch.nn.parameter.Parameter':
        if (!(args[0] instanceof TorchTensorRef)) throw new FileFormatError('BAD_FILE', `${file}: Parameter of a non-tensor`);
        return args[0];
      default:
        throw new FileFormatError('UNSAFE_PICKLE', `${file}: refusing to call ${fn.qualname}`);
    }
  };
}

function storageDtype(cls: unknown, file: string): FileDType {
  const name = (cls as PickleGlobal | null)?.name;
  const dt = name ? STORAGE_DTYPES[name] : undefined;
  if (!dt) throw new FileFormatError('BAD_FILE', `${file}: unknown storage type ${String(name)}`);
  return dt;
}

function pidParts(pid: unknown, file: string): unknown[] {
  if (!(pid instanceof PickleTuple) || pid[0] !== 'storage')
    throw new FileFormatError('BAD_FILE', `${file}: unsupported persistent id ${JSON.stringify(pid)}`);
  return pid;
}

export interface TorchCheckpoint {
  readonly name: string;
  readonly format: 'zip' | 'legacy';
  /** The unpickled object: Maps, arrays, PickleTuples, numbers, strings and TorchTensorRefs. */
  readonly root: unknown;
  close(): Promise<void>;
}

async function openZip(source: ByteSource): Promise<TorchCheckpoint> {
  const file = source.name;
  const zip = await ZipReader.open(source);
  const pkl = [...zip.entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl) throw new FileFormatError('BAD_FILE', `${file}: zip archive has no <name>/data.pkl; not a torch.save file`);
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const storages = new Map<string, TorchStorage>();
  const root = unpickle(
    await zip.read(pkl),
    {
      allowed: ALLOWED,
      call: makeCall(file),
      persistentLoad(pid) {
        const [, cls, key, , numel] = pidParts(pid, file);
        const k = String(key);
        const cached = storages.get(k);
        if (cached) return cached;
        const dtype = storageDtype(cls, file);
        const entry = zip.entries.get(`${prefix}data/${k}`);
        if (!entry) throw new FileFormatError('BAD_FILE', `${file}: storage ${k} is missing from the archive`);
        if (!Number.isSafeInteger(numel) || (numel as number) * FILE_DTYPE_BYTES[dtype] > entry.size) {
          throw new FileFormatError('BAD_FILE', `${file}: storage ${k} claims ${String(numel)} elements but holds ${entry.size} bytes`);
        }
        let bytes: Promise<Uint8Array> | undefined;
        const s: TorchStorage = { key: k, dtype, numel: numel as number, load: () => (bytes ??= zip.read(entry)) };
        storages.set(k, s);
        return s;
      },
    },
    file,
  ).value;
  return { name: file, format: 'zip', root, close: () => source.close() };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Legacy format: magic, protocol, sys_info, the object, storage keys - all pickles - then each storage's data. */
async function openLegacy(source: ByteSource): Promise<TorchCheckpoint> {
  const file = source.name;
  // The legacy format interleaves pickles and raw data with no index, so it is read whole.
  const bytes = await source.read(0, source.size);
  const plain = { allowed: new Set<string>(), call: makeCall(file), persistentLoad: () => null };
  const magic = unpickle(bytes, plain, file);
  if (magic.value !== LEGACY_MAGIC) throw new FileFormatError('BAD_FILE', `${file}: not a PyTorch checkpoint (bad magic number)`);
  const proto = unpickle(bytes, plain, file, magic.end);
  if (proto.value !== 1001) throw new FileFormatError('BAD_FILE', `${file}: unsupported legacy protocol ${String(proto.value)}`);
  const sys = unpickle(bytes, plain, file, proto.end);
  const storages = new Map<string, TorchStorage & { bytes?: Uint8Array }>();
  const main = unpickle(
    bytes,
    {
      allowed: ALLOWED,
      call: makeCall(file),
      persistentLoad(pid) {
        const [, cls, key, , numel, view] = pidParts(pid, file);
        if (view !== null && view !== undefined)
          throw new FileFormatError('UNSUPPORTED', `${file}: legacy storage views are not supported`);
        const k = String(key);
        let s = storages.get(k);
        if (!s) {
          const dtype = storageDtype(cls, file);
          if (!Number.isSafeInteger(numel)) throw new FileFormatError('BAD_FILE', `${file}: storage ${k} has a bad size`);
          const st: TorchStorage & { bytes?: Uint8Array } = {
            key: k,
            dtype,
            numel: numel as number,
            load: async () => {
              if (!st.bytes) throw new FileFormatError('BAD_FILE', `${file}: storage ${k} has no data`);
              return st.bytes;
            },
          };
          s = st;
          storages.set(k, s);
        }
        return s;
      },
    },
    file,
    sys.end,
  );
  const keys = unpickle(bytes, plain, file, main.end);
  if (!Array.isArray(keys.value)) throw new FileFormatError('BAD_FILE', `${file}: legacy storage key list missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value) {
    const s = storages.get(String(key));
    if (!s) throw new FileFormatError('BAD_FILE', `${file}: storage ${String(key)} was never referenced`);
    if (pos + 8 > bytes.length) throw new FileFormatError('BAD_FILE', `${file}: truncated before storage ${s.key}`);
    const n = dv.getBigInt64(pos, true);
    const len = Number(n) * FILE_DTYPE_BYTES[s.dtype];
    if (n !== BigInt(s.numel) || pos + 8 + len > bytes.length)
      throw new FileFormatError('BAD_FILE', `${file}: storage ${s.key} is truncated or has the wrong size`);
    s.bytes = bytes.subarray(pos + 8, pos + 8 + len);
    pos += 8 + len;
  }
  return { name: file, format: 'legacy', root: main.value, close: () => source.close() };
}

/** Opens a PyTorch checkpoint from a path or bytes (zip or legacy, detected by content). */
export async function openTorchCheckpoint(src: string | Uint8Array, name?: string): Promise<TorchCheckpoint> {
  const source = typeof src === 'string' ? await fileSource(src) : bufferSource(src, name);
  try {
    if (source.size < 4) throw new FileFormatError('BAD_FILE', `${source.name}: too small to be a PyTorch checkpoint`);
    const head = await source.read(0, 4);
    if (head[0] === 0x50 && head[1] === 0x4b) return await openZip(source);
    if (head[0] === 0x80) return await openLegacy(source);
    throw new FileFormatError('BAD_FILE', `${source.name}: neither a zip nor a legacy PyTorch checkpoint`);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/**
 * The flat name -> tensor map of a checkpoint: the object itself if it is a dict of tensors, else its
 * `state_dict` (Lightning / MedVAE) or `model` / `module` entry. Nested dicts are flattened with dots.
 */
export function stateDictOf(root: unknown, file: string): Map<string, TorchTensorRef> {
  let obj = root;
  if (obj instanceof Map) {
    for (const k of ['state_dict', 'model', 'module']) {
      if (obj.get(k) instanceof Map) {
        obj = obj.get(k);
        break;
      }
    }
  }
  if (!(obj instanceof Map)) throw new FileFormatError('BAD_FILE', `${file}: checkpoint holds no dict of tensors`);
  const out = new Map<string, TorchTensorRef>();
  const walk = (m: Map<unknown, unknown>, prefix: string) => {
    for (const [k, v] of m) {
      if (v instanceof TorchTensorRef) out.set(prefix + String(k), v);
      else if (v instanceof Map) walk(v, `${prefix}${String(k)}.`);
    }
  };
  walk(obj, '');
  return out;
}

/** Loads all tensors of a checkpoint's state dict into memory. */
export async function loadTorchCheckpoint(src: string | Uint8Array, opts?: { raw16?: boolean }): Promise<Map<string, HostTensor>> {
  const ck = await openTorchCheckpoint(src);
  try {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of stateDictOf(ck.root, ck.name)) out.set(k, await t.materialize(opts));
    return out;
  } finally {
    await ck.close();
  }
}
