import { CheckpointError, FileFormatError } from '../runtime/errors.js';
import { OpaqueObject, type PickleGlobal, type PickleHooks, PickleTruncatedError, PickleTuple, unpickle } from './pickle.js';
import { type ByteSource, withSource } from './source.js';
import { convertToF32, decodeTensorBytes, FILE_DTYPE_BYTES, type FileDType, type HostTensor, numelOf } from './tensor-data.js';
import { ZipReader } from './zip.js';

/**
 * PyTorch checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`): the zip format (torch >= 1.6) and the legacy format,
 * read with the restricted unpickler. Tensors become lazy `TorchTensorRef`s: opening reads only the pickle,
 * and each tensor read fetches only the bytes its view spans.
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

const REBUILD_TENSOR = new Set(['torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2']);
const REBUILD_PARAMETER = new Set(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);

/**
 * Classes that show up outside the weights of real checkpoints (Lightning callback keys, numpy scalars in
 * `global_step`, argparse / OmegaConf hyper-parameters). They are allowed to appear but are never constructed:
 * calling one yields an `OpaqueObject`.
 */
const INERT = new Set([
  'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint',
  'lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.dtype',
  'numpy.ndarray',
  '_codecs.encode',
  'builtins.set',
  '__builtin__.set',
  'builtins.object',
  '__builtin__.object',
  'copyreg._reconstructor',
  'copy_reg._reconstructor',
  'argparse.Namespace',
  'torch.Size',
  'torch.device',
  'omegaconf.dictconfig.DictConfig',
  'omegaconf.listconfig.ListConfig',
  'omegaconf.base.ContainerMetadata',
  'omegaconf.base.Metadata',
  'omegaconf.nodes.AnyNode',
  'typing.Any',
]);

const ALLOWED = new Set<string>([
  'collections.OrderedDict',
  ...REBUILD_TENSOR,
  ...REBUILD_PARAMETER,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
  ...INERT,
]);

/** A tensor view may only exceed its storage's element count through zero strides (expand); cap what that makes. */
const MAX_EXPANDED_BYTES = 64 << 20;

/** A storage: `numel` elements of `dtype`; `readRange` fetches bytes of it on demand. */
export interface TorchStorage {
  key: string;
  dtype: FileDType;
  numel: number;
  readRange(byteOffset: number, byteLength: number): Promise<Uint8Array>;
}

/** A tensor in a checkpoint: a strided view of a storage. */
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

  /** The view's elements in row-major order, in the storage dtype (F16/BF16 as bits). Reads only its span. */
  async readRaw(): Promise<HostTensor> {
    const { storage, offset, shape, stride, file } = this;
    const n = numelOf(shape);
    const es = FILE_DTYPE_BYTES[storage.dtype];
    const where = () =>
      `view (offset ${offset}, shape [${shape}], stride [${stride}]) of storage ${storage.key} (${storage.numel} elements)`;
    if (n === 0) return { dtype: storage.dtype, shape: [...shape], data: decodeTensorBytes(new Uint8Array(0), storage.dtype) };
    let maxIndex = offset;
    for (let d = 0; d < shape.length; d++) maxIndex += ((shape[d] as number) - 1) * (stride[d] as number);
    if (offset < 0 || !Number.isSafeInteger(maxIndex) || maxIndex >= storage.numel) {
      throw new FileFormatError('BAD_FILE', `${file}: tensor ${where()} reaches past its storage; the checkpoint is corrupt`);
    }
    if (n > storage.numel && n * es > MAX_EXPANDED_BYTES) {
      throw new FileFormatError(
        'LIMIT_EXCEEDED',
        `${file}: tensor ${where()} expands to ${n * es} bytes, over the ${MAX_EXPANDED_BYTES}-byte limit`,
      );
    }
    const span = await storage.readRange(offset * es, (maxIndex - offset + 1) * es);
    let contiguous = true;
    let expect = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if ((shape[d] as number) !== 1 && stride[d] !== expect) contiguous = false;
      expect *= shape[d] as number;
    }
    let out: Uint8Array;
    if (contiguous) out = span;
    else {
      // Gather element by element with an odometer over the shape (views in checkpoints are small).
      out = new Uint8Array(n * es);
      const idx = new Array<number>(shape.length).fill(0);
      let src = 0;
      for (let i = 0; i < n; i++) {
        out.set(span.subarray(src * es, src * es + es), i * es);
        for (let d = shape.length - 1; d >= 0; d--) {
          idx[d] = (idx[d] as number) + 1;
          src += stride[d] as number;
          if ((idx[d] as number) < (shape[d] as number)) break;
          src -= (shape[d] as number) * (stride[d] as number);
          idx[d] = 0;
        }
      }
    }
    return { dtype: storage.dtype, shape: [...shape], data: decodeTensorBytes(out, storage.dtype) };
  }

  /** As `readRaw`, with F16/BF16 widened to f32 unless `raw16`. */
  async materialize(opts?: { raw16?: boolean }): Promise<HostTensor> {
    const h = await this.readRaw();
    if (!opts?.raw16 && (h.dtype === 'F16' || h.dtype === 'BF16')) h.data = convertToF32(h.data, h.dtype);
    return h;
  }
}

