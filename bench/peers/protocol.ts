/**
 * The line protocol between the benchmark and a peer process (PyTorch, onnxruntime, TF.js): one JSON object
 * per line each way, one request at a time. A peer builds the layer at `setup` (warming it up and choosing
 * how many runs one sample takes), then answers each `sample` with the mean time of one run in
 * that sample. Keeping peers in their own processes lets each bring its own runtime (two Dawns, a Python)
 * without sharing a process with medgpu's device, and lets the bench interleave samples.
 */
import type { Layer } from './layers.js';

export type PeerRequest =
  | { cmd: 'hello' }
  /** Build `layer`; a sample should last about `targetMs` (runs per sample between 1 and 50). */
  | { cmd: 'setup'; layer: Layer; targetMs: number }
  | { cmd: 'sample' }
  | { cmd: 'teardown' }
  | { cmd: 'quit' };

export type PeerResponse =
  | { ok: true; name?: string; version?: string; detail?: string; inner?: number; form?: string; ms?: number }
  | { ok: false; error: string; unsupported?: boolean };

/** What a peer implementation provides (the Node peers; the Python peer speaks the same protocol). */
export interface PeerHandler {
  hello(): Promise<{ name: string; version: string; detail?: string }>;
  /** Returns runs per sample and the form the layer was computed in; throws `Unsupported` when it can't. */
  setup(layer: Layer, targetMs: number): Promise<{ inner: number; form: string }>;
  /** Mean milliseconds of one run over a sample of `inner` runs. */
  sample(): Promise<number>;
  teardown(): Promise<void>;
}

/** Thrown by a peer for a layer type it does not have. */
export class Unsupported extends Error {}

/** Runs per sample so that one sample lasts about `targetMs`, from the time of one run. */
export function runsPerSample(oneRunMs: number, targetMs: number): number {
  return Math.max(1, Math.min(50, Math.ceil(targetMs / Math.max(oneRunMs, 0.05))));
}
