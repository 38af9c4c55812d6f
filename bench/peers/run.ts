/**
 * `medgpu bench peers`: every layer type at SD/MedVAE shapes, medgpu beside PyTorch on the CPU and the two
 * WebGPU peers on the same adapter, in the same run. Samples are interleaved (medgpu, then each peer, then
 * medgpu again…) so that load changes on this shared machine hit every column alike; each row reports
 * medians over `reps` samples and the ratio medgpu time / peer time (< 1: medgpu is faster).
 */
import { loadavg } from 'node:os';
import type { Gpu } from '../../src/runtime/gpu.js';
import { ceilingBenches } from '../cases/ceiling.js';
import { timeBench } from '../kernels.js';
import { LAYER_CASES, type LayerCase, layerFlops } from './layers.js';
import { setupMedgpuLayer } from './medgpu-layers.js';
import { DEFAULT_PEERS, PEERS, PeerProcess } from './peer-process.js';
import { runsPerSample } from './protocol.js';

export interface PeerCell {
  peer: string;
  /** How the peer computed the layer (op or composition). */
  form: string | null;
  medianMs: number | null;
  gflops: number | null;
  /** medgpu median / peer median. */
  ratio: number | null;
  /** Why there is no number (unsupported layer, error). */
  note: string | null;
}

export interface PeerRow {
  name: string;
  op: string;
  gflop: number;
  medgpuMs: number | null;
  medgpuGflops: number | null;
  medgpuNote: string | null;
  peers: PeerCell[];
  /** 1-minute load average when the row finished (the machine is shared: read numbers with it). */
  load1: number;
}

export interface PeerBenchOptions {
  json: boolean;
  filter?: string;
  reps: number;
  peers?: string[];
  /** Wall time one sample should take, for fast layers (runs per sample between 1 and 50). */
  targetMs?: number;
  /** Progress and skip messages (default: stderr, so that `--json` leaves stdout to the JSON). */
  log?: (line: string) => void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const round = (x: number, d: number) => Number(x.toFixed(d));
const SETUP_TIMEOUT_MS = 600_000;
const SAMPLE_TIMEOUT_MS = 600_000;

/** Times medgpu's kernels for one layer: returns a sampler, or a reason when medgpu has no kernel for it. */
async function medgpuSampler(gpu: Gpu, c: LayerCase, targetMs: number): Promise<(() => Promise<number>) | string> {
  const run = await setupMedgpuLayer(gpu, c.layer);
  if (typeof run === 'string') return run;
  run(); // compile + warm up
  await gpu.sync();
  const t0 = performance.now();
  gpu.scope(run);
  await gpu.sync();
  const inner = runsPerSample(performance.now() - t0, targetMs);
  return async () => {
    const s = performance.now();
    gpu.scope(() => {
      for (let i = 0; i < inner; i++) run();
    });
    await gpu.sync();
    return (performance.now() - s) / inner;
  };
}

/**
 * A failed kernel leaves its follow-on validation errors queued on the device; they are reported one per
 * call, so drain them before the next layer. Returns the first error's message for the row.
 */
async function drainErrors(gpu: Gpu, first: Error): Promise<string> {
  for (let i = 0; i < 32; i++) {
    try {
      await gpu.sync();
      break;
    } catch {
      // another queued error from the same failure
    }
  }
  return `error: ${first.message.split('\n')[0]}`;
}

export async function runPeerBench(gpu: Gpu, opts: PeerBenchOptions): Promise<PeerRow[]> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const targetMs = opts.targetMs ?? 200;
  const wanted = opts.peers ?? DEFAULT_PEERS;
  const unknown = wanted.filter((id) => !PEERS.some((p) => p.id === id));
  if (unknown.length) throw new Error(`unknown peer(s) ${unknown.join(', ')}; known: ${PEERS.map((p) => p.id).join(', ')}`);
  const peers: PeerProcess[] = [];
  const skipped: { id: string; why: string }[] = [];
  for (const def of PEERS.filter((p) => wanted.includes(p.id))) {
    const p = await PeerProcess.start(def);
    if (p instanceof PeerProcess) {
      peers.push(p);
      log(`peer ${def.id}: ${p.name} ${p.version}${p.detail ? ` (${p.detail})` : ''}`);
    } else {
      skipped.push({ id: def.id, why: p.skipped });
      log(`peer ${def.id} skipped: ${p.skipped}`);
    }
  }
  // What shader code can reach on this adapter at all, in this run: a ratio to a CPU peer reads against it.
  const alu = ceilingBenches.find((b) => b.kernel === 'ceiling: ALU');
  if (alu) {
    const row = await timeBench(gpu, alu, Math.max(3, opts.reps));
    log(`adapter ALU ceiling (register-only multiply-adds, no memory access): ${row.gflops.toFixed(1)} GFLOP/s`);
  }
  const re = opts.filter ? new RegExp(opts.filter) : null;
  const rows: PeerRow[] = [];
  try {
    // Rows go to stdout, or to the log (stderr) as progress when stdout is reserved for the JSON.
    const out = opts.json ? log : (line: string) => console.log(line);
    out(header(peers));
    for (const c of LAYER_CASES) {
      if (re && !re.test(c.name)) continue;
      rows.push(await benchLayer(gpu, c, peers, skipped, opts.reps, targetMs));
      out(formatRow(rows[rows.length - 1] as PeerRow, peers));
    }
  } finally {
    await Promise.all(peers.map((p) => p.quit()));
  }
  if (opts.json) console.log(JSON.stringify(rows));
  return rows;
}

