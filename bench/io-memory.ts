/**
 * Extra host memory while streaming a large safetensors file through a `WeightSource`.
 *
 *   npx tsx bench/io-memory.ts [--gb 3] [--as f32|f16] [--dir /tmp] [--json]
 *
 * Writes a file of about `--gb` GiB into the temp folder (tensor by tensor, with sizes like a Stable Diffusion
 * UNet's: many small ones, a few of 50-120 MB), then reads every tensor with `read(name, as)`, touching its
 * values the way an upload would, and reports the resident set size (RSS) above the level measured just after
 * opening the file: the largest value sampled after each tensor, and the process's peak from the OS. The file
 * is deleted afterwards.
 */
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TensorToWrite, writeSafetensors } from '../src/io/safetensors.js';
import { openWeights } from '../src/io/weights.js';

export interface IoMemoryResult {
  fileBytes: number;
  tensors: number;
  largestTensorBytes: number;
  as: 'f32' | 'f16';
  baselineRssMiB: number;
  maxExtraRssMiB: number;
  /** The OS's peak RSS of the whole process before and after the streaming phase (after > before: streaming set it). */
  osPeakBeforeReadMiB: number;
  osPeakAfterReadMiB: number;
  seconds: number;
  mibPerSecond: number;
}

const MiB = 1 << 20;

/** Tensor sizes in f32 elements, SD-UNet-like, adding up to about `totalBytes`. */
function plan(totalBytes: number): number[] {
  const sizes: number[] = [];
  const pattern = [320, 1280 * 4, 640 * 640, 1280 * 1280, 640 * 640 * 9, 1280 * 1280 * 9, 2560 * 1280 * 9, 1280, 30_000_000];
  let bytes = 0;
  for (let i = 0; bytes < totalBytes; i++) {
    const n = pattern[i % pattern.length] as number;
    sizes.push(n);
    bytes += n * 4;
  }
  return sizes;
}

export async function runIoMemory(opts: { gb: number; as: 'f32' | 'f16'; dir: string; sizes?: number[] }): Promise<IoMemoryResult> {
  const path = join(opts.dir, `medgpu-io-memory-${process.pid}.safetensors`);
  const sizes = opts.sizes ?? plan(opts.gb * 1024 * MiB);
  const tensors = new Map<string, TensorToWrite>();
  sizes.forEach((n, i) => {
    tensors.set(`block.${String(i).padStart(5, '0')}.weight`, {
      dtype: 'F32',
      shape: [n],
      // Produced when the writer reaches it, so writing holds one tensor at a time too.
      data: () => new Float32Array(n).fill(i % 7),
    });
  });
  try {
    await writeSafetensors(path, tensors);
    const fileBytes = (await stat(path)).size;
    const w = await openWeights(path);
    const baseline = process.memoryUsage().rss;
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    let maxRss = baseline;
    let checksum = 0;
    const t0 = performance.now();
    for (const k of w.keys()) {
      const data = await w.read(k, opts.as);
      // Touch the values as an upload would (the GPU copy itself is not host memory we hold).
      for (let i = 0; i < data.length; i += 4096) checksum += data[i] as number;
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    const seconds = (performance.now() - t0) / 1000;
    await w.close();
    const peak = process.resourceUsage().maxRSS * 1024;
    if (!Number.isFinite(checksum)) throw new Error('checksum');
    return {
      fileBytes,
      tensors: sizes.length,
      largestTensorBytes: Math.max(...sizes) * 4,
      as: opts.as,
      baselineRssMiB: baseline / MiB,
      maxExtraRssMiB: (maxRss - baseline) / MiB,
      osPeakBeforeReadMiB: peakBefore / MiB,
      osPeakAfterReadMiB: peak / MiB,
      seconds,
      mibPerSecond: fileBytes / MiB / seconds,
    };
  } finally {
    await rm(path, { force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, def: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? (process.argv[i + 1] as string) : def;
  };
  const r = await runIoMemory({ gb: Number(arg('gb', '3')), as: arg('as', 'f32') as 'f32' | 'f16', dir: arg('dir', tmpdir()) });
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(
      [
        `file: ${(r.fileBytes / MiB / 1024).toFixed(2)} GiB, ${r.tensors} tensors, largest ${(r.largestTensorBytes / MiB).toFixed(0)} MiB, read as ${r.as}`,
        `RSS after open: ${r.baselineRssMiB.toFixed(0)} MiB`,
        `extra RSS while streaming (max sampled after each tensor): ${r.maxExtraRssMiB.toFixed(0)} MiB`,
        `OS peak RSS of the process: ${r.osPeakBeforeReadMiB.toFixed(0)} MiB before streaming, ${r.osPeakAfterReadMiB.toFixed(0)} MiB after` +
          (r.osPeakAfterReadMiB > r.osPeakBeforeReadMiB
            ? ` (streaming peak = ${(r.osPeakAfterReadMiB - r.baselineRssMiB).toFixed(0)} MiB above the baseline)`
            : ' (streaming never exceeded the writing phase)'),
        `time: ${r.seconds.toFixed(1)} s (${r.mibPerSecond.toFixed(0)} MiB/s)`,
      ].join('\n'),
    );
  }
}
