import type * as NodeWebgpu from './node-webgpu.js';

/**
 * The browser's stand-in for node-webgpu.ts (swapped in by the browser build, vite.config.ts): a page gets
 * WebGPU from `navigator.gpu`, never from Dawn's Node bindings, and has no polling loop to tame.
 */
export const nodeGpu: typeof NodeWebgpu.nodeGpu = async () => undefined;
export const sleepingPoll: typeof NodeWebgpu.sleepingPoll = (p) => p;
