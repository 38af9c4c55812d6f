/** `medgpu bench peers` and `medgpu bench e2e` (the `bench kernels` command lives in main.ts). */
import { type Command, Option } from 'commander';
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

  bench
    .command('e2e')
    .description('model-level times at real sizes (random weights): text encoder, UNet step, VAE decode, generation, MedVAE 2D/3D')
    .option('--json', 'print one JSON array of {name, medianMs, gflops, peakRssBytes, peakPoolBytes, peer, peerMedianMs, ratio}')
    .option('--filter <regex>', 'only cases whose name matches')
    .option('--reps <n>', 'samples per case after a warm-up run (heavy cases: one)', '3')
    .option('--profile', 'instead: per-kernel time breakdown of one UNet step (CFG batch 2)')
    .option('--profile-size <px>', 'image size of the profiled UNet step: 256 or 512', '512')
    .addOption(
      new Option('--profile-dtype <dtype>', 'weights and activations of the profiled UNet step').choices(['f32', 'f16']).default('f32'),
    )
    .action(
      async (opts: {
        json?: boolean;
        filter?: string;
        reps: string;
        profile?: boolean;
        profileSize: string;
        profileDtype: 'f32' | 'f16';
      }) => {
        const { runE2eBench, runUnetProfile } = await import('../../bench/e2e/run.js');
        const gpu = await createGpu();
        if (opts.profile) await runUnetProfile(gpu, { json: Boolean(opts.json), px: Number(opts.profileSize), dtype: opts.profileDtype });
        else await runE2eBench(gpu, { json: Boolean(opts.json), filter: opts.filter, reps: Number(opts.reps) });
        gpu.destroy();
      },
    );
}
