/**
 * Loads Dawn's Node bindings (npm `webgpu`) and works around its quirks (see ../shared/notes/lavapipe.md):
 * - the object returned by `create()` must stay referenced for the device's whole life, or Dawn's event
 *   processing touches freed memory: we keep it in a module-level array;
 * - while a promise is pending, dawn.node re-arms `setImmediate` in a loop and busy-spins a core (35–40% of
 *   kernel throughput on 2 cores): `sleepingPoll()` routes `setImmediate` through `setTimeout(0)` for the
 *   duration of our own awaits.
 */
const keepAlive: unknown[] = [];

export async function nodeGpu(flags: string[]): Promise<GPU | undefined> {
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch {
    return undefined;
  }
  // GPUBufferUsage & co. are needed as globals by code written for browsers.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = mod.create(flags);
  keepAlive.push(gpu);
  return gpu;
}

let sleeping = 0;
const realSetImmediate = globalThis.setImmediate;

function sleepySetImmediate<TArgs extends unknown[]>(cb: (...args: TArgs) => void, ...args: TArgs): NodeJS.Immediate {
  return setTimeout(cb, 0, ...args) as unknown as NodeJS.Immediate;
}

/** Awaits `p` with dawn.node's polling loop sleeping instead of spinning. */
export async function sleepingPoll<T>(p: Promise<T>): Promise<T> {
  if (typeof process === 'undefined' || process.env.MEDGPU_BUSY_POLL === '1') return p;
  if (sleeping++ === 0) globalThis.setImmediate = sleepySetImmediate as typeof setImmediate;
  try {
    return await p;
  } finally {
    if (--sleeping === 0) globalThis.setImmediate = realSetImmediate;
  }
}
