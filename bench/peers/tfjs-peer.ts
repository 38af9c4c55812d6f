/**
 * TF.js WebGPU-backend peer: `@tensorflow/tfjs-backend-webgpu` in Node with `navigator.gpu` from the
 * `webgpu` package (the same Dawn and adapter medgpu uses). Matmul, conv2d (fused bias) and softmax are
 * TF.js ops; TF.js has no attention, group norm or layer norm op, so those are composed from its ops the way
 * a TF.js user writes them (matMul + softmax + matMul; moments + rsqrt), and labelled "composed".
 *
 * dawn.node busy-spins a core while a promise is pending (../shared/notes/lavapipe.md); medgpu routes that
 * poll through setTimeout, so this process does the same for fairness (PEER_BUSY_POLL=1 turns it off).
 */
import { createRequire } from 'node:module';
import type { Layer } from './layers.js';
import { type PeerHandler, Unsupported, checkPeerOutput, runsPerSample } from './protocol.js';
import { servePeer } from './serve.js';

/** The part of TF.js used here (optional package: no compile-time types). */
interface TfTensor {
  shape: number[];
  data(): Promise<unknown>;
  dispose(): void;
}
type T = TfTensor;
interface Tf {
  version_core: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tidy<R extends T>(fn: () => R): R;
  randomUniform(shape: number[], min: number, max: number, dtype: 'float32', seed: number): T;
  matMul(a: T, b: T, transposeA?: boolean, transposeB?: boolean): T;
  softmax(x: T): T;
  reshape(x: T, shape: number[]): T;
  moments(x: T, axes: number[], keepDims: boolean): { mean: T; variance: T };
  sub(a: T, b: T): T;
  add(a: T, b: T): T;
  mul(a: T, b: T | number): T;
  rsqrt(x: T): T;
  sigmoid(x: T): T;
  scalar(v: number): T;
  fused: { conv2d(args: { x: T; filter: T; bias: T; strides: number; pad: number | 'same' | 'valid' | number[][] }): T };
}

