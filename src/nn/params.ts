/**
 * Parameters of a model, declared while the model is built from its config and loaded afterwards.
 *
 * Building a model only declares what it needs: each `Param` names the upstream state-dict keys it reads
 * (with their expected shapes) and how to turn their host values into GPU data (a plain upload, a conv
 * weight re-layout, a LoRA merge). So the whole checkpoint can be checked strictly — every missing,
 * unexpected and mis-shaped key reported at once — before a byte is uploaded, and then streamed tensor by
 * tensor: only the tensors of one `Param` are on the host at any time.
 */
import { checkWeights } from '../io/weight-source.js';
import type { DType } from '../runtime/dtype.js';
import { MedgpuError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { Tensor, numel } from '../runtime/tensor.js';

/** What loading needs of a weight file (src/io's `WeightSource` satisfies it). */
export interface WeightReader {
  readonly path: string;
  keys(): string[];
  info(name: string): { shape: readonly number[] } | undefined;
  read(name: string, as?: 'f32' | 'f16'): Promise<Float32Array | Uint16Array>;
}

export interface ParamKey {
  name: string;
  shape: readonly number[];
}

/** What a `Param`'s loader gets: the host values of its keys, in declaration order (f32). */
export type ParamLoader<T> = (hosts: Float32Array[], ctx: LoadContext) => T;

export interface LoadContext {
  gpu: Gpu;
  /** Storage dtype of the model's weights and activations. */
  dtype: DType;
}

/** One loadable value: a tensor, or something derived from one or more checkpoint tensors. */
export class Param<T = Tensor> {
  private loaded: T | undefined;
  /**
   * For a plain single-key tensor: how to upload f16 bits read straight from the file when the model's
   * dtype is f16 (skips an f32 round trip on the host; an F16 file is then copied as stored).
   */
  f16Loader?: (bits: Uint16Array, ctx: LoadContext) => T;

  constructor(
    readonly keys: readonly ParamKey[],
    private readonly loader: ParamLoader<T>,
  ) {}

  /** The loaded value; using a model before `loadParams` is a programming error. */
  get value(): T {
    if (this.loaded === undefined) {
      throw new MedgpuError('BAD_ARGUMENT', `parameter ${this.keys.map((k) => k.name).join(', ')} used before the weights were loaded`);
    }
    return this.loaded;
  }

  get isLoaded(): boolean {
    return this.loaded !== undefined;
  }

  /** @internal */
  set(v: T): void {
    this.loaded = v;
  }

  /** @internal */
  load(hosts: Float32Array[], ctx: LoadContext): T {
    return this.loader(hosts, ctx);
  }
}

/**
 * Declares parameters under a name prefix (`down_blocks.0.resnets.1.`), like a PyTorch module path. Every
 * scope of one model shares the registry its root was made with.
 */
export class ParamScope {
  constructor(
    readonly registry: Param<unknown>[] = [],
    readonly prefix = '',
  ) {}

  /** The scope of a sub-module: `scope.child('resnets').child(0)` → prefix `resnets.0.`. */
  child(name: string | number): ParamScope {
    return new ParamScope(this.registry, `${this.prefix}${name}.`);
  }

  /** Full key of a local name. */
  key(name: string): string {
    return this.prefix + name;
  }

  /** A tensor uploaded as stored (shape as in the checkpoint unless `uploadShape` says otherwise). */
  tensor(name: string, shape: readonly number[], uploadShape?: readonly number[]): Param<Tensor> {
    const full = this.key(name);
    const p = this.custom([[name, shape]], ([h], { gpu, dtype }) => gpu.upload(h as Float32Array, uploadShape ?? shape, dtype, full));
    p.f16Loader = (bits, { gpu }) => gpu.upload(bits, uploadShape ?? shape, 'f16', full);
    return p;
  }

  /** A value built from several keys of this scope by `loader` (conv re-layout, LoRA merge, fused QKV...). */
  custom<T>(keys: ReadonlyArray<readonly [string, readonly number[]]>, loader: ParamLoader<T>): Param<T> {
    const p = new Param<T>(
      keys.map(([name, shape]) => ({ name: this.key(name), shape })),
      loader,
    );
    this.registry.push(p as Param<unknown>);
    return p;
  }
}

/** Every key the params of `registry` read, with its expected shape. */
export function expectedKeys(registry: readonly Param<unknown>[]): Map<string, readonly number[]> {
  const m = new Map<string, readonly number[]>();
  for (const p of registry) for (const k of p.keys) m.set(k.name, k.shape);
  return m;
}

export interface LoadOptions {
  dtype?: DType;
  /** Keys in the file that the model does not use but that are known to be harmless (e.g. buffers). */
  ignoreUnexpected?: (name: string) => boolean;
  /** Called after each parameter with bytes read so far and the total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Checks `src` strictly against the declared params (all problems reported at once), then loads them one
 * by one: read its keys (f32 on the host), build, upload, drop the host copies.
 */
export async function loadParams(gpu: Gpu, registry: readonly Param<unknown>[], src: WeightReader, opts: LoadOptions = {}): Promise<void> {
  checkWeights(src, expectedKeys(registry), { ignoreUnexpected: opts.ignoreUnexpected });
  const ctx: LoadContext = { gpu, dtype: opts.dtype ?? 'f32' };
  const bytesOf = (p: Param<unknown>) => p.keys.reduce((s, k) => s + 4 * numel(k.shape), 0);
  const total = registry.reduce((s, p) => s + bytesOf(p), 0);
  let done = 0;
  for (const p of registry) {
    if (opts.signal?.aborted) throw new MedgpuError('CANCELLED', `loading ${src.path} was cancelled`);
    let value: unknown;
    const [only] = p.keys;
    if (ctx.dtype === 'f16' && p.f16Loader && only && p.keys.length === 1) {
      value = p.f16Loader((await src.read(only.name, 'f16')) as Uint16Array, ctx);
    } else {
      const hosts: Float32Array[] = [];
      for (const k of p.keys) hosts.push((await src.read(k.name, 'f32')) as Float32Array);
      value = p.load(hosts, ctx);
    }
    // Keep the result past any enclosing gpu.scope: parameters live as long as the model.
    p.set(gpu.keep(value));
    done += bytesOf(p);
    opts.onProgress?.(done, total);
  }
}

/** Frees the GPU memory of every loaded param: tensors, and values that hold one (e.g. re-laid conv weights). */
export function releaseParams(registry: readonly Param<unknown>[]): void {
  for (const p of registry) {
    if (!p.isLoaded) continue;
    const v = p.value;
    if (v instanceof Tensor) v.release();
    else if (v && typeof v === 'object' && 'tensor' in v && v.tensor instanceof Tensor) v.tensor.release();
  }
}
