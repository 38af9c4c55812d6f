import { LimitError } from './errors.js';

/** Live/peak byte accounting of a pool, as `gpu.memory()` reports it. */
export interface MemoryStats {
  /** Bytes held by live tensors (size-class rounded). */
  liveBytes: number;
  /** Highest `liveBytes` seen since creation or the last `resetPeak()`. */
  peakLiveBytes: number;
  /** Bytes of idle buffers kept for reuse. */
  pooledBytes: number;
  /** All GPU bytes allocated through the pool: live + pooled. */
  allocatedBytes: number;
  /** Highest `allocatedBytes` seen. */
  peakAllocatedBytes: number;
  /** Buffers created on the device so far (a measure of pool misses). */
  buffersCreated: number;
}

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/**
 * Size classes: powers of two split into four steps (1, 1.25, 1.5, 1.75 × 2^k), so at most 25% waste and a
 * freed buffer fits the next tensor of similar size. Sizes are multiples of 256 bytes.
 */
export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const step = pow / 4;
  const rounded = Math.ceil(bytes / step) * step;
  return Math.max(min, Math.ceil(rounded / 256) * 256);
}

/** Exact-size allocations are rounded to this many bytes only (vector loads may read a little past the end). */
export const EXACT_ALIGN = 256;

/**
 * Reuses GPU buffers by size class. Buffers return to the pool when their tensor is released; reuse in a
 * later dispatch is safe because the queue executes commands in order.
 *
 * Memory policy (issue 7: peak process memory near weights + the largest live activations):
 * - Long-lived tensors (weights) can be allocated at their exact size (`exact`), since class rounding would
 *   waste up to 25% of them for nothing: they are never reused. Such a buffer is destroyed when released,
 *   unless its size happens to be a size class.
 * - Idle buffers are kept for reuse only while the pool's total stays within the most live bytes ever
 *   needed (`liveHighWater`): a miss of at least `reclaimMinBytes` that would take the total above it first
 *   destroys idle buffers, oldest released first (`reclaimIdle`, on by default). So allocated bytes never
 *   exceed the live high-water mark: a 512² VAE decode no longer keeps the UNet's and its own earlier
 *   levels' buffers idle beside its 256 MiB maps, yet a repeated workload (the next denoising step) finds
 *   its buffers cached and creates none.
 */