async function benchLayer(
  gpu: Gpu,
  c: LayerCase,
  peers: PeerProcess[],
  skipped: { id: string; why: string }[],
  reps: number,
  targetMs: number,
): Promise<PeerRow> {
  const flops = layerFlops(c.layer);
  return gpu.scopeAsync(async () => {
    let sampler = await medgpuSampler(gpu, c, targetMs).catch((e: Error) => drainErrors(gpu, e));
    const ready: { p: PeerProcess; form: string }[] = [];
    const cells = new Map<string, PeerCell>();
    for (const p of peers) {
      const r = await p
        .request({ cmd: 'setup', layer: c.layer, targetMs }, SETUP_TIMEOUT_MS)
        .catch((e: Error) => ({ ok: false as const, error: e.message }));
      if (r.ok) ready.push({ p, form: r.form ?? '' });
      else cells.set(p.def.id, { peer: p.def.id, form: null, medianMs: null, gflops: null, ratio: null, note: r.error });
    }
    const mine: number[] = [];
    const theirs = new Map<string, number[]>(ready.map(({ p }) => [p.def.id, []]));
    for (let r = 0; r < reps; r++) {
      if (typeof sampler !== 'string') {
        const ms = await sampler().catch((e: Error) => drainErrors(gpu, e));
        if (typeof ms === 'number') mine.push(ms);
        else sampler = ms;
      }
      for (const { p } of ready) {
        if (cells.has(p.def.id)) continue; // failed earlier in this row
        const s = await p.request({ cmd: 'sample' }, SAMPLE_TIMEOUT_MS).catch((e: Error) => ({ ok: false as const, error: e.message }));
        if (s.ok && typeof s.ms === 'number') theirs.get(p.def.id)?.push(s.ms);
        else
          cells.set(p.def.id, {
            peer: p.def.id,
            form: null,
            medianMs: null,
            gflops: null,
            ratio: null,
            note: s.ok ? 'no time returned' : s.error,
          });
      }
    }
    for (const { p } of ready) await p.request({ cmd: 'teardown' }, 60_000).catch(() => undefined);
    const medgpuMs = typeof sampler !== 'string' && mine.length ? median(mine) : null;
    for (const { p, form } of ready) {
      if (cells.has(p.def.id)) continue;
      const ms = median(theirs.get(p.def.id) as number[]);
      cells.set(p.def.id, {
        peer: p.def.id,
        form,
        medianMs: round(ms, 3),
        gflops: round(flops / ms / 1e6, 2),
        ratio: medgpuMs === null ? null : round(medgpuMs / ms, 3),
        note: null,
      });
    }
    for (const s of skipped)
      cells.set(s.id, { peer: s.id, form: null, medianMs: null, gflops: null, ratio: null, note: `skipped: ${s.why}` });
    return {
      name: c.name,
      op: c.layer.op,
      gflop: round(flops / 1e9, 3),
      medgpuMs: medgpuMs === null ? null : round(medgpuMs, 3),
      medgpuGflops: medgpuMs === null ? null : round(flops / medgpuMs / 1e6, 2),
      medgpuNote: typeof sampler === 'string' ? sampler : null,
      peers: [...cells.values()],
      load1: round(loadavg()[0] as number, 2),
    };
  });
}

function header(peers: PeerProcess[]): string {
  const cols = peers.map((p) => `${p.def.title.padStart(16)} ${'ratio'.padStart(6)}`).join('  ');
  return `${'layer'.padEnd(42)} ${'GFLOP'.padStart(6)}  ${'medgpu ms'.padStart(16)}  ${cols}  load`;
}

function cell(ms: number | null, gflops: number | null): string {
  return ms === null ? '—'.padStart(16) : `${ms.toFixed(1).padStart(9)} (${(gflops ?? 0).toFixed(1).padStart(5)})`;
}

function formatRow(r: PeerRow, peers: PeerProcess[]): string {
  const cols = peers
    .map((p) => {
      const c = r.peers.find((x) => x.peer === p.def.id);
      return `${cell(c?.medianMs ?? null, c?.gflops ?? null)} ${(c?.ratio == null ? '—' : c.ratio.toFixed(2)).padStart(6)}`;
    })
    .join('  ');
  const notes = [
    r.medgpuNote && `medgpu: ${r.medgpuNote}`,
    ...r.peers.filter((c) => c.note && !c.note.startsWith('skipped')).map((c) => `${c.peer}: ${c.note}`),
  ]
    .filter(Boolean)
    .map((n) => `\n    ${n}`)
    .join('');
  return `${r.name.padEnd(42)} ${r.gflop.toFixed(2).padStart(6)}  ${cell(r.medgpuMs, r.medgpuGflops)}  ${cols}  ${r.load1.toFixed(1)}${notes}`;
}
