import type { DispatchCost, DispatchProfiler } from './profiler.js';
import type { Tensor } from './tensor.js';

/** A buffer range bound to one `@binding`. */
export interface BufferBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

export type Binding = Tensor | BufferBinding;

/** One kernel launch. Binding i of group 0 is `bindings[i]`; uniform params (if any) come last. */
export interface Dispatch {
  pipeline: GPUComputePipeline;
  bindings: readonly Binding[];
  /** Packed uniform bytes (a multiple of 4 bytes), bound after the buffers. */
  params?: ArrayBuffer | ArrayBufferView;
  workgroups: readonly [number, number?, number?];
  /** Kernel name and cost model, for the profiler. */
  label?: string;
  cost?: DispatchCost;
}

/**
 * Uniform params of many dispatches live in one ring buffer: each dispatch's bytes are copied into a host
 * staging array and the used range is written once per submit, so no buffer is created per dispatch.
 */
class UniformRing {
  readonly buffer: GPUBuffer;
  private readonly staging: Uint8Array;
  private used = 0;

  constructor(
    device: GPUDevice,
    readonly capacity: number,
    private readonly align: number,
  ) {
    this.buffer = device.createBuffer({ size: capacity, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'uniform-ring' });
    this.staging = new Uint8Array(capacity);
  }

  /** Offset of the copied bytes, or -1 when the ring is full (the recorder then submits and resets). */
  push(bytes: Uint8Array): number {
    const offset = this.used;
    const end = offset + Math.ceil(Math.max(bytes.byteLength, 16) / this.align) * this.align;
    if (end > this.capacity) return -1;
    this.staging.set(bytes, offset);
    this.used = end;
    return offset;
  }

  upload(queue: GPUQueue): void {
    if (this.used > 0) queue.writeBuffer(this.buffer, 0, this.staging, 0, this.used);
    this.used = 0;
  }

  get empty(): boolean {
    return this.used === 0;
  }
}

function asBytes(p: ArrayBuffer | ArrayBufferView): Uint8Array {
  return p instanceof ArrayBuffer ? new Uint8Array(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
}

function isTensor(b: Binding): b is Tensor {
  return 'shape' in b;
}

/**
 * Batches dispatches into one command encoder and one compute pass, submitted when `maxDispatches` are
 * pending, when the uniform ring fills, or on `flush()`. Within a compute pass each dispatch is its own
 * usage scope, so a dispatch sees the writes of the ones before it.
 */
export class CommandRecorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private readonly ring: UniformRing;
  /** Totals since creation, for benchmarks and tests of batching. */
  dispatches = 0;
  submits = 0;
  /** When set, every dispatch is timed (its own pass with timestamps, or its own submit): see profiler.ts. */
  profiler: DispatchProfiler | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxDispatches = 512,
  ) {
    const align = device.limits.minUniformBufferOffsetAlignment;
    this.ring = new UniformRing(device, Math.min(1 << 20, device.limits.maxUniformBufferBindingSize * 16), align);
  }

  get hasPending(): boolean {
    return this.pending > 0 || this.encoder !== null;
  }

  dispatch(d: Dispatch): void {
    let paramOffset = -1;
    let paramBytes: Uint8Array | null = null;
    if (d.params) {
      paramBytes = asBytes(d.params);
      paramOffset = this.ring.push(paramBytes);
      if (paramOffset < 0) {
        this.flush();
        paramOffset = this.ring.push(paramBytes);
      }
    }
    const entries: GPUBindGroupEntry[] = d.bindings.map((b, i) =>
      isTensor(b)
        ? { binding: i, resource: { buffer: b.buffer, offset: 0, size: Math.max(4, alignUp(b.byteLength, 4)) } }
        : { binding: i, resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size } },
    );
    if (paramBytes) {
      entries.push({
        binding: d.bindings.length,
        resource: { buffer: this.ring.buffer, offset: paramOffset, size: alignUp(Math.max(paramBytes.byteLength, 16), 16) },
      });
    }
    const bindGroup = this.device.createBindGroup({ layout: d.pipeline.getBindGroupLayout(0), entries });
    const pass = this.profiler ? this.profiledPass(d) : this.computePass();
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1);
    this.pending++;
    this.dispatches++;
    if (this.profiler) {
      pass.end();
      this.pass = null;
      if (!this.profiler.timestamps) {
        this.flush();
        this.profiler.submitted();
      }
    }
    if (this.pending >= this.maxDispatches) this.flush();
  }

  /** A compute pass of its own for one profiled dispatch, with the profiler's timestamp writes. */
  private profiledPass(d: Dispatch): GPUComputePassEncoder {
    const timestampWrites = this.profiler?.beginDispatch(d.label ?? 'unlabelled', d.cost);
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.commandEncoder().beginComputePass(timestampWrites ? { timestampWrites } : {});
  }

  /** Records a buffer copy (ends the current compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    const enc = this.commandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.pending++;
  }

  /** Ends the pass, uploads the uniforms and submits everything recorded. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    const cb = this.encoder.finish();
    this.encoder = null;
    this.ring.upload(this.device.queue);
    this.device.queue.submit([cb]);
    this.pending = 0;
    this.submits++;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    return this.pass;
  }
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