function intList(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    // Describe shallowly: the value may be a crafted deep structure.
    const shown = Array.isArray(v)
      ? `[${v
          .slice(0, 8)
          .map((x) => (typeof x === 'object' && x !== null ? '...' : String(x)))
          .join(', ')}${v.length > 8 ? ', ...' : ''}]`
      : typeof v;
    throw new FileFormatError('BAD_FILE', `${file}: tensor ${what} ${shown} is not a list of non-negative integers`);
  }
  return v as number[];
}

function isStorage(s: unknown): s is TorchStorage {
  return typeof s === 'object' && s !== null && 'readRange' in s && 'dtype' in s;
}

function makeCall(file: string) {
  return (fn: PickleGlobal, args: unknown[]): unknown => {
    const q = fn.qualname;
    if (q === 'collections.OrderedDict') return new Map();
    if (REBUILD_TENSOR.has(q)) {
      const [storage, offset, size, stride] = args;
      if (!isStorage(storage)) throw new FileFormatError('BAD_FILE', `${file}: ${q} called on something that is not a storage`);
      if (!Number.isSafeInteger(offset) || (offset as number) < 0)
        throw new FileFormatError('BAD_FILE', `${file}: bad tensor storage offset ${String(offset)}`);
      const shape = intList(size, 'shape', file);
      const st = intList(stride, 'stride', file);
      if (shape.length !== st.length)
        throw new FileFormatError('BAD_FILE', `${file}: tensor shape [${shape}] and stride [${st}] have different ranks`);
      return new TorchTensorRef(storage, offset as number, shape, st, file);
    }
    if (REBUILD_PARAMETER.has(q)) {
      if (!(args[0] instanceof TorchTensorRef)) throw new FileFormatError('BAD_FILE', `${file}: ${q} of something that is not a tensor`);
      return args[0];
    }
    if (INERT.has(q)) return new OpaqueObject(q, args);
    // Not reachable: the unpickler refuses globals that are not in ALLOWED.
    throw new FileFormatError('UNSAFE_PICKLE', `${file}: refusing to call ${q}`);
  };
}

function storageDtype(cls: unknown, file: string): FileDType {
  const name = (cls as PickleGlobal | null)?.name;
  const dt = name ? STORAGE_DTYPES[name] : undefined;
  if (!dt) throw new FileFormatError('BAD_FILE', `${file}: unknown storage type ${String(name)}`);
  return dt;
}

function pidParts(pid: unknown, file: string): unknown[] {
  if (!(pid instanceof PickleTuple) || pid[0] !== 'storage' || pid.length < 5) {
    throw new FileFormatError(
      'BAD_FILE',
      `${file}: unsupported persistent id in the pickle (expected ('storage', type, key, location, numel))`,
    );
  }
  return pid;
}

export interface TorchCheckpoint {
  readonly name: string;
  readonly format: 'zip' | 'legacy';
  /** The unpickled object: Maps, arrays, PickleTuples, numbers, strings, OpaqueObjects and TorchTensorRefs. */
  readonly root: unknown;
  close(): Promise<void>;
}

function hooks(file: string, persistentLoad: (pid: unknown) => unknown): PickleHooks {
  return { allowed: ALLOWED, call: makeCall(file), persistentLoad };
}

async function openZip(source: ByteSource): Promise<TorchCheckpoint> {
  const file = source.name;
  const zip = await ZipReader.open(source);
  const pkl = [...zip.entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl) throw new FileFormatError('BAD_FILE', `${file}: zip archive has no <name>/data.pkl; not a torch.save file`);
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(await zip.read(order)).trim();
    if (text !== 'little')
      throw new FileFormatError('UNSUPPORTED', `${file}: saved with byte order "${text}"; only little-endian checkpoints are supported`);
  }
  const storages = new Map<string, TorchStorage>();
  const root = unpickle(
    await zip.read(pkl),
    hooks(file, (pid) => {
      const [, cls, key, , numel] = pidParts(pid, file);
      const k = String(key);
      const cached = storages.get(k);
      if (cached) return cached;
      const dtype = storageDtype(cls, file);
      const entry = zip.entries.get(`${prefix}data/${k}`);
      if (!entry) throw new FileFormatError('BAD_FILE', `${file}: storage ${k} is missing from the archive`);
      if (!Number.isSafeInteger(numel) || (numel as number) < 0 || (numel as number) * FILE_DTYPE_BYTES[dtype] > entry.size) {
        throw new FileFormatError(
          'BAD_FILE',
          `${file}: storage ${k} claims ${String(numel)} ${dtype} elements but holds ${entry.size} bytes`,
        );
      }
      const s: TorchStorage = { key: k, dtype, numel: numel as number, readRange: (off, len) => zip.read(entry, off, len) };
      storages.set(k, s);
      return s;
    }),
    file,
  ).value;
  return { name: file, format: 'zip', root, close: () => source.close() };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** The legacy format's pickles come first; they are read in growing pieces from this size. */
