import { zipSync } from 'fflate';

/** Hand-assembled pickles and torch.save archives for tests: valid ones to vary, and malicious ones. */

const enc = new TextEncoder();

export const op = {
  proto: (n: number) => [0x80, n],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  append: [0x61],
  setitem: [0x73],
  setitems: [0x75],
  reduce: [0x52],
  build: [0x62],
  binpersid: [0x51],
  newfalse: [0x89],
  none: [0x4e],
  memoize: [0x94],
  binput: (i: number) => [0x71, i],
  binget: (i: number) => [0x68, i],
  stackGlobal: [0x93],
  global: (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  str: (s: string) => {
    const b = enc.encode(s);
    return b.length < 256 ? [0x8c, b.length, ...b] : [0x58, ...u32(b.length), ...b];
  },
  int: (n: number) => (n >= 0 && n < 256 ? [0x4b, n] : [0x4a, ...i32(n)]),
  long1: (n: bigint, bytes: number) => {
    const out = [0x8a, bytes];
    let v = n;
    for (let i = 0; i < bytes; i++) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
    return out;
  },
};

function u32(n: number): number[] {
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
}
function i32(n: number): number[] {
  return u32(n >>> 0);
}

export function pickle(...parts: (number[] | number)[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

/** A tuple of ints as pickle ops. */
export function intTuple(xs: readonly number[]): number[] {
  return [...op.mark, ...xs.flatMap((x) => op.int(x)), ...op.tuple];
}

export interface TensorSpec {
  name: string;
  storageType: string; // e.g. FloatStorage
  key: string;
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
  /** Legacy only: (view key, element offset, element count) of the root storage. */
  view?: [string, number, number];
}

/** `{name: _rebuild_tensor_v2(persistent storage, offset, shape, stride, False, OrderedDict())}` as pickle ops. */
export function stateDictOps(tensors: TensorSpec[], legacy = false): number[] {
  const out: number[] = [...op.emptyDict];
  for (const t of tensors) {
    const pid = [
      ...op.mark,
      ...op.str('storage'),
      ...op.global('torch', t.storageType),
      ...op.str(t.key),
      ...op.str('cpu'),
      ...op.int(t.numel),
      ...(legacy ? (t.view ? [...op.mark, ...op.str(t.view[0]), ...op.int(t.view[1]), ...op.int(t.view[2]), ...op.tuple] : op.none) : []),
      ...op.tuple,
    ];
    out.push(
      ...op.str(t.name),
      ...op.global('torch._utils', '_rebuild_tensor_v2'),
      ...op.mark,
      ...pid,
      ...op.binpersid,
      ...op.int(t.offset),
      ...intTuple(t.shape),
      ...intTuple(t.stride),
      ...op.newfalse,
      ...op.global('collections', 'OrderedDict'),
      ...op.emptyTuple,
      ...op.reduce,
      ...op.tuple,
      ...op.reduce,
      ...op.setitem,
    );
  }
  return out;
}

/** A torch.save zip: `archive/data.pkl`, `archive/data/<key>` (stored), `archive/version`. */
export function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { deflatePickle?: boolean } = {}): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 | 6 }]> = {
    'archive/data.pkl': [pkl, { level: opts.deflatePickle ? 6 : 0 }],
    'archive/version': [enc.encode('3\n'), { level: 0 }],
  };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = [v, { level: 0 }];
  return zipSync(files);
}

/** A legacy torch.save stream: magic, protocol 1001, sys_info, the object, the storage keys, then each storage. */
export function torchLegacy(mainOps: number[], storages: [string, Uint8Array, number][]): Uint8Array {
  const magic = pickle(op.proto(2), op.long1(0x1950a86a20f9469cfc6cn, 10), op.stop);
  const proto = pickle(op.proto(2), [0x4d, 0xe9, 0x03], op.stop); // BININT2 1001
  const sys = pickle(op.proto(2), op.emptyDict, op.str('little_endian'), [0x88], op.setitem, op.stop);
  const main = pickle(op.proto(2), mainOps, op.stop);
  const keys = pickle(op.proto(2), op.mark, ...storages.map(([k]) => op.str(k)), [0x6c], op.stop); // LIST
  const parts: Uint8Array[] = [magic, proto, sys, main, keys];
  for (const [, bytes, numel] of storages) {
    const n = new Uint8Array(8);
    new DataView(n.buffer).setBigInt64(0, BigInt(numel), true);
    parts.push(n, bytes);
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
