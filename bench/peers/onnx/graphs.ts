/**
 * One-layer ONNX graphs for the onnxruntime peer, written as a PyTorch → ONNX export of the same layer would
 * be (NCHW; GroupNorm as Reshape → InstanceNormalization → Reshape → affine, as torch.onnx exports it at
 * opset 17). Weights are initializers (constants, as in an exported model); activations are graph inputs.
 */
import type { Layer } from '../layers.js';
import { Unsupported } from '../protocol.js';
import { ONNX_FLOAT, ONNX_INT64, type OnnxGraph, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './encode.js';

export interface LayerGraph {
  graph: OnnxGraph;
  /** Graph inputs the caller feeds (f32), with their shapes. */
  feeds: { name: string; dims: number[] }[];
  /** What this graph computes the layer with, for the report (e.g. "MultiHeadAttention (contrib)"). */
  form: string;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function randomF32(name: string, dims: number[], around = 0): OnnxTensor {
  const n = prod(dims);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = around + Math.sin(i * 78.233) * 0.05;
  return { name, dims, dataType: ONNX_FLOAT, raw: data };
}

function int64s(name: string, values: number[]): OnnxTensor {
  return { name, dims: [values.length], dataType: ONNX_INT64, raw: BigInt64Array.from(values.map(BigInt)) };
}

const f32 = (name: string, dims: number[]): OnnxValueInfo => ({ name, elemType: ONNX_FLOAT, dims });
const OPSET_17 = [{ domain: '', version: 17 }];

function single(
  name: string,
  inputs: { name: string; dims: number[] }[],
  out: number[],
  nodes: OnnxNode[],
  inits: OnnxTensor[],
  form: string,
): LayerGraph {
  return {
    graph: { name, nodes, initializers: inits, inputs: inputs.map((i) => f32(i.name, i.dims)), outputs: [f32('y', out)], opsets: OPSET_17 },
    feeds: inputs,
    form,
  };
}

/** The graph of one layer. `attention: 'contrib'` uses onnxruntime's fused MultiHeadAttention op. */
export function layerGraph(l: Layer, opts: { attention?: 'contrib' | 'decomposed' } = {}): LayerGraph {
  switch (l.op) {
    case 'resnet':
    case 'transformer2d':
      throw new Unsupported(`onnxruntime peer: no one-layer graph for the whole ${l.op} block`);
    case 'matmul':
      return single(
        'matmul',
        [{ name: 'a', dims: [l.M, l.K] }],
        [l.M, l.N],
        [{ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
        [randomF32('b', [l.K, l.N])],
        'MatMul',
      );
    case 'conv2d': {
      const oh = Math.floor((l.h + 2 * l.pad - l.k) / l.stride) + 1;
      const ow = Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1;
      return single(
        'conv2d',
        [{ name: 'x', dims: [l.n, l.cin, l.h, l.w] }],
        [l.n, l.cout, oh, ow],
        [
          {
            opType: 'Conv',
            inputs: ['x', 'w', 'bias'],
            outputs: ['y'],
            attributes: [
              { name: 'kernel_shape', type: 'ints', value: [l.k, l.k] },
              { name: 'pads', type: 'ints', value: [l.pad, l.pad, l.pad, l.pad] },
              { name: 'strides', type: 'ints', value: [l.stride, l.stride] },
            ],
          },
        ],
        [randomF32('w', [l.cout, l.cin, l.k, l.k]), randomF32('bias', [l.cout])],
        'Conv (NCHW)',
      );
    }
    case 'groupnorm': {
      const shape = [l.n, l.c, ...l.spatial];
      const affine = [l.c, ...l.spatial.map(() => 1)];
      const nodes: OnnxNode[] = [
        { opType: 'Reshape', inputs: ['x', 'grouped_shape'], outputs: ['xg'] },
        {
          opType: 'InstanceNormalization',
          inputs: ['xg', 'ones', 'zeros'],
          outputs: ['ng'],
          attributes: [{ name: 'epsilon', type: 'float', value: l.eps }],
        },
        { opType: 'Reshape', inputs: ['ng', 'full_shape'], outputs: ['n'] },
        { opType: 'Mul', inputs: ['n', 'gamma'], outputs: ['scaled'] },
        { opType: 'Add', inputs: ['scaled', 'beta'], outputs: [l.silu ? 'pre' : 'y'] },
      ];
      if (l.silu) {
        nodes.push({ opType: 'Sigmoid', inputs: ['pre'], outputs: ['sig'] }, { opType: 'Mul', inputs: ['pre', 'sig'], outputs: ['y'] });
      }
      return single(
        'groupnorm',
        [{ name: 'x', dims: shape }],
        shape,
        nodes,
        [
          int64s('grouped_shape', [l.n, l.groups, -1]),
          int64s('full_shape', shape),
          { name: 'ones', dims: [l.groups], dataType: ONNX_FLOAT, raw: new Float32Array(l.groups).fill(1) },
          { name: 'zeros', dims: [l.groups], dataType: ONNX_FLOAT, raw: new Float32Array(l.groups) },
          randomF32('gamma', affine, 1),
          randomF32('beta', affine),
        ],
        `Reshape+InstanceNormalization+Reshape+Mul+Add${l.silu ? '+Sigmoid+Mul' : ''} (torch.onnx opset 17 export)`,
      );
    }
    case 'attention': {
      const { b, nq, nk, heads, d } = l;
      if (opts.attention === 'contrib') {
        return {
          graph: {
            name: 'mha',
            nodes: [
              {
                opType: 'MultiHeadAttention',
                domain: 'com.microsoft',
                inputs: ['q', 'k', 'v'],
                outputs: ['y'],
                attributes: [{ name: 'num_heads', type: 'int', value: heads }],
              },
            ],
            initializers: [],
            inputs: [f32('q', [b, nq, heads * d]), f32('k', [b, nk, heads * d]), f32('v', [b, nk, heads * d])],
            outputs: [f32('y', [b, nq, heads * d])],
            opsets: [...OPSET_17, { domain: 'com.microsoft', version: 1 }],
          },
          feeds: [
            { name: 'q', dims: [b, nq, heads * d] },
            { name: 'k', dims: [b, nk, heads * d] },
            { name: 'v', dims: [b, nk, heads * d] },
          ],
          form: 'com.microsoft MultiHeadAttention (fused)',
        };
      }
      return single(
        'attention',
        [
          { name: 'q', dims: [b, heads, nq, d] },
          { name: 'k', dims: [b, heads, nk, d] },
          { name: 'v', dims: [b, heads, nk, d] },
        ],
        [b, heads, nq, d],
        [
          { opType: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: [{ name: 'perm', type: 'ints', value: [0, 1, 3, 2] }] },
          { opType: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
          { opType: 'Mul', inputs: ['s', 'scale'], outputs: ['ss'] },
          { opType: 'Softmax', inputs: ['ss'], outputs: ['p'], attributes: [{ name: 'axis', type: 'int', value: -1 }] },
          { opType: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
        ],
        [{ name: 'scale', dims: [], dataType: ONNX_FLOAT, raw: new Float32Array([1 / Math.sqrt(d)]) }],
        'Transpose+MatMul+Mul+Softmax+MatMul',
      );
    }
    case 'softmax':
      return single(
        'softmax',
        [{ name: 'x', dims: [l.rows, l.cols] }],
        [l.rows, l.cols],
        [{ opType: 'Softmax', inputs: ['x'], outputs: ['y'], attributes: [{ name: 'axis', type: 'int', value: -1 }] }],
        [],
        'Softmax',
      );
    case 'layernorm':
      return single(
        'layernorm',
        [{ name: 'x', dims: [l.rows, l.c] }],
        [l.rows, l.c],
        [
          {
            opType: 'LayerNormalization',
            inputs: ['x', 'gamma', 'beta'],
            outputs: ['y'],
            attributes: [
              { name: 'axis', type: 'int', value: -1 },
              { name: 'epsilon', type: 'float', value: l.eps },
            ],
          },
        ],
        [randomF32('gamma', [l.c], 1), randomF32('beta', [l.c])],
        'LayerNormalization',
      );
  }
}