const LEGACY_FIRST_READ = 1 << 16;

interface LegacyStorage extends TorchStorage {
  /** Absolute offset of the storage's data, known once the storage list has been walked. */
  dataStart?: number;
}

/** The legacy format: magic, protocol, sys_info, the object, the storage keys (all pickles), then each storage. */
async function openLegacy(source: ByteSource): Promise<TorchCheckpoint> {
  const file = source.name;
  const plain: PickleHooks = {
    allowed: new Set(),
    call: makeCall(file),
    persistentLoad: () => {
      throw new FileFormatError('BAD_FILE', `${file}: unexpected persistent id in the legacy header`);
    },
  };
  const roots = new Map<string, LegacyStorage>();
  const parse = (bytes: Uint8Array) => {
    const magic = unpickle(bytes, plain, file);
    if (magic.value !== LEGACY_MAGIC) throw new FileFormatError('BAD_FILE', `${file}: not a PyTorch checkpoint (bad magic number)`);
    const proto = unpickle(bytes, plain, file, magic.end);
    if (proto.value !== 1001) throw new FileFormatError('UNSUPPORTED', `${file}: unsupported legacy protocol ${String(proto.value)}`);
    const sys = unpickle(bytes, plain, file, proto.end);
    roots.clear();
    const main = unpickle(
      bytes,
      hooks(file, (pid) => {
        const [, cls, key, , numel, view] = pidParts(pid, file);
        const k = String(key);
        let root = roots.get(k);
        if (!root) {
          const dtype = storageDtype(cls, file);
          if (!Number.isSafeInteger(numel) || (numel as number) < 0)
            throw new FileFormatError('BAD_FILE', `${file}: storage ${k} has a bad size`);
          const st: LegacyStorage = {
            key: k,
            dtype,
            numel: numel as number,
            readRange: async (off, len) => {
              if (st.dataStart === undefined) throw new FileFormatError('BAD_FILE', `${file}: storage ${k} has no data`);
              if (off + len > st.numel * FILE_DTYPE_BYTES[dtype])
                throw new FileFormatError('BAD_FILE', `${file}: read past the end of storage ${k}`);
              return source.read(st.dataStart + off, len);
            },
          };
          root = st;
          roots.set(k, root);
        }
        if (view === null || view === undefined) return root;
        // Old torch saved storage views as (view key, element offset, element count) of a root storage.
        const [vk, vOff, vSize] = view instanceof PickleTuple ? view : [];
        if (
          !Number.isSafeInteger(vOff) ||
          !Number.isSafeInteger(vSize) ||
          (vOff as number) < 0 ||
          (vOff as number) + (vSize as number) > root.numel
        ) {
          throw new FileFormatError('BAD_FILE', `${file}: storage view ${String(vk)} lies outside storage ${k}`);
        }
        const base = root;
        const es = FILE_DTYPE_BYTES[base.dtype];
        return {
          key: `${k}[${String(vOff)}:+${String(vSize)}]`,
          dtype: base.dtype,
          numel: vSize as number,
          readRange: (off: number, len: number) => base.readRange((vOff as number) * es + off, len),
        } satisfies TorchStorage;
      }),
      file,
      sys.end,
    );
    const keys = unpickle(bytes, plain, file, main.end);
    return { root: main.value, keys: keys.value, end: keys.end };
  };
  // Parse from a prefix of the file; if the pickles run past it, read more (the tensor data after them is
  // never read here).
  let len = Math.min(source.size, LEGACY_FIRST_READ);
  let parsed: ReturnType<typeof parse>;
  for (;;) {
    try {
      parsed = parse(await source.read(0, len));
      break;
    } catch (e) {
      if (!(e instanceof PickleTruncatedError) || len >= source.size) throw e;
      len = Math.min(source.size, len * 4);
    }
  }
  if (!Array.isArray(parsed.keys)) throw new FileFormatError('BAD_FILE', `${file}: legacy storage key list missing`);
  let pos = parsed.end;
  for (const key of parsed.keys) {
    const s = roots.get(String(key));
    if (!s) throw new FileFormatError('BAD_FILE', `${file}: storage ${String(key)} is listed but never used`);
    if (pos + 8 > source.size) throw new FileFormatError('BAD_FILE', `${file}: truncated before storage ${s.key}`);
    const head = await source.read(pos, 8);
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigInt64(0, true);
    if (n !== BigInt(s.numel)) {
      throw new FileFormatError('BAD_FILE', `${file}: storage ${s.key} has ${n} elements in the data but ${s.numel} in the pickle`);
    }
    const bytes = s.numel * FILE_DTYPE_BYTES[s.dtype];
    if (pos + 8 + bytes > source.size) throw new FileFormatError('BAD_FILE', `${file}: storage ${s.key} is truncated`);
    s.dataStart = pos + 8;
    pos += 8 + bytes;
  }
  return { name: file, format: 'legacy', root: parsed.root, close: () => source.close() };
}

