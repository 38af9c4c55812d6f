import { DeviceError } from './errors.js';

/**
 * Compute pipelines keyed by kernel spec. Creation of a large generated kernel takes 0.2–0.5 s on lavapipe,
 * so each spec is compiled once per device. Uses the synchronous `createComputePipeline`: the async variant
 * crashes in the `webgpu` npm package (0.6.2).
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  compileMs = 0;

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(key: string, code: () => string, entryPoint = 'main'): GPUComputePipeline {
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const source = code();
    const t0 = performance.now();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: source, label: key });
    const pipeline = this.device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint },
      label: key,
    });
    // The error scope resolves asynchronously; report the first error with the kernel's key and source.
    void this.device.popErrorScope().then((err) => {
      if (err)
        this.errors.push(new DeviceError('GPU_VALIDATION', `kernel "${key}" failed to compile: ${err.message}\n${numbered(source)}`));
    });
    this.compileMs += performance.now() - t0;
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Compile errors reported since the last `takeErrors()`. */
  readonly errors: DeviceError[] = [];

  takeError(): DeviceError | undefined {
    return this.errors.shift();
  }
}

function numbered(source: string): string {
  return source
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(4)}: ${l}`)
    .join('\n');
}
