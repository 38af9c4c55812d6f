/**
 * A minimal ONNX `ModelProto` encoder: just enough protobuf (varints, length-delimited fields, fixed32
 * floats) to write the one-layer graphs the onnxruntime peer runs. Field numbers are those of onnx.proto
 * (onnx/onnx, IR version 8). Writing the few messages we need by hand keeps a protobuf library and .proto
 * files out of the project.
 */

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export interface OnnxTensor {
  name: string;
  dims: readonly number[];
  dataType: typeof ONNX_FLOAT | typeof ONNX_INT64;
  /** Little-endian element bytes (Float32Array / BigInt64Array views are fine). */
  raw: ArrayBufferView;
}

export type OnnxAttribute =
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'ints'; value: readonly number[] }
  | { name: string; type: 'string'; value: string };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator domain; '' is the default ONNX domain, 'com.microsoft' onnxruntime's contrib ops. */
  domain?: string;
  attributes?: readonly OnnxAttribute[];
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: readonly number[];
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  /** Operator sets, e.g. `[{ domain: '', version: 17 }]`. */
  opsets: readonly { domain: string; version: number }[];
}

enum WireType {
  Varint = 0,
  Fixed32 = 5,
  Bytes = 2,
}

/** Appends protobuf fields to a growing byte list. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  private tag(field: number, wire: WireType): void {
    this.push(encodeVarint(field * 8 + wire));
  }

  /** int32/int64/enum field (negative values take ten bytes, as protobuf's two's complement int64). */
  int(field: number, value: number): this {
    this.tag(field, WireType.Varint);
    this.push(encodeVarint(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WireType.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.Bytes);
    this.push(encodeVarint(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Protobuf base-128 varint of an integer; negatives as 64-bit two's complement (ten bytes). */
export function encodeVarint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value)) throw new RangeError(`varint: ${value} is not a safe integer`);
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function viewBytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  w.bytes(9, viewBytes(t.raw)); // raw_data
}

function writeAttribute(w: ProtoWriter, a: OnnxAttribute): void {
  w.string(1, a.name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value).int(20, 1);
      break;
    case 'int':
      w.int(3, a.value).int(20, 2);
      break;
    case 'string':
      w.string(4, a.value).int(20, 3);
      break;
    case 'ints':
      for (const x of a.value) w.int(8, x);
      w.int(20, 7);
      break;
  }
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, (m) => writeAttribute(m, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, v.elemType);
      tensorType.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

/** Serialises a one-graph ONNX model (IR version 8) for `InferenceSession.create(bytes)`. */
export function encodeModel(g: OnnxGraph): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, 8); // ir_version
  w.string(2, 'medgpu-bench'); // producer_name
  w.message(7, (graph) => {
    for (const n of g.nodes) graph.message(1, (m) => writeNode(m, n));
    graph.string(2, g.name);
    for (const t of g.initializers) graph.message(5, (m) => writeTensor(m, t));
    for (const v of g.inputs) graph.message(11, (m) => writeValueInfo(m, v));
    for (const v of g.outputs) graph.message(12, (m) => writeValueInfo(m, v));
  });
  for (const o of g.opsets) w.message(8, (m) => m.string(1, o.domain).int(2, o.version));
  return w.finish();
}
