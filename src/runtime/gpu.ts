import { BufferPool, type MemoryStats } from './buffer-pool.js';
import { type DType, bytesPerElement, fromF16Array, toF16Array } from './dtype.js';
import { DeviceError, LimitError, MedgpuError, NoAdapterError } from './errors.js';
import { nodeGpu, sleepingPoll } from './node-webgpu.js';
import { PipelineCache } from './pipeline-cache.js';
import { type DispatchCost, DispatchProfiler, type ProfiledDispatch } from './profiler.js';
import { type Binding, CommandRecorder, alignUp } from './recorder.js';
import { type Shape, Tensor, TensorView, numel, shapeString } from './tensor.js';

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Use only these optional features (default: every helpful one the adapter offers). */
  features?: readonly GpuFeature[];
  /** Soft cap on pooled GPU memory in bytes (default: unlimited; the device reports real OOM). */
  memoryBudgetBytes?: number;
  /** Dispatches recorded before an automatic submit. */
  maxDispatchesPerSubmit?: number;
  /** Dawn toggles/flags for the Node bindings, e.g. `['backend=vulkan']`. */
  dawnFlags?: string[];
}

export type GpuFeature = 'shader-f16' | 'subgroups' | 'timestamp-query';
const HELPFUL_FEATURES: readonly GpuFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

export type TensorData = Float32Array | Uint16Array | readonly number[];

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

type Tree = Tensor | Tree[] | { [k: string]: Tree } | unknown;

/**
 * A WebGPU device with the engine's runtime around it: buffer pool, command recorder, pipeline cache,
 * tensor scopes and error reporting. Create with `createGpu()`; `destroy()` when done.
 */
export class Gpu {
  readonly pool: BufferPool;
  readonly recorder: CommandRecorder;
  readonly pipelines: PipelineCache;
  /** Optional features enabled on the device. */
  readonly features: ReadonlySet<GpuFeature>;
  private readonly scopes: Set<Tensor>[] = [];
  private readonly deviceErrors: MedgpuError[] = [];
  private lost: string | null = null;
  private readonly readbackBuffers: GPUBuffer[] = [];
  /** `pool.destroyedBytes` at the last `settle()`. */
  private settledDestroyedBytes = 0;
  /** Work of every dispatch that came with a cost model (benchmarks read GFLOP/s from it). */
  readonly work = { flops: 0, bytes: 0, costedDispatches: 0 };

