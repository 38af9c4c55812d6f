/**
 * The benchmark's pure logic: the hand-written ONNX protobuf encoder (checked by an independent minimal
 * protobuf reader here, and — when the optional onnxruntime-node peer is installed — by onnxruntime itself
 * running the graphs against plain-TS results), the layer cost counts, and the profile summary.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Layer, layerFlops } from '../../bench/peers/layers.js';
import { encodeModel, encodeVarint } from '../../bench/peers/onnx/encode.js';
import { layerGraph } from '../../bench/peers/onnx/graphs.js';
import { familyShares, summariseProfile } from '../../bench/e2e/profile.js';
import { convCost } from '../../src/kernels/conv.js';
import { matmulCost } from '../../src/kernels/matmul.js';

/** A protobuf message as field number → list of raw values (varint as bigint, bytes as Uint8Array). */
type Fields = Map<number, (bigint | Uint8Array | number)[]>;

function decode(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++] as number;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    let value: bigint | Uint8Array | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const n = Number(varint());
      value = buf.subarray(i, i + n);
      i += n;
    } else if (wire === 5) {
      value = new DataView(buf.buffer, buf.byteOffset + i, 4).getFloat32(0, true);
      i += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
const sub = (f: Fields, n: number) => (f.get(n) ?? []).map((v) => decode(v as Uint8Array));

describe('ONNX encoder', () => {
  it('writes protobuf varints (examples from the protobuf encoding spec; negatives as ten-byte int64)', () => {
    expect([...encodeVarint(1)]).toEqual([1]);
    expect([...encodeVarint(150)]).toEqual([0x96, 0x01]);
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02]);
    expect([...encodeVarint(-1)]).toEqual([...Array(9).fill(0xff), 0x01]);
    expect([...encodeVarint(2 ** 40)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
  });

  it('encodes a graph that an independent protobuf reader reads back field by field', () => {
    const g = layerGraph({ op: 'conv2d', n: 1, h: 5, w: 7, cin: 3, cout: 4, k: 3, stride: 2, pad: 1 });
    const model = decode(encodeModel(g.graph));
    expect(model.get(1)).toEqual([8n]); // ir_version
    const opset = sub(model, 8)[0] as Fields;
    expect(text(opset.get(1)?.[0])).toBe('');
    expect(opset.get(2)).toEqual([17n]);
    const graph = sub(model, 7)[0] as Fields;
    const node = sub(graph, 1)[0] as Fields;
    expect(text(node.get(4)?.[0])).toBe('Conv');
    expect((node.get(1) ?? []).map(text)).toEqual(['x', 'w', 'bias']);
    const attrs = sub(node, 5).map((a) => [text(a.get(1)?.[0]), (a.get(8) ?? []).map(Number), a.get(20)?.[0]]);
    expect(attrs).toEqual([
      ['kernel_shape', [3, 3], 7n],
      ['pads', [1, 1, 1, 1], 7n],
      ['strides', [2, 2], 7n],
    ]);
    const [w, bias] = sub(graph, 5);
    expect((w?.get(1) ?? []).map(Number)).toEqual([4, 3, 3, 3]);
    expect((w?.get(9)?.[0] as Uint8Array | undefined)?.length).toBe(4 * 3 * 3 * 3 * 4);
    expect(text(bias?.get(8)?.[0])).toBe('bias');
    const input = sub(graph, 11)[0] as Fields;
    const tensorType = sub(sub(input, 2)[0] as Fields, 1)[0] as Fields;
    const dims = sub(sub(tensorType, 2)[0] as Fields, 1).map((d) => Number(d.get(1)?.[0]));
    expect(dims).toEqual([1, 3, 5, 7]);
  });

  it('encodes negative int64 initializers and float attributes (GroupNorm decomposition)', () => {
    const g = layerGraph({ op: 'groupnorm', n: 2, spatial: [3, 3], c: 8, groups: 4, eps: 1e-5, silu: true });
    const graph = sub(decode(encodeModel(g.graph)), 7)[0] as Fields;
    const shape = sub(graph, 5).find((t) => text(t.get(8)?.[0]) === 'grouped_shape') as Fields;
    const raw = shape.get(9)?.[0] as Uint8Array;
    expect([...new BigInt64Array(raw.slice().buffer)]).toEqual([2n, 4n, -1n]);
    const inorm = sub(graph, 1).find((n) => text(n.get(4)?.[0]) === 'InstanceNormalization') as Fields;
    const eps = sub(inorm, 5)[0] as Fields;
    expect(eps.get(2)?.[0]).toBeCloseTo(1e-5, 10);
    expect(sub(graph, 1).map((n) => text(n.get(4)?.[0]))).toEqual([
      'Reshape',
      'InstanceNormalization',
      'Reshape',
      'Mul',
      'Add',
      'Sigmoid',
      'Mul',
    ]);
  });
});

// onnxruntime-node is an optional peer (bench/peers/node_modules, installed by `npm run bench:peers` and by
// .ci/run): the check that onnxruntime itself accepts and runs the encoded graphs needs it. A developer's run
// without it skips these two tests; in CI (CI set) they run, and fail if the install is missing.
const ortPath = join(import.meta.dirname, '../../bench/peers/node_modules/onnxruntime-node');
const ortInstalled = existsSync(join(ortPath, 'package.json'));

interface OrtLike {
  Tensor: new (t: 'float32', d: Float32Array, dims: number[]) => unknown;
  InferenceSession: {
    create(b: Uint8Array, o: object): Promise<{ run(f: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>> }>;
  };
}

async function runOnOrtCpu(l: Layer, inputs: Record<string, Float32Array>) {
  const ort = createRequire(import.meta.url)(ortPath) as OrtLike;
  const g = layerGraph(l);
  const session = await ort.InferenceSession.create(encodeModel(g.graph), { executionProviders: ['cpu'] });
  const feeds: Record<string, unknown> = {};
  for (const f of g.feeds) feeds[f.name] = new ort.Tensor('float32', inputs[f.name] as Float32Array, f.dims);
  const out = await session.run(feeds);
  const init = (name: string) => {
    const t = g.graph.initializers.find((x) => x.name === name);
    if (!t) throw new Error(`no initializer ${name}`);
    return new Float32Array((t.raw as Float32Array).slice());
  };
  return { y: (out.y as { data: Float32Array }).data, init };
}

describe.skipIf(!ortInstalled && !process.env.CI)(
  `ONNX graphs on onnxruntime CPU${ortInstalled ? '' : ' (skipped: onnxruntime-node is not installed in bench/peers; `npm run bench:peers` installs it)'}`,
  () => {
    const values = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + s));

    it('MatMul 3×5·5×7 matches a plain-TS product within 1e-5', async () => {
      const a = values(15, 1);
      const { y, init } = await runOnOrtCpu({ op: 'matmul', M: 3, K: 5, N: 7 }, { a });
      const b = init('b');
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 7; j++) {
          let s = 0;
          for (let k = 0; k < 5; k++) s += (a[i * 5 + k] as number) * (b[k * 7 + j] as number);
          expect(Math.abs((y[i * 7 + j] as number) - s)).toBeLessThan(1e-5);
        }
      }
    });

    it('the GroupNorm+SiLU decomposition matches a plain-TS group norm within 1e-4', async () => {
      const [n, c, hw, groups, eps] = [2, 6, 5, 3, 1e-5];
      const x = values(n * c * hw, 2);
      const { y, init } = await runOnOrtCpu({ op: 'groupnorm', n, spatial: [hw], c, groups, eps, silu: true }, { x });
      const gamma = init('gamma');
      const beta = init('beta');
      const cg = c / groups;
      for (let b = 0; b < n; b++) {
        for (let g = 0; g < groups; g++) {
          const idx: number[] = [];
          for (let ch = g * cg; ch < (g + 1) * cg; ch++) for (let p = 0; p < hw; p++) idx.push((b * c + ch) * hw + p);
          const mean = idx.reduce((s, i) => s + (x[i] as number), 0) / idx.length;
          const variance = idx.reduce((s, i) => s + ((x[i] as number) - mean) ** 2, 0) / idx.length;
          for (const i of idx) {
            const ch = Math.floor(i / hw) % c;
            const t = (((x[i] as number) - mean) / Math.sqrt(variance + eps)) * (gamma[ch] as number) + (beta[ch] as number);
            expect(Math.abs((y[i] as number) - t / (1 + Math.exp(-t)))).toBeLessThan(1e-4);
          }
        }
      }
    });
  },
);

