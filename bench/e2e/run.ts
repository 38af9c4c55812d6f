/**
 * `medgpu bench e2e [--json] [--profile]`: the model-level figures of issue 7 at real sizes with random
 * weights. Per case: median wall time over samples (after a warm-up run that compiles the pipelines),
 * GFLOP/s from the kernels' cost models (summed by `gpu.work` over one run), peak process RSS (sampled;
 * on lavapipe GPU buffers live in this process, so it includes them) and peak GPU-pool bytes.
 * `--profile` instead times every dispatch of one UNet step and prints the per-kernel breakdown.
 */
import { loadavg } from 'node:os';
import type { Gpu } from '../../src/runtime/gpu.js';
import { PEERS, PeerProcess } from '../peers/peer-process.js';
import { E2E_CASES, type E2eCase, type Loaded } from './cases.js';
import { type ProfileRow, familyShares, summariseProfile } from './profile.js';

/** One row of `--json`: exactly the fields issue 7 asks for (peer fields null where no peer ran). */
export interface E2eRow {
  name: string;
  medianMs: number;
  gflops: number;
  peakRssBytes: number;
  peakPoolBytes: number;
  peer: string | null;
  peerMedianMs: number | null;
  ratio: number | null;
}

export interface E2eOptions {
  json: boolean;
  filter?: string;
  reps: number;
  log?: (line: string) => void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const round = (x: number, d: number) => Number(x.toFixed(d));
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Highest RSS seen while `fn` runs (sampled every 25 ms and at the end). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRss: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 25);
  try {
    const value = await fn();
    return { value, peakRss: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}

export async function runE2eBench(gpu: Gpu, opts: E2eOptions): Promise<E2eRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const re = opts.filter ? new RegExp(opts.filter) : null;
  const cases = E2E_CASES.filter((c) => !re || re.test(c.name));
  const rows: E2eRow[] = [];
  let loaded = null as { group: string; models: Loaded } | null;
  // Whole-block peers are PyTorch modules written like diffusers' (bench/peers/torch_peer.py).
  let torch: PeerProcess | null = null;
  if (cases.some((c) => c.peer)) {
    const p = await PeerProcess.start(PEERS.find((d) => d.id === 'torch') as (typeof PEERS)[number]);
    if (p instanceof PeerProcess) {
      torch = p;
      log(`peer torch: ${p.name} ${p.version} (${p.detail})`);
    } else log(`peer torch skipped: ${p.skipped}`);
  }
  // Rows go to stdout, or to the log (stderr) as progress when stdout is reserved for the JSON.
  const out = opts.json ? log : (line: string) => console.log(line);
  out(
    `${'case'.padEnd(48)} ${'median ms'.padStart(11)} ${'GFLOP/s'.padStart(8)} ${'peak RSS'.padStart(10)} ${'peak pool'.padStart(10)} ${'peer ms'.padStart(10)} ${'ratio'.padStart(6)}  n  load`,
  );
  try {
    for (const c of cases) {
      if (loaded?.group !== c.group) {
        loaded?.models.release();
        gpu.pool.trim();
        const t0 = performance.now();
        loaded = { group: c.group, models: await c.load(gpu) };
        log(
          `${c.group}: random weights loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s (${gib(loaded.models.weightBytes)} f32)`,
        );
      }
      const row = await runCase(gpu, c, loaded.models, opts.reps, log, torch);
      rows.push(row.row);
      out(
        `${row.row.name.padEnd(48)} ${row.row.medianMs.toFixed(1).padStart(11)} ${row.row.gflops.toFixed(2).padStart(8)} ${gib(row.row.peakRssBytes).padStart(10)} ${gib(row.row.peakPoolBytes).padStart(10)} ${(row.row.peerMedianMs?.toFixed(1) ?? '—').padStart(10)} ${(row.row.ratio?.toFixed(2) ?? '—').padStart(6)} ${String(row.samples).padStart(2)}  ${row.load1.toFixed(1)}`,
      );
    }
  } finally {
    loaded?.models.release();
    await torch?.quit();
  }
  if (opts.json) console.log(JSON.stringify(rows));
  return rows;
}

