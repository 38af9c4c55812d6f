/**
 * End-to-end MedVAE 3D benchmark: `medvae_4_1_3d` at real channel widths (weights/configs/medvae/medvae_4x1.yaml,
 * random weights) encodes a CT-like volume through the sliding window, as `medgpu medvae encode` does.
 * Reports the window grid, time per window, total time (extrapolated when `--windows` stops early) and the
 * GPU memory peak (the pool's peak of allocated bytes: live tensors plus cached free buffers).
 *
 *   npx tsx bench/medvae-3d.ts [--size 256] [--windows K] [--dtype f32|f16] [--gpu-dim 160]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { MedVAEAutoencoder } from '../src/nn/medvae/autoencoder.js';
import { parseMedVAEConfigText } from '../src/nn/medvae/config.js';
import { expectedKeys } from '../src/nn/params.js';
import { MedVAE } from '../src/pipeline/medvae/medvae.js';
import { roiSizeCalc, scanInterval, windowStarts } from '../src/pipeline/medvae/sliding-window.js';
import type { DType } from '../src/runtime/dtype.js';
import { MedgpuError } from '../src/runtime/errors.js';
import { createGpu } from '../src/runtime/gpu.js';
import { randomWeights } from './random-weights.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

/** A CT-like volume already in model space: air (-1) outside an ellipsoid body of soft tissue with bone. */
function ctLike(n: number): Float32Array {
  const out = new Float32Array(n * n * n);
  let s = 12345;
  let i = 0;
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++, i++) {
        const r = ((x - n / 2) / (0.48 * n)) ** 2 + ((y - n / 2) / (0.4 * n)) ** 2 + ((z - n / 2) / (0.55 * n)) ** 2;
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        const noise = (s / 2 ** 32 - 0.5) * 0.02;
        out[i] = r > 1 ? -1 : r > 0.8 ? 0.6 + noise : 0.04 + noise;
      }
    }
  }
  return out;
}

const size = Number(arg('size', '256'));
const maxWindows = Number(arg('windows', '0'));
const dtype = arg('dtype', 'f32') as DType;
const gpuDim = Number(arg('gpu-dim', '160'));

const gpu = await createGpu();
const cfgPath = join(import.meta.dirname, '../weights/configs/medvae/medvae_4x1.yaml');
const config = parseMedVAEConfigText(readFileSync(cfgPath, 'utf8'), cfgPath);
const model = new MedVAEAutoencoder(config, { dims: 3, loraDefault: false });
await model.load(gpu, randomWeights(Array.from(expectedKeys(model.registry), ([name, shape]) => ({ name, shape }))), { dtype });
const mvae = MedVAE.fromModel(gpu, 'medvae_4_1_3d', model);
const roi = roiSizeCalc([size, size, size], gpuDim);
const total = windowStarts([size, size, size], roi, scanInterval([size, size, size], roi, 0.25)).length;
console.log(
  `medvae_4_1_3d (ch ${config.ddconfig.ch}, ch_mult [${config.ddconfig.chMult}], ${config.ddconfig.numResBlocks} res blocks), ${dtype}`,
);
console.log(`volume ${size}³, window ${roi.join('×')}, ${total} windows; adapter: ${gpu.info.description || gpu.info.vendor}`);
const ctrl = new AbortController();
const times: number[] = [];
let last = performance.now();
gpu.pool.resetPeak();
const t0 = performance.now();
try {
  await mvae.encode(
    { channels: 1, spatial: [size, size, size], data: ctLike(size) },
    {
      seed: 0,
      gpuDim,
      signal: ctrl.signal,
      onProgress: (done) => {
        const now = performance.now();
        times.push(now - last);
        last = now;
        console.log(
          `window ${done}/${total}: ${((times[times.length - 1] as number) / 1000).toFixed(1)} s, pool peak ${(gpu.memory().peakAllocatedBytes / 2 ** 30).toFixed(2)} GiB`,
        );
        if (maxWindows > 0 && done >= maxWindows) ctrl.abort();
      },
    },
  );
} catch (e) {
  if (!(e instanceof MedgpuError && e.code === 'CANCELLED')) throw e;
}
const elapsed = (performance.now() - t0) / 1000;
const mem = gpu.memory();
const perWindow = times.length > 1 ? times.slice(1).reduce((a, b) => a + b, 0) / (times.length - 1) / 1000 : elapsed;
console.log(
  JSON.stringify(
    {
      size,
      dtype,
      window: roi,
      windows: total,
      windowsRun: times.length,
      firstWindowS: +(times[0]! / 1000).toFixed(1),
      steadyWindowS: +perWindow.toFixed(1),
      totalS: times.length === total ? +elapsed.toFixed(1) : undefined,
      estimatedTotalS: +(times[0]! / 1000 + perWindow * (total - 1)).toFixed(0),
      peakAllocatedGiB: +(mem.peakAllocatedBytes / 2 ** 30).toFixed(2),
      peakLiveGiB: +(mem.peakLiveBytes / 2 ** 30).toFixed(2),
      load: loadavg().map((x) => +x.toFixed(2)),
    },
    null,
    1,
  ),
);
await mvae.dispose();
gpu.destroy();
process.exit(0);
