import { FileFormatError } from '../runtime/errors.js';

/**
 * A restricted unpickler. It interprets the opcodes that `torch.save` emits but never imports or calls
 * anything: each GLOBAL must be on an allow-list (all others are refused by name with `UNSAFE_PICKLE`), and
 * REDUCE/NEWOBJ/BUILD only mean what the caller's hooks make of those allowed names. Plain data comes back as
 * JS values: dict -> Map, list -> array, tuple -> PickleTuple, ints -> number (bigint beyond 2^53).
 * It is iterative (no recursion on nesting) and every length is checked against the input before use.
 */

/** A reference to an allowed Python global, e.g. `torch._utils._rebuild_tensor_v2`. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An object of an allowed but inert class (Lightning callback keys, numpy scalars, argparse namespaces in
 * hyper-parameters): kept as its class name, arguments and state, never constructed.
 */
export class OpaqueObject {
  state: unknown = undefined;
  constructor(
    readonly qualname: string,
    readonly args: readonly unknown[],
  ) {}
}

/** Tuples stay distinct from lists so shapes/strides can be recognised. */
export class PickleTuple extends Array<unknown> {}

/** The stream ended early. Readers that fetch a file in pieces retry with more bytes. */
export class PickleTruncatedError extends FileFormatError {}

export type PickleHooks = {
  /** Globals that may be referenced; anything else is refused. */
  allowed: ReadonlySet<string>;
  /** Calls an allowed global (REDUCE / NEWOBJ). */
  call(fn: PickleGlobal, args: unknown[]): unknown;
  /** BINPERSID: resolves a persistent id (torch storages). */
  persistentLoad(pid: unknown): unknown;
};

const MAX_MARKS = 10_000;
const MAX_STACK = 1_000_000;

function tuple(items: unknown[]): PickleTuple {
  const t = new PickleTuple();
  for (const x of items) t.push(x);
  return t;
}

export interface PickleResult {
  value: unknown;
  /** Offset just after the STOP opcode (legacy checkpoints hold several pickles back to back). */
  end: number;
}

export function unpickle(bytes: Uint8Array, hooks: PickleHooks, file: string, start = 0): PickleResult {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  const fail = (what: string): never => {
    throw new FileFormatError('BAD_FILE', `${file}: pickle ${what} at byte ${pos}; the checkpoint is corrupt or not a PyTorch file`);
  };
  const need = (n: number) => {
    if (n < 0) fail(`has a negative length ${n}`);
    if (pos + n > bytes.length) {
      throw new PickleTruncatedError(
        'BAD_FILE',
        `${file}: pickle needs ${n} bytes at byte ${pos} but the data ends at ${bytes.length}; the file is truncated`,
      );
    }
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const s = bytes.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const u8 = () => take(1)[0] as number;
  const u16 = () => {
    need(2);
    pos += 2;
    return dv.getUint16(pos - 2, true);
  };
  const u32 = () => {
    need(4);
    pos += 4;
    return dv.getUint32(pos - 4, true);
  };
  const i32 = () => {
    need(4);
    pos += 4;
    return dv.getInt32(pos - 4, true);
  };
  const u64 = () => {
    need(8);
    pos += 8;
    const v = dv.getBigUint64(pos - 8, true);
    // Lengths beyond the input cannot be satisfied; clamp so `need` reports truncation without a huge number.
    return v > BigInt(bytes.length) ? bytes.length + 1 : Number(v);
  };
  const decoder = new TextDecoder();
  const utf8 = (b: Uint8Array) => decoder.decode(b);
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= (marks.at(-1) as number))) fail('stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('MARK missing');
    return stack.splice(m as number);
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= (marks.at(-1) as number))) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const push = (v: unknown) => {
    if (stack.length >= MAX_STACK) fail(`stack deeper than ${MAX_STACK} items`);
    stack.push(v);
  };
  const global = (module: string, name: string) => {
    const q = `${module}.${name}`;
    if (!hooks.allowed.has(q)) {
      throw new FileFormatError(
        'UNSAFE_PICKLE',
        `${file}: refusing pickle global ${q}: only tensors and plain containers are loaded, never code. Convert the checkpoint to safetensors if it is trusted.`,
      );
    }
    push(new PickleGlobal(module, name));
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (target instanceof OpaqueObject) return; // items of an inert object are not kept
    if (!(target instanceof Map)) fail('SETITEM(S) on a non-dict');
    if (items.length % 2) fail('odd number of SETITEMS items');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(hashKey(items[i], fail), items[i + 1]);
  };
  const call = (fn: unknown, args: unknown) => {
    if (!(fn instanceof PickleGlobal)) fail('REDUCE of a non-global');
    if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
    return hooks.call(fn as PickleGlobal, args as unknown[]);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported protocol');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} stack items`);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        if (marks.length >= MAX_MARKS) fail(`nesting deeper than ${MAX_MARKS} marks`);
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        // LONG4
        const n = op === 0x8a ? u8() : u32();
        if (n > 64) fail(`integer of ${n} bytes is too long`);
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
        if (n > 0 && (b[n - 1] as number) & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        pos += 8;
        push(dv.getFloat64(pos - 8, false));
        break;
      case 0x58: // BINUNICODE
        push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING
        push(utf8(take(u8())));
        break;
      case 0x54: // BINSTRING
        push(utf8(take(i32())));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
        push(take(u64()).slice());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} missing`);
        push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const line = () => {
          const end = bytes.indexOf(0x0a, pos);
          if (end < 0 || end - pos > 256) fail('bad GLOBAL');
          const s = utf8(bytes.subarray(pos, end));
          pos = end + 1;
          return s;
        };
        const m = line();
        global(m, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL of non-strings');
        global(module as string, name as string);
        break;
      }
      case 0x74: // TUPLE
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(tuple([pop(), b, c]));
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const m = new Map();
        setItems(m, popMark());
        push(m);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (l instanceof OpaqueObject) break;
        if (!Array.isArray(l) || l instanceof PickleTuple) fail('APPEND to a non-list');
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (l instanceof OpaqueObject) break;
        if (!Array.isArray(l) || l instanceof PickleTuple) fail('APPENDS to a non-list');
        for (const x of items) (l as unknown[]).push(x);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS to a non-set');
        for (const x of items) (s as Set<unknown>).add(x);
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x52: {
        // REDUCE
        const args = pop();
        push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD sets an object's state (attributes, e.g. a state dict's `_metadata`): kept on opaque
        // objects, not needed elsewhere (it never adds dict items).
        const state = pop();
        const obj = top();
        if (typeof obj !== 'object' || obj === null) fail('BUILD on a non-object');
        if (obj instanceof OpaqueObject) obj.state = state;
        break;
      }
      case 0x51: // BINPERSID
        push(hooks.persistentLoad(pop()));
        break;
      default:
        fail(`unsupported opcode 0x${op.toString(16)}`);
    }
  }
}

/**
 * Dict keys: strings, numbers and other scalars are used as they are; a tuple of scalars becomes its JSON text
 * so lookups by value still work. Anything else keeps its identity (a bounded, non-recursive rule: a crafted
 * key graph cannot make this expensive).
 */
function hashKey(k: unknown, fail: (what: string) => never): unknown {
  if (!(k instanceof PickleTuple)) return k;
  if (k.length > 64) fail('dict key is a tuple of more than 64 items');
  if (k.every((x) => x === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof x))) {
    return JSON.stringify(k.map((x) => (typeof x === 'bigint' ? x.toString() : x)));
  }
  return k;
}