describe('layer cost counts', () => {
  it('agree with the kernels’ own cost models for matmul and conv', () => {
    expect(layerFlops({ op: 'matmul', M: 4096, K: 320, N: 1280 })).toBe(matmulCost(1, 4096, 320, 1280, 'f32').flops);
    const conv: Layer = { op: 'conv2d', n: 2, h: 17, w: 9, cin: 5, cout: 6, k: 3, stride: 2, pad: 1 };
    expect(layerFlops(conv)).toBe(convCost(2, 9 * 5, 17 * 9, 5, 6, 9, 'f32').flops);
  });
});

describe('profile summary', () => {
  it('groups dispatches by kernel, sums times and flops, sorts by total time', () => {
    const rows = summariseProfile([
      { label: 'conv', ms: 2, cost: { flops: 4e6, bytes: 0 } },
      { label: 'norm', ms: 1 },
      { label: 'conv', ms: 3, cost: { flops: 6e6, bytes: 0 } },
    ]);
    expect(rows).toEqual([
      { kernel: 'conv', dispatches: 2, totalMs: 5, share: 0.8333, gflops: 2 },
      { kernel: 'norm', dispatches: 1, totalMs: 1, share: 0.1667, gflops: null },
    ]);
    expect(familyShares([...rows, { kernel: 'conv.split:f32', dispatches: 1, totalMs: 0, share: 0.1, gflops: null }])).toBe(
      'conv 93.3%, norm 16.7%',
    );
  });
});
