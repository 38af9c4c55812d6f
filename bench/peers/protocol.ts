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

/**
 * Throws when a peer's output cannot be a real result: non-finite values, or all zeros (what a WebGPU
 * framework returns when a kernel failed on the device, e.g. a buffer over maxStorageBufferBindingSize, and
 * the error went unreported; its "time" would then be meaningless).
 */
export function checkPeerOutput(peer: string, values: ArrayLike<number>): void {
  let nonzero = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new Error(`${peer} returned a non-finite value at element ${i}: its result (and time) is not valid`);
    if (v !== 0) nonzero = true;
  }
  if (!nonzero && values.length > 0) {
    throw new Error(
      `${peer} returned all zeros: a kernel most likely failed on the device (e.g. a buffer over this adapter's limits), so its time is not valid`,
    );
  }
}