async function makeHandler(): Promise<PeerHandler> {
  const require = createRequire(import.meta.url);
  let webgpu: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    webgpu = require('webgpu');
  } catch (e) {
    throw new Error(`the 'webgpu' package is missing (npm ci): ${(e as Error).message.split('\n')[0]}`);
  }
  for (const [k, v] of Object.entries(webgpu.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = webgpu.create([]);
  keepAlive.push(gpu); // dawn.node segfaults if this object is collected while the device lives
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  if (process.env.PEER_BUSY_POLL !== '1') {
    globalThis.setImmediate = ((cb: (...a: unknown[]) => void, ...args: unknown[]) =>
      setTimeout(cb, 0, ...args)) as unknown as typeof setImmediate;
  }
  let tf: Tf;
  try {
    tf = require('@tensorflow/tfjs-core') as Tf;
    require('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    throw new Error(`TF.js is not installed (run \`npm run bench:peers\`): ${(e as Error).message.split('\n')[0]}`);
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not initialise its WebGPU backend on this adapter');
  await tf.ready();
  // TF.js does not surface WebGPU errors (a failed kernel just leaves its output empty): collect them.
  const deviceErrors: string[] = [];
  const device = (tf as unknown as { backend(): { device?: GPUDevice } }).backend().device;
  device?.addEventListener('uncapturederror', (ev) => deviceErrors.push((ev as GPUUncapturedErrorEvent).error.message));
  const throwIfDeviceError = () => {
    const e = deviceErrors.shift();
    if (e) throw new Error(`TF.js WebGPU error: ${e.split('\n')[0]}`);
  };

  let run: (() => T) | null = null;
  let held: T[] = [];
  let inner = 1;
  const rand = (shape: number[], around = 0) => {
    const t = tf.randomUniform(shape, around - 0.5, around + 0.5, 'float32', 1);
    held.push(t);
    return t;
  };
  const once = async () => {
    const y = tf.tidy(() => (run as () => T)());
    const data = (await y.data()) as Float32Array;
    y.dispose();
    throwIfDeviceError();
    return data;
  };

  function build(l: Layer): { fn: () => T; form: string } {
    switch (l.op) {
      case 'matmul': {
        const a = rand([l.M, l.K]);
        const b = rand([l.K, l.N]);
        return { fn: () => tf.matMul(a, b), form: 'tf.matMul' };
      }
      case 'conv2d': {
        const x = rand([l.n, l.h, l.w, l.cin]);
        const filter = rand([l.k, l.k, l.cin, l.cout]);
        const bias = rand([l.cout]);
        const pad = [
          [0, 0],
          [l.pad, l.pad],
          [l.pad, l.pad],
          [0, 0],
        ];
        return { fn: () => tf.fused.conv2d({ x, filter, bias, strides: l.stride, pad }), form: 'tf.fused.conv2d NHWC + bias' };
      }
      case 'softmax': {
        const x = rand([l.rows, l.cols]);
        return { fn: () => tf.softmax(x), form: 'tf.softmax' };
      }
      case 'attention': {
        const q = rand([l.b, l.heads, l.nq, l.d]);
        const k = rand([l.b, l.heads, l.nk, l.d]);
        const v = rand([l.b, l.heads, l.nk, l.d]);
        const scale = 1 / Math.sqrt(l.d);
        return {
          fn: () => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v),
          form: 'composed: matMul + softmax + matMul',
        };
      }
      case 'groupnorm': {
        const rows = l.spatial.reduce((a, b) => a * b, 1);
        const cg = l.c / l.groups;
        const x = rand([l.n, rows, l.c]);
        const gamma = rand([l.c], 1);
        const beta = rand([l.c]);
        const eps = tf.scalar(l.eps);
        held.push(eps);
        const fn = () => {
          const xg = tf.reshape(x, [l.n, rows, l.groups, cg]);
          const { mean, variance } = tf.moments(xg, [1, 3], true);
          const norm = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, eps))), [l.n, rows, l.c]);
          const y = tf.add(tf.mul(norm, gamma), beta);
          return l.silu ? tf.mul(y, tf.sigmoid(y)) : y;
        };
        return { fn, form: `composed: moments + rsqrt + affine${l.silu ? ' + x·sigmoid(x)' : ''} (NHWC)` };
      }
      case 'layernorm': {
        const x = rand([l.rows, l.c]);
        const gamma = rand([l.c], 1);
        const beta = rand([l.c]);
        const eps = tf.scalar(l.eps);
        held.push(eps);
        const fn = () => {
          const { mean, variance } = tf.moments(x, [1], true);
          return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
        };
        return { fn, form: 'composed: moments + rsqrt + affine' };
      }
      default:
        throw new Unsupported(`TF.js peer: no ${(l as Layer).op}`);
    }
  }

  return {
    async hello() {
      return { name: 'tfjs-webgpu', version: tf.version_core, detail: `backend ${tf.getBackend()}` };
    },
    async setup(layer: Layer, targetMs: number) {
      deviceErrors.length = 0; // a failure of the previous layer is not this one's
      const b = build(layer);
      run = b.fn;
      checkPeerOutput('TF.js', await once()); // compiles the shaders; a failed kernel shows here
      await once();
      const t0 = performance.now();
      await once();
      inner = runsPerSample(performance.now() - t0, targetMs);
      return { inner, form: b.form };
    },
    async sample() {
      // `inner` launches, then one read of the last output waits for all of them.
      const t0 = performance.now();
      let last: T | null = null;
      for (let i = 0; i < inner; i++) {
        const y = tf.tidy(() => (run as () => T)());
        last?.dispose();
        last = y;
      }
      await (last as T).data();
      (last as T).dispose();
      const ms = (performance.now() - t0) / inner;
      throwIfDeviceError();
      return ms;
    },
    async teardown() {
      for (const t of held) t.dispose();
      held = [];
      run = null;
    },
  };
}

const keepAlive: unknown[] = [];
await servePeer(makeHandler);