async function runCase(gpu: Gpu, c: E2eCase, models: Loaded, reps: number, log: (s: string) => void, torch: PeerProcess | null) {
  return gpu.scopeAsync(async () => {
    const run = await c.prepare(gpu, models);
    const peer = c.peer && torch ? torch : null;
    const peerTimes: number[] = [];
    if (peer && c.peer) {
      const r = await peer.request({ cmd: 'setup', layer: c.peer, targetMs: 200 }, 600_000);
      if (!r.ok) throw new Error(`torch peer could not set up ${c.name}: ${r.error}`);
    }
    gpu.pool.trim();
    gpu.pool.resetPeak();
    const samples = c.heavy ? 1 : Math.max(1, reps);
    let flops = 0;
    const { value: times, peakRss } = await withPeakRss(async () => {
      if (!c.heavy && !c.warmedBefore) {
        const t0 = performance.now();
        await run(); // compiles this case's pipelines
        log(`${c.name}: warm-up ${(performance.now() - t0).toFixed(0)} ms`);
      }
      const ts: number[] = [];
      for (let i = 0; i < samples; i++) {
        const f0 = gpu.work.flops;
        const t0 = performance.now();
        await run();
        ts.push(performance.now() - t0);
        if (i === 0) flops = gpu.work.flops - f0;
        if (peer) {
          // interleaved with medgpu's samples, so load changes hit both alike
          const r = await peer.request({ cmd: 'sample' }, 600_000);
          if (r.ok && typeof r.ms === 'number') peerTimes.push(r.ms);
        }
      }
      return ts;
    });
    const medianMs = median(times);
    const row: E2eRow = {
      name: c.name,
      medianMs: round(medianMs, 1),
      gflops: round(flops / medianMs / 1e6, 2),
      peakRssBytes: peakRss,
      peakPoolBytes: gpu.memory().peakAllocatedBytes,
      peer: null,
      peerMedianMs: null,
      ratio: null,
    };
    if (peer && peerTimes.length) {
      await peer.request({ cmd: 'teardown' }, 60_000);
      const pm = median(peerTimes);
      Object.assign(row, { peer: `${peer.name} ${peer.version}`, peerMedianMs: round(pm, 1), ratio: round(medianMs / pm, 3) });
    }
    return { row, samples, load1: loadavg()[0] as number };
  });
}

/** `--profile`: one UNet step (CFG batch 2) at `px`², every dispatch timed. */
export async function runUnetProfile(
  gpu: Gpu,
  opts: { json: boolean; px: number; dtype?: 'f32' | 'f16'; log?: (s: string) => void },
): Promise<ProfileRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const c = E2E_CASES.find((x) => x.name === `sd15${opts.dtype === 'f16' ? ' f16' : ''} unet step cfg b2 ${opts.px}²`);
  if (!c) throw new Error(`--profile: no UNet step case at ${opts.px}² (use 256 or 512)`);
  const models = await c.load(gpu);
  try {
    return await gpu.scopeAsync(async () => {
      const run = await c.prepare(gpu, models);
      await run(); // compile outside the profile
      const how = gpu.features.has('timestamp-query') ? 'timestamp queries' : 'timed submits (no timestamp-query)';
      log(`profiling one UNet step at ${opts.px}² with ${how}; load ${loadavg()[0]?.toFixed(1)}`);
      gpu.startProfiling();
      const t0 = performance.now();
      await run();
      const wall = performance.now() - t0;
      const ds = await gpu.stopProfiling();
      const rows = summariseProfile(ds);
      const gpuMs = ds.reduce((s, d) => s + d.ms, 0);
      if (opts.json) console.log(JSON.stringify(rows));
      else {
        console.log(`${ds.length} dispatches, ${gpuMs.toFixed(0)} ms GPU time, ${wall.toFixed(0)} ms wall (profiling serialises passes)`);
        console.log(`by family: ${familyShares(rows)}`);
        console.log(`${'kernel'.padEnd(56)} ${'n'.padStart(5)} ${'ms'.padStart(10)} ${'share'.padStart(7)} ${'GFLOP/s'.padStart(8)}`);
        for (const r of rows) {
          console.log(
            `${r.kernel.slice(0, 56).padEnd(56)} ${String(r.dispatches).padStart(5)} ${r.totalMs.toFixed(1).padStart(10)} ${(100 * r.share).toFixed(1).padStart(6)}% ${(r.gflops === null ? '—' : r.gflops.toFixed(1)).padStart(8)}`,
          );
        }
      }
      return rows;
    });
  } finally {
    models.release();
  }
}