/** Opens a PyTorch checkpoint from a path (Node), bytes or a `ByteSource` (zip or legacy, detected by content). */
export async function openTorchCheckpoint(src: string | Uint8Array | ByteSource, name?: string): Promise<TorchCheckpoint> {
  return withSource(src, name, openTorchSource);
}

async function openTorchSource(source: ByteSource): Promise<TorchCheckpoint> {
  const file = source.name;
  if (source.size < 4) throw new FileFormatError('BAD_FILE', `${file}: ${source.size} bytes is too small to be a PyTorch checkpoint`);
  const head = await source.read(0, Math.min(source.size, 512));
  if (head[0] === 0x50 && head[1] === 0x4b) return await openZip(source);
  if (head[0] === 0x80) return await openLegacy(source);
  if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') {
    throw new FileFormatError('UNSUPPORTED', `${file}: a tar-format checkpoint (PyTorch < 0.4); re-save it with a current torch.save`);
  }
  throw new FileFormatError('BAD_FILE', `${file}: neither a zip nor a legacy PyTorch checkpoint`);
}

/** Tensors directly in a dict (not nested). */
function tensorsOf(m: Map<unknown, unknown>): Map<string, TorchTensorRef> {
  const out = new Map<string, TorchTensorRef>();
  for (const [k, v] of m) if (v instanceof TorchTensorRef) out.set(String(k), v);
  return out;
}

/**
 * The name -> tensor map of a checkpoint: its `stateDictKey` entry if given, else `state_dict` when the root
 * holds one (Lightning / MedVAE), else the root dict itself. Only direct tensor entries are taken.
 */
export function stateDictOf(root: unknown, file: string, stateDictKey?: string): Map<string, TorchTensorRef> {
  if (!(root instanceof Map))
    throw new CheckpointError('CHECKPOINT_KEYS', `${file}: the checkpoint holds a ${describe(root)}, not a dict of tensors`);
  let obj: unknown = root;
  if (stateDictKey !== undefined) {
    obj = root.get(stateDictKey);
    if (!(obj instanceof Map)) {
      throw new CheckpointError('CHECKPOINT_KEYS', `${file}: no dict under key "${stateDictKey}"; the top-level keys are ${topKeys(root)}`);
    }
  } else if (root.get('state_dict') instanceof Map) obj = root.get('state_dict');
  const out = tensorsOf(obj as Map<unknown, unknown>);
  if (out.size === 0) {
    const hints = [...(obj as Map<unknown, unknown>)]
      .filter(([, v]) => v instanceof Map && tensorsOf(v).size > 0)
      .map(([k, v]) => `"${String(k)}" (${tensorsOf(v as Map<unknown, unknown>).size} tensors)`);
    throw new CheckpointError(
      'CHECKPOINT_KEYS',
      `${file}: no tensors at the top level of the state dict${hints.length ? `; tensors are under ${hints.join(', ')}: pass that as stateDictKey` : ''}`,
    );
  }
  return out;
}

function describe(v: unknown): string {
  if (v instanceof TorchTensorRef) return 'single tensor';
  if (Array.isArray(v)) return 'list';
  if (v instanceof OpaqueObject) return v.qualname;
  return typeof v;
}

function topKeys(m: Map<unknown, unknown>): string {
  const ks = [...m.keys()].map(String);
  return ks.length ? ks.slice(0, 20).join(', ') + (ks.length > 20 ? ', ...' : '') : '(none)';
}

/** Loads all tensors of a checkpoint's state dict into memory (F16/BF16 widened to f32 unless `raw16`). */
export async function loadTorchCheckpoint(
  src: string | Uint8Array,
  opts?: { raw16?: boolean; stateDictKey?: string },
): Promise<Map<string, HostTensor>> {
  const ck = await openTorchCheckpoint(src);
  try {
    const out = new Map<string, HostTensor>();
    for (const [k, t] of stateDictOf(ck.root, ck.name, opts?.stateDictKey)) out.set(k, await t.materialize(opts));
    return out;
  } finally {
    await ck.close();
  }
}