  constructor(
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly info: GpuInfo,
    options: GpuOptions = {},
  ) {
    this.features = new Set(HELPFUL_FEATURES.filter((f) => device.features.has(f)));
    // Recorded but unsubmitted work may still use a buffer the pool destroys: submit it first.
    this.pool = new BufferPool(device, device.limits.maxBufferSize, options.memoryBudgetBytes, () => this.recorder.flush());
    this.recorder = new CommandRecorder(device, options.maxDispatchesPerSubmit);
    this.pipelines = new PipelineCache(device);
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      const oom = e.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(e.message);
      this.deviceErrors.push(
        oom
          ? new LimitError('OUT_OF_MEMORY', `the GPU ran out of memory: ${e.message}; lower the resolution or batch`)
          : new DeviceError('GPU_VALIDATION', `WebGPU error: ${e.message}`),
      );
    });
    void device.lost.then((l) => {
      this.lost = `${l.reason}: ${l.message}`;
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  get hasF16(): boolean {
    return this.features.has('shader-f16');
  }

  get hasSubgroups(): boolean {
    return this.features.has('subgroups');
  }

  /** The adapter's limits that matter to the engine, as plain numbers. */
  limitReport(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of LIMIT_NAMES) out[n] = Number(this.device.limits[n]);
    return out;
  }

  // ---- tensors ----------------------------------------------------------------------------------------

  /** An uninitialised tensor from the pool, owned by the innermost scope (if any). */
  empty(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0)
        throw new MedgpuError('SHAPE_MISMATCH', `invalid shape ${shapeString(shape)}${label ? ` for ${label}` : ''}`);
    }
    if (dtype === 'f16' && !this.hasF16) {
      throw new MedgpuError('MISSING_FEATURE', "this adapter lacks 'shader-f16': use dtype 'f32'");
    }
    const bytes = Math.max(4, numel(shape) * bytesPerElement(dtype));
    const { buffer, size } = this.pool.acquire(bytes, label);
    const t = new Tensor(this, shape, dtype, buffer, size, label);
    this.track(t);
    return t;
  }

  /** Uploads host data. `data` is f32 values (converted to f16 when `dtype` is f16) or raw f16 bits. */
  upload(data: TensorData, shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    const n = numel(shape);
    if (data.length !== n) {
      throw new MedgpuError(
        'SHAPE_MISMATCH',
        `upload${label ? ` of ${label}` : ''}: ${data.length} values for shape ${shapeString(shape)} (${n})`,
      );
    }
    const t = this.empty(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the host. Ordered after every dispatch recorded so far. */
  write(t: Tensor, data: TensorData): void {
    let bytes: ArrayBufferView;
    if (t.dtype === 'f16') bytes = data instanceof Uint16Array ? data : toF16Array(data);
    else bytes = data instanceof Float32Array ? data : new Float32Array(data);
    // Pending dispatches may still read an earlier tenant of this pooled buffer: submit them first so the
    // queue orders this write after them.
    this.recorder.flush();
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(t.buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  zeros(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    const t = this.empty(shape, dtype, label);
    this.recorder.flush();
    this.device.queue.writeBuffer(t.buffer, 0, new Uint8Array(alignUp(Math.max(4, t.byteLength), 4)));
    return t;
  }

  /** Fills the whole pooled buffer with NaN bit patterns: tests use it to catch unwritten outputs. */
  poison(t: Tensor): void {
    this.recorder.flush();
    const fill = new Uint8Array(t.capacity).fill(0xff);
    this.device.queue.writeBuffer(t.buffer, 0, fill);
  }

  /** Reads a tensor back as f32 values. */
  async read(t: Tensor): Promise<Float32Array> {
    const raw = await this.readBytes(t.buffer, 0, alignUp(t.byteLength, 4));
    if (t.dtype === 'f16') return fromF16Array(new Uint16Array(raw.buffer, 0, t.numel));
    return new Float32Array(raw.buffer, 0, t.numel);
  }

  /** Reads `size` bytes of a buffer (size a multiple of 4). */
  async readBytes(buffer: GPUBuffer, offset: number, size: number): Promise<Uint8Array> {
    const staging = this.readbackBuffers.pop() ?? null;
    const buf =
      staging && staging.size >= size
        ? staging
        : this.device.createBuffer({ size: Math.max(size, 256), usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
    if (staging && buf !== staging) staging.destroy();
    if (size > 0) this.recorder.copy(buffer, offset, buf, 0, size);
    this.recorder.flush();
    await this.checked(sleepingPoll(buf.mapAsync(0x0001 /* READ */, 0, Math.max(size, 4))));
    const out = new Uint8Array(size);
    out.set(new Uint8Array(buf.getMappedRange(0, Math.max(size, 4)), 0, size));
    buf.unmap();
    this.readbackBuffers.push(buf);
    return out;
  }

  /** @internal Tensor release hook: back to the pool. */
  releaseTensor(t: Tensor): void {
    for (const s of this.scopes) s.delete(t);
    this.pool.release(t.buffer, t.capacity);
  }

  // ---- scopes -----------------------------------------------------------------------------------------

  /**
   * Runs `fn` and releases every tensor created inside it except those reachable from its result (tensors,
   * arrays and plain objects of them) and those passed to `keep()`. Survivors move to the enclosing scope.
   */
  scope<T>(fn: () => T): T {
    const s = new Set<Tensor>();
    this.scopes.push(s);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.closeScope(s, undefined);
      throw e;
    }
    if (result instanceof Promise) {
      throw new MedgpuError('BAD_ARGUMENT', 'gpu.scope(fn): fn returned a promise; use gpu.scopeAsync');
    }
    this.closeScope(s, result);
    return result;
  }

  /** `scope` for async functions. Do not interleave two scopes from concurrent tasks. */
  async scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
    const s = new Set<Tensor>();
    this.scopes.push(s);
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      this.closeScope(s, undefined);
      throw e;
    }
    this.closeScope(s, result);
    return result;
  }

  /** Takes tensors out of every scope: the caller now owns them and must `release()` them. */
  keep<T extends Tree>(value: T): T {
    collectTensors(value, (t) => {
      for (const s of this.scopes) s.delete(t);
    });
    return value;
  }

  private track(t: Tensor): void {
    this.scopes[this.scopes.length - 1]?.add(t);
  }

  private closeScope(s: Set<Tensor>, result: unknown): void {
    const idx = this.scopes.lastIndexOf(s);
    this.scopes.splice(idx, 1);
    const kept = new Set<Tensor>();
    collectTensors(result, (t) => kept.add(t));
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of s) {
      if (kept.has(t)) parent?.add(t);
      else t.release();
    }
  }

  // ---- dispatch ---------------------------------------------------------------------------------------

  /**
   * Records one kernel launch. `code` is only called on a pipeline-cache miss for `key`. Bindings are
   * `@binding(0..n-1)` in order; `params` (packed uniforms) is bound at `@binding(n)`.
   */
  dispatch(args: {
    key: string;
    code: () => string;
    bindings: readonly Binding[];
    params?: ArrayBuffer | ArrayBufferView;
    workgroups: readonly [number, number?, number?];
    /** The launch's cost model, counted in `work` and reported by the profiler. */
    cost?: DispatchCost;
  }): void {
    this.throwIfFailed();
    const [x, y = 1, z = 1] = args.workgroups;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new LimitError('LIMIT_EXCEEDED', `kernel "${args.key}": ${x}×${y}×${z} workgroups exceeds ${maxDim} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    for (const b of args.bindings) {
      const size = 'shape' in b ? b.byteLength : (b.size ?? b.buffer.size - (b.offset ?? 0));
      if (size > maxBinding) {
        throw new LimitError(
          'LIMIT_EXCEEDED',
          `kernel "${args.key}": a binding of ${size} bytes exceeds this adapter's maxStorageBufferBindingSize ${maxBinding}; the launcher must split this work`,
        );
      }
    }
    const pipeline = this.pipelines.get(args.key, args.code);
    if (args.cost) {
      this.work.flops += args.cost.flops;
      this.work.bytes += args.cost.bytes;
      this.work.costedDispatches++;
    }
    this.recorder.dispatch({
      pipeline,
      bindings: args.bindings,
      params: args.params,
      workgroups: [x, y, z],
      label: args.key,
      cost: args.cost,
    });
  }

  /** Starts timing every dispatch (timestamp queries when offered, else one submit each): see profiler.ts. */
  startProfiling(): void {
    this.recorder.flush();
    this.recorder.profiler = new DispatchProfiler(this.device, this.features.has('timestamp-query'));
  }

  /** Stops profiling; returns each dispatch since `startProfiling()` with its kernel key, cost and GPU time. */
  async stopProfiling(): Promise<ProfiledDispatch[]> {
    const p = this.recorder.profiler;
    if (!p) throw new MedgpuError('BAD_ARGUMENT', 'gpu.stopProfiling(): profiling was not started (call gpu.startProfiling() first)');
    this.recorder.flush();
    this.recorder.profiler = null;
    const out = await p.collect();
    this.throwIfFailed();
    return out;
  }

  /** Submits recorded work without waiting. */
  flush(): void {
    this.recorder.flush();
  }

  /** Submits recorded work and waits until the GPU has finished it; throws the first device error. */
  async sync(): Promise<void> {
    this.recorder.flush();
    await this.checked(sleepingPoll(this.device.queue.onSubmittedWorkDone()));
  }

  /**
   * Brings the process's GPU memory down to the live tensors between the stages of a long model: destroys
   * the pool's idle buffers and, if anything was destroyed since the last call, lets Dawn free it (else
   * returns at once). Dawn frees a destroyed buffer only once a submit made after the destroy has completed
   * (work recorded but not yet submitted might still use it), and only when it ticks, which in Node happens
   * while a promise of it is pending. So within a synchronous run of dispatches the buffers the pool evicts
   * stay allocated beside their replacements (a 512² VAE decode recorded at once evicts 1.3 GiB, level after
   * level, and held ~1 GiB above the pool's peak on lavapipe), and a destroyed buffer outlives even a sync
   * when nothing is submitted after it. Settling after every stage also leaves a stage no idle buffers to
   * evict while it runs; the cost is that a stage re-creates the buffers it would have reused. With
   * `trim: false` idle buffers are kept (for a model run again and again: it only frees what it evicted).
   */
  async settle(opts: { trim?: boolean } = {}): Promise<void> {
    if (opts.trim !== false) this.pool.trim();
    const destroyed = this.pool.destroyedBytes;
    if (destroyed === this.settledDestroyedBytes) return;
    this.recorder.flush();
    // an empty submit after the destroys: its completion is what Dawn waits for before freeing them
    this.device.queue.submit([this.device.createCommandEncoder().finish()]);
    await this.sync();
    this.settledDestroyedBytes = destroyed;
  }

  memory(): MemoryStats {
    return this.pool.stats();
  }

  destroy(): void {
    this.recorder.flush();
    this.pool.trim();
    for (const b of this.readbackBuffers) b.destroy();
    this.device.destroy();
  }

  private async checked<T>(p: Promise<T>): Promise<T> {
    const v = await p;
    this.throwIfFailed();
    return v;
  }

  private throwIfFailed(): void {
    if (this.lost) throw new DeviceError('DEVICE_LOST', `the GPU device was lost (${this.lost}); create a new Gpu`);
    const e = this.pipelines.takeError() ?? this.deviceErrors.shift();
    if (e) throw e;
  }
}

