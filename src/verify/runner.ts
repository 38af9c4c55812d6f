/** What a module runner gets and returns: it runs one fixture case through the engine and checks every output. */
import type { Gpu } from '../runtime/gpu.js';
import { type OutputCheck, compareOutput } from './compare.js';
import type { FixtureCase, Manifest } from './manifest.js';

export interface VerifyContext {
  gpu: Gpu;
  /** Models loaded by earlier cases of the same run, by key (a model folder); runners may share them. */
  cache?: Map<string, unknown>;
}

export type CaseRunner = (ctx: VerifyContext, manifest: Manifest, c: FixtureCase) => Promise<OutputCheck[]>;

/** Compares one computed output with the case's stored tensor of the same name. */
export function checkOutput(c: FixtureCase, name: string, got: ArrayLike<number>, want: ArrayLike<number>): OutputCheck {
  return compareOutput({ case: c.name, module: c.module, output: name }, got, want, c.outputs?.[name]);
}

/** A cached value for `key`, made by `make` on first use (without a cache: made each time). */
export async function cached<T>(ctx: VerifyContext, key: string, make: () => Promise<T>): Promise<T> {
  if (!ctx.cache) return make();
  if (!ctx.cache.has(key)) ctx.cache.set(key, await make());
  return ctx.cache.get(key) as T;
}

/** Stacks equal-length arrays into one. */
export function stack(parts: readonly ArrayLike<number>[]): Float32Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