export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Every idle buffer with its size, in release order (oldest first): the eviction order of `reclaimIdle`. */
  private readonly idleOrder = new Map<GPUBuffer, number>();
  private exactDepth = 0;
  /** Destroy idle buffers on a miss before growing (see the class comment). */
  reclaimIdle = true;
  /**
   * Misses below this size do not reclaim: destroying needs a submit first (`beforeDestroy`), which splits
   * command batches, and the memory at stake is small. Activations of a model at real size are above it.
   */
  reclaimMinBytes = 1 << 20;
  private live = 0;
  /** Most live bytes ever (never reset, unlike `peakLive`): what the pool may hold in all. */
  private liveHighWater = 0;
  private peakLive = 0;
  private pooled = 0;
  private peakAllocated = 0;
  private created = 0;
  private destroyed = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    /** Soft cap on allocated bytes; the pool trims idle buffers first, then throws a LimitError. */
    public budgetBytes = Number.POSITIVE_INFINITY,
    /**
     * Called before the pool destroys buffers: WebGPU forbids submitting work that uses a destroyed buffer,
     * so the owner submits what it has recorded (destroying after submit is fine: the work completes).
     */
    private readonly beforeDestroy: () => void = () => {},
  ) {}

  /**
   * Runs `fn` with exact-size allocation: tensors created meanwhile (by any caller: `fn` may await) get
   * buffers of their size rounded to 256 bytes, not a size class. For weights; nests. Returns what `fn`
   * returns; for a promise, exact allocation lasts until it settles.
   */
  exactSizes<T>(fn: () => T): T {
    this.exactDepth++;
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.exactDepth--;
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => this.exactDepth--) as T;
    this.exactDepth--;
    return result;
  }

  acquire(bytes: number, label?: string): { buffer: GPUBuffer; size: number } {
    const size = this.exactDepth > 0 ? Math.max(EXACT_ALIGN, Math.ceil(bytes / EXACT_ALIGN) * EXACT_ALIGN) : sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new LimitError(
        'LIMIT_EXCEEDED',
        `tensor${label ? ` "${label}"` : ''} needs ${size} bytes, above this adapter's maxBufferSize ` +
          `${this.maxBufferSize}; use a smaller input or tiled processing`,
      );
    }
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.idleOrder.delete(reused);
      this.pooled -= size;
      this.live += size;
      this.peakLive = Math.max(this.peakLive, this.live);
      this.liveHighWater = Math.max(this.liveHighWater, this.live);
      return { buffer: reused, size };
    }
    if (this.reclaimIdle && size >= this.reclaimMinBytes) {
      this.evictIdle(this.live + this.pooled + size - Math.max(this.liveHighWater, this.live + size));
    }
    if (this.live + this.pooled + size > this.budgetBytes) this.trim();
    if (this.live + size > this.budgetBytes) {
      throw new LimitError(
        'OUT_OF_MEMORY',
        `allocating ${size} bytes${label ? ` for "${label}"` : ''} would exceed the GPU memory budget of ` +
          `${this.budgetBytes} bytes (live ${this.live}); lower the resolution/batch, or raise the budget`,
      );
    }
    const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
    this.created++;
    this.live += size;
    this.peakLive = Math.max(this.peakLive, this.live);
    this.liveHighWater = Math.max(this.liveHighWater, this.live);
    this.peakAllocated = Math.max(this.peakAllocated, this.live + this.pooled);
    return { buffer, size };
  }

  release(buffer: GPUBuffer, size: number): void {
    this.live -= size;
    if (sizeClass(size) !== size) {
      // an exact-size buffer (a weight): no later tensor would fit it exactly, so give the memory back
      this.beforeDestroy();
      buffer.destroy();
      this.destroyed += size;
      return;
    }
    this.pooled += size;
    this.idleOrder.set(buffer, size);
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buffer);
  }

  /** Destroys every idle buffer. */
  trim(): void {
    if (this.pooled > 0) this.beforeDestroy();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.destroyed += this.pooled;
    this.free.clear();
    this.idleOrder.clear();
    this.pooled = 0;
  }

  /** Destroys idle buffers, oldest released first, until `bytes` are freed or none is left. */
  private evictIdle(bytes: number): void {
    if (bytes <= 0 || this.idleOrder.size === 0) return;
    this.beforeDestroy();
    let freed = 0;
    for (const [buffer, size] of this.idleOrder) {
      if (freed >= bytes) break;
      this.idleOrder.delete(buffer);
      const list = this.free.get(size) as GPUBuffer[];
      list.splice(list.indexOf(buffer), 1);
      if (list.length === 0) this.free.delete(size);
      buffer.destroy();
      this.pooled -= size;
      this.destroyed += size;
      freed += size;
    }
  }

  /**
   * Bytes of buffers destroyed so far (evicted, trimmed, released exact-size). Dawn returns a destroyed
   * buffer's memory only when it ticks after the GPU is done with it, and it ticks only while the program
   * awaits it (see `Gpu.settle`): until then that memory stays allocated beside its replacements.
   */
  get destroyedBytes(): number {
    return this.destroyed;
  }

  resetPeak(): void {
    this.peakLive = this.live;
    this.peakAllocated = this.live + this.pooled;
  }

  stats(): MemoryStats {
    return {
      liveBytes: this.live,
      peakLiveBytes: this.peakLive,
      pooledBytes: this.pooled,
      allocatedBytes: this.live + this.pooled,
      peakAllocatedBytes: this.peakAllocated,
      buffersCreated: this.created,
    };
  }
}
