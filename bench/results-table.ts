/**
 * Turns the JSON of `medgpu bench peers --json` or `medgpu bench e2e --json` into the markdown tables of
 * bench/RESULTS.md, so re-measured numbers go in unedited:
 *
 *   npx medgpu bench peers --json > peers.json && npx tsx bench/results-table.ts peers peers.json
 *   npx medgpu bench e2e --json > e2e.json && npx tsx bench/results-table.ts e2e e2e.json
 */
import { readFileSync } from 'node:fs';
import type { E2eRow } from './e2e/run.js';
import type { PeerRow } from './peers/run.js';

const fmt = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d));
const gib = (b: number) => (b / 2 ** 30).toFixed(2);

function table(head: string[], rows: string[][]): string {
  const lines = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export function peersTable(rows: readonly PeerRow[]): string {
  const peerIds = [...new Set(rows.flatMap((r) => r.peers.filter((p) => !p.note?.startsWith('skipped')).map((p) => p.peer)))];
  const head = ['layer', 'GFLOP', 'medgpu ms (GFLOP/s)', ...peerIds.flatMap((p) => [`${p} ms (GFLOP/s)`, 'ratio']), 'load'];
  const body = rows.map((r) => [
    r.name,
    fmt(r.gflop, 2),
    r.medgpuMs === null ? `— (${r.medgpuNote ?? ''})` : `${fmt(r.medgpuMs)} (${fmt(r.medgpuGflops)})`,
    ...peerIds.flatMap((id) => {
      const c = r.peers.find((p) => p.peer === id);
      if (!c || c.medianMs === null) return [c?.note ? `— (${c.note.split(':')[0]})` : '—', '—'];
      return [`${fmt(c.medianMs)} (${fmt(c.gflops)})`, fmt(c.ratio, 2)];
    }),
    fmt(r.load1),
  ]);
  return table(head, body);
}

export function e2eTable(rows: readonly E2eRow[]): string {
  const head = ['case', 'median ms', 'GFLOP/s', 'peak RSS GiB', 'peak pool GiB', 'peer', 'peer ms', 'ratio'];
  const body = rows.map((r) => [
    r.name,
    fmt(r.medianMs),
    fmt(r.gflops, 2),
    gib(r.peakRssBytes),
    gib(r.peakPoolBytes),
    r.peer ?? '—',
    fmt(r.peerMedianMs),
    fmt(r.ratio, 2),
  ]);
  return table(head, body);
}

if (process.argv[1]?.endsWith('results-table.ts')) {
  const [kind, file] = process.argv.slice(2);
  if ((kind !== 'peers' && kind !== 'e2e') || !file) {
    console.error('usage: npx tsx bench/results-table.ts peers|e2e <file.json>');
    process.exit(2);
  }
  // Dawn prints device validation messages on stdout; the bench's JSON is the line that is an array.
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .findLast((l) => l.startsWith('['));
  if (!line) throw new Error(`${file}: no JSON array line (was it written by --json?)`);
  const rows = JSON.parse(line);
  console.log(kind === 'peers' ? peersTable(rows) : e2eTable(rows));
}
