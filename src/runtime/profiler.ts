/**
 * Per-dispatch GPU timing for `medgpu bench e2e --profile`. With `timestamp-query`, the recorder gives each
 * dispatch its own compute pass whose beginning and end write timestamps into a query set; without it, each
 * dispatch is submitted alone and timed by when its submit completes ("timed submits": coarser, and it
 * includes the per-submit overhead). Either way batching is off while profiling, so the total is higher
 * than an unprofiled run: read the shares, not the sum.
 */
import { sleepingPoll } from './node-webgpu.js';

/** A launch's cost model (flops and bytes moved), as the kernels' `*Cost` functions return it. */
export interface DispatchCost {
  flops: number;
  bytes: number;
}

export interface ProfiledDispatch {
  /** The kernel's pipeline key. */
  label: string;
  cost?: DispatchCost;
  /** GPU time of the dispatch in milliseconds. */
  ms: number;
}

/** WebGPU caps a query set at 4096 queries: two per dispatch. */
const QUERIES_PER_SET = 4096;

export class DispatchProfiler {
  private readonly sets: GPUQuerySet[] = [];
  private used = 0;
  private readonly entries: { label: string; cost?: DispatchCost }[] = [];
  /** Timed-submit mode: when each dispatch was submitted and when its work was done. */
  private readonly submits: { at: number; done: Promise<number> }[] = [];

  constructor(
    private readonly device: GPUDevice,
    readonly timestamps: boolean,
  ) {}

  /** Called by the recorder before a dispatch; returns the timestamp writes for its own compute pass. */
  beginDispatch(label: string, cost?: DispatchCost): GPUComputePassTimestampWrites | undefined {
    this.entries.push({ label, cost });
    if (!this.timestamps) return undefined;
    if (this.used + 2 > this.sets.length * QUERIES_PER_SET) {
      this.sets.push(this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET }));
    }
    const set = this.sets[this.sets.length - 1] as GPUQuerySet;
    const begin = this.used % QUERIES_PER_SET;
    this.used += 2;
    return { querySet: set, beginningOfPassWriteIndex: begin, endOfPassWriteIndex: begin + 1 };
  }

  /** Timed-submit mode: called by the recorder right after it submitted one dispatch. */
  submitted(): void {
    this.submits.push({ at: performance.now(), done: this.device.queue.onSubmittedWorkDone().then(() => performance.now()) });
  }

  /** Each dispatch's label, cost and time, in recording order (call after the recorder was flushed). */
  async collect(): Promise<ProfiledDispatch[]> {
    const ms = this.timestamps ? await this.readTimestamps() : await this.submitTimes();
    const out = this.entries.map((e, i) => ({ ...e, ms: ms[i] ?? 0 }));
    for (const s of this.sets) s.destroy();
    return out;
  }

  private async readTimestamps(): Promise<number[]> {
    const bytes = this.used * 8;
    if (bytes === 0) return [];
    const resolve = this.device.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
    const read = this.device.createBuffer({ size: bytes, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
    const enc = this.device.createCommandEncoder();
    this.sets.forEach((set, i) => {
      const count = Math.min(QUERIES_PER_SET, this.used - i * QUERIES_PER_SET);
      enc.resolveQuerySet(set, 0, count, resolve, i * QUERIES_PER_SET * 8);
    });
    enc.copyBufferToBuffer(resolve, 0, read, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await sleepingPoll(read.mapAsync(0x0001 /* READ */));
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    read.destroy();
    resolve.destroy();
    const out: number[] = [];
    for (let i = 0; i + 1 < t.length; i += 2) out.push(Number((t[i + 1] as bigint) - (t[i] as bigint)) / 1e6);
    return out;
  }

  private async submitTimes(): Promise<number[]> {
    const done = await sleepingPoll(Promise.all(this.submits.map((s) => s.done)));
    // A dispatch starts when it was submitted or when the one before it finished, whichever is later.
    return done.map((d, i) => d - Math.max(this.submits[i]?.at ?? 0, i > 0 ? (done[i - 1] as number) : 0));
  }
}