function padTo4(bytes: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(alignUp(bytes.byteLength, 4));
  out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return out;
}

function collectTensors(v: unknown, visit: (t: Tensor) => void, depth = 0): void {
  if (depth > 8 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    visit(v);
    if (v instanceof TensorView) visit(v.base);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, visit, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(v) === Object.prototype || v instanceof Map) {
    const values = v instanceof Map ? [...v.values()] : Object.values(v);
    for (const x of values) collectTensors(x, visit, depth + 1);
  }
}

const NO_ADAPTER_HELP =
  'medgpu needs a WebGPU adapter. In a browser, use one with WebGPU enabled. In Node on Linux without a GPU, ' +
  "install Mesa's lavapipe (Debian bookworm: add the bookworm-backports suite and run " +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers`, or run `bash .ci/install-lavapipe.sh`); with a GPU, install its Vulkan driver.';

/** Acquires an adapter and device (Node via the `webgpu` package, browsers via `navigator.gpu`). */
export async function createGpu(options: GpuOptions = {}): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu: GPU | undefined = nav?.gpu;
  if (!gpu && typeof process !== 'undefined' && process.versions?.node) gpu = await nodeGpu(options.dawnFlags ?? []);
  if (!gpu) throw new NoAdapterError('NO_WEBGPU', `no WebGPU implementation found. ${NO_ADAPTER_HELP}`);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('NO_ADAPTER', `no WebGPU adapter found. ${NO_ADAPTER_HELP}`);
  const wanted = options.features ?? HELPFUL_FEATURES;
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const n of LIMIT_NAMES) {
    if (n.startsWith('min')) continue;
    requiredLimits[n] = Number(adapter.limits[n]);
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'medgpu' });
  const ai = adapter.info;
  const info: GpuInfo = {
    vendor: ai?.vendor ?? '',
    architecture: ai?.architecture ?? '',
    device: ai?.device ?? '',
    description: ai?.description ?? '',
    backend: (ai as { backendType?: string } | undefined)?.backendType ?? guessBackend(ai?.description ?? ''),
    isFallbackAdapter: Boolean(
      (ai as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
        (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
    subgroupMinSize: (ai as { subgroupMinSize?: number } | undefined)?.subgroupMinSize,
    subgroupMaxSize: (ai as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize,
  };
  return new Gpu(adapter, device, info, options);
}

function guessBackend(description: string): string {
  if (/llvmpipe|lavapipe|vulkan|mesa/i.test(description)) return 'vulkan';
  return 'unknown';
}
