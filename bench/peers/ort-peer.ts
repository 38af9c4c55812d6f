/**
 * onnxruntime-node peer: each layer as a one-layer ONNX graph (onnx/graphs.ts), run by the execution
 * provider named on the command line: `webgpu` (onnxruntime's own Dawn, on the same adapter as medgpu) or
 * `cpu`. Inputs are fed from and outputs returned to host memory on every run, as `session.run` does by
 * default; at these layer sizes that transfer is a few ms against hundreds of ms of compute on lavapipe.
 * Spawned by the bench (peer-process.ts); installed by `npm run bench:peers` into bench/peers/node_modules.
 */
import { createRequire } from 'node:module';
import type { Layer } from './layers.js';
import { encodeModel } from './onnx/encode.js';
import { type LayerGraph, layerGraph } from './onnx/graphs.js';
import { type PeerHandler, checkPeerOutput, runsPerSample } from './protocol.js';
import { servePeer } from './serve.js';

/** The part of onnxruntime-node's API used here (the package is optional, so no compile-time types). */
interface OrtTensorCtor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): unknown;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data?: ArrayLike<number>; dispose?: () => void }>>;
  release(): Promise<void>;
}
interface Ort {
  Tensor: OrtTensorCtor;
  InferenceSession: {
    create(model: Uint8Array, opts: { executionProviders: string[]; graphOptimizationLevel?: string }): Promise<OrtSession>;
  };
  env: { versions?: { common?: string }; logLevel?: string };
}

const provider = process.argv[2] === 'cpu' ? 'cpu' : 'webgpu';

async function makeHandler(): Promise<PeerHandler> {
  const require = createRequire(import.meta.url);
  let ort: Ort;
  try {
    ort = require('onnxruntime-node') as Ort;
  } catch (e) {
    throw new Error(`onnxruntime-node is not installed (run \`npm run bench:peers\`): ${(e as Error).message.split('\n')[0]}`);
  }
  ort.env.logLevel = 'error';
  const version = (require('onnxruntime-node/package.json') as { version: string }).version;
  let session: OrtSession | null = null;
  let feeds: Record<string, unknown> = {};
  let inner = 1;

  const runOnce = async (check = false) => {
    const out = await (session as OrtSession).run(feeds);
    if (check) checkPeerOutput(`onnxruntime ${provider}`, out.y?.data ?? []);
    for (const t of Object.values(out)) t.dispose?.();
  };

  async function open(g: LayerGraph): Promise<void> {
    session = await ort.InferenceSession.create(encodeModel(g.graph), { executionProviders: [provider], graphOptimizationLevel: 'all' });
    feeds = {};
    for (const f of g.feeds) {
      const n = f.dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
      feeds[f.name] = new ort.Tensor('float32', data, f.dims);
    }
  }

  return {
    async hello() {
      // Creating a session is what proves the execution provider exists in this build.
      await open(layerGraph({ op: 'softmax', rows: 1, cols: 4 }));
      await runOnce();
      await session?.release();
      session = null;
      return { name: `onnxruntime-${provider}`, version, detail: `executionProviders ['${provider}']` };
    },
    async setup(layer: Layer, targetMs: number) {
      let g = layerGraph(layer, { attention: 'contrib' });
      try {
        await open(g);
        await runOnce();
      } catch (e) {
        if (layer.op !== 'attention') throw e;
        // The fused contrib op is not in every build/provider: fall back to the plain ONNX decomposition.
        await session?.release();
        g = layerGraph(layer, { attention: 'decomposed' });
        await open(g);
        await runOnce();
      }
      await runOnce(true);
      const t0 = performance.now();
      await runOnce();
      inner = runsPerSample(performance.now() - t0, targetMs);
      return { inner, form: g.form };
    },
    async sample() {
      const t0 = performance.now();
      for (let i = 0; i < inner; i++) await runOnce();
      return (performance.now() - t0) / inner;
    },
    async teardown() {
      await session?.release();
      session = null;
      feeds = {};
    },
  };
}

await servePeer(makeHandler);
