#!/usr/bin/env node
import { Command } from 'commander';
import { createGpu } from '../runtime/gpu.js';
import { MedgpuError } from '../runtime/errors.js';
import { runDemo } from './demo.js';
import { registerGenerate } from './generate.js';
import { formatInfo } from './info.js';
import { registerInspect } from './inspect.js';
import { registerVerify } from './verify.js';
import { registerBenchCommands } from './bench.js';
import { registerMedvae } from './medvae.js';
import { registerQuality } from './quality.js';
import { MEDGPU_VERSION } from '../version.js';

const program = new Command();
program
  .name('medgpu')
  .description('WebGPU engine for medical generative imaging: Stable Diffusion / RoentGen and MedVAE')
  .version(MEDGPU_VERSION);

program
  .command('info')
  .description('print the WebGPU adapter, backend, features and limits')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    const gpu = await createGpu();
    if (opts.json) console.log(JSON.stringify({ info: gpu.info, features: [...gpu.features], limits: gpu.limitReport() }, null, 2));
    else console.log(formatInfo(gpu));
    gpu.destroy();
  });

program
  .command('demo')
  .description(
    'the main job on a fresh machine, no weights needed: adapter, kernel check, text-to-image and MedVAE 2D/3D on the bundled tiny models, timings',
  )
  .option('-o, --out <dir>', 'output folder (created if missing); a re-run replaces the files it wrote there before', 'medgpu-demo')
  .option('--model <dir>', 'a diffusers pipeline folder for the text-to-image part (default: the bundled tiny random-weight one)')
  .option('--overwrite', 'also replace existing files the demo did not write')
  .action(async (opts: { out: string; model?: string; overwrite?: boolean }) => {
    const gpu = await createGpu();
    try {
      const report = await runDemo(gpu, { ...opts, log: (s) => console.log(s) });
      if (!report.ok) process.exitCode = 1;
    } finally {
      gpu.destroy();
    }
  });

const bench = program.command('bench').description('benchmarks');
registerBenchCommands(bench);
bench
  .command('kernels')
  .description('per-kernel median time, GFLOP/s and GB/s at Stable Diffusion / MedVAE shapes')
  .option('--json', 'print one JSON array on stdout')
  .option('--filter <regex>', 'only kernels whose name matches')
  .option('--reps <n>', 'timed repetitions per shape', '7')
  .action(async (opts: { json?: boolean; filter?: string; reps: string }) => {
    const { runKernelBench } = await import('../../bench/kernels.js');
    const gpu = await createGpu();
    await runKernelBench(gpu, { json: Boolean(opts.json), filter: opts.filter, reps: Number(opts.reps) });
    gpu.destroy();
  });

registerMedvae(program);
registerGenerate(program);
registerVerify(program);
registerQuality(program);

registerInspect(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof MedgpuError) {
    console.error(`medgpu: ${e.message} [${e.code}]`);
    process.exitCode = 2;
  } else throw e;
}
// Dawn's Node bindings can keep the event loop alive; exit once the command is done.
process.exit(process.exitCode ?? 0);
