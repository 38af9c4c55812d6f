/** `medgpu bench peers` and `medgpu bench e2e` (the `bench kernels` command lives in main.ts). */
import type { Command } from 'commander';
import { createGpu } from '../runtime/gpu.js';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function registerBenchCommands(bench: Command): void {
  bench
    .command('peers')
    .description('each layer type at SD/MedVAE shapes beside PyTorch CPU, onnxruntime WebGPU and TF.js WebGPU, in the same run')
    .option('--json', 'print one JSON array on stdout')
    .option('--filter <regex>', 'only layers whose name matches')
    .option('--reps <n>', 'interleaved samples per layer (medians are reported)', '5')
    .option('--peers <ids>', 'comma-separated: torch, ort-webgpu, tfjs-webgpu, ort-cpu', 'torch,ort-webgpu,tfjs-webgpu')
    .action(async (opts: { json?: boolean; filter?: string; reps: string; peers: string }) => {
      const { runPeerBench } = await import('../../bench/peers/run.js');
      const gpu = await createGpu();
      await runPeerBench(gpu, { json: Boolean(opts.json), filter: opts.filter, reps: Number(opts.reps), peers: list(opts.peers) });
      gpu.destroy();
    });
}
