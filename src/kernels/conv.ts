/**
 * 2D and 3D convolution as implicit GEMM over channels-last activations: output pixels are GEMM rows,
 * output channels are columns, and K = taps × Cin is walked tap by tap without ever building im2col.
 * `out = (conv(x) + bias + residual) * scale` (the diffusers ResnetBlock epilogue with 1/output_scale_factor).
 *
 * Weights are re-laid once at load by `prepareConvWeight` from PyTorch's [Cout, Cin, (kd,) kh, kw] to
 * [taps][CinPad][CoutPad] (zero padded: Cin to a multiple of 8, Cout to a multiple of 64) so each k-step
 * reads one contiguous, unguarded row of output channels as vec4s.
 *
 * Two kernels (see ../shared/notes/lavapipe.md for why this shape wins on lavapipe):
 * - subgroup: one 8-lane subgroup per workgroup owns ROWS output pixels × 32·CV channels; each lane loads
 *   one input channel of every row per 8-channel chunk and the others get it by `subgroupBroadcast`, so
 *   accumulators stay in registers and each weight row is loaded once per lane as vec4.
 * - portable: no subgroups; each invocation owns 4 pixels × 4 channels and loads its own inputs.
 * Inputs/outputs larger than the binding limit are split into ranges of output lines bound with offsets.
 */
import type { DType } from '../runtime/dtype.js';
import { LimitError, MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';

/** Cin is padded to this (the subgroup kernel's k-chunk: one input channel per lane). */
const CIN_ALIGN = 8;
/** Cout is padded to this (the widest column tile: 8 lanes × vec4 × 2). */
const COUT_ALIGN = 64;

/** A conv weight re-laid for the kernels: [taps][cinPad][coutPad] in `dtype`. */
export interface ConvWeight {
  readonly tensor: Tensor;
  readonly cout: number;
  readonly cin: number;
  /** Kernel extent per spatial axis: [kh, kw] for 2D, [kd, kh, kw] for 3D. */
  readonly kernel: readonly number[];
  readonly cinPad: number;
  readonly coutPad: number;
}

const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;

/**
 * Re-lays a PyTorch conv weight ([Cout, Cin, kh, kw] or [Cout, Cin, kd, kh, kw], row-major host f32) into
 * the kernels' layout and uploads it. Done once at load; the host copy can be dropped afterwards.
 */
export function prepareConvWeight(
  gpu: Gpu,
  host: Float32Array,
  torchShape: readonly number[],
  dtype: DType = 'f32',
  label = 'conv weight',
): ConvWeight {
  if (torchShape.length !== 4 && torchShape.length !== 5) {
    throw new ShapeError(`${label}: conv weight shape ${shapeString(torchShape)} must be [Cout, Cin, kh, kw] or [Cout, Cin, kd, kh, kw]`);
  }
  const [cout, cin, ...kernel] = torchShape as number[];
  const taps = kernel.reduce((a, b) => a * b, 1);
  const n = (cout as number) * (cin as number) * taps;
  if (host.length !== n) {
    throw new ShapeError(`${label}: ${host.length} values for conv weight shape ${shapeString(torchShape)} (${n})`);
  }
  const co = cout as number;
  const ci = cin as number;
  const cinPad = roundUp(ci, CIN_ALIGN);
  const coutPad = roundUp(co, COUT_ALIGN);
  const out = new Float32Array(taps * cinPad * coutPad);
  for (let o = 0; o < co; o++) {
    for (let i = 0; i < ci; i++) {
      const src = (o * ci + i) * taps;
      for (let t = 0; t < taps; t++) out[(t * cinPad + i) * coutPad + o] = host[src + t] as number;
    }
  }
  const tensor = gpu.upload(out, [taps, cinPad, coutPad], dtype, label);
  return { tensor, cout: co, cin: ci, kernel, cinPad, coutPad };
}

export interface ConvSpec {
  /** Stride per spatial axis (a number applies to all). Default 1. */
  stride?: number | readonly number[];
  /**
   * Zero padding per spatial axis: a number (symmetric, all axes) or [before, after] per axis, e.g.
   * [[0, 1], [0, 1]] for the SD VAE downsampler. Default 0.
   */
  padding?: number | readonly (readonly [number, number])[];
  /** Multiplies the result after bias and residual (1/output_scale_factor). Default 1. */
  scale?: number;
  /** Kernel choice; 'auto' uses subgroups where the adapter has 8-wide (or wider) subgroups. */
  impl?: 'auto' | 'subgroup' | 'portable';
  /** Subgroup kernel tile (for tuning): output pixels per subgroup and vec4 column groups per lane (1 or 2). */
  tile?: { rows: number; cv: 1 | 2; unroll?: number };
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

export interface ConvInputs {
  bias?: Tensor;
  /** Added before scaling; same shape and dtype as the output. */
  residual?: Tensor;
}

const params = defineParams({
  cin: 'u32',
  cinPad: 'u32',
  cout: 'u32',
  coutPad4: 'u32',
  inD: 'i32',
  inH: 'i32',
  inW: 'i32',
  outD: 'u32',
  outH: 'u32',
  outW: 'u32',
  padD: 'i32',
  padH: 'i32',
  padW: 'i32',
  kd: 'i32',
  kh: 'i32',
  kw: 'i32',
  sd: 'i32',
  sh: 'i32',
  sw: 'i32',
  hasBias: 'u32',
  hasRes: 'u32',
  mStart: 'u32',
  mCount: 'u32',
  xBase: 'u32',
  yBase: 'u32',
  scale: 'f32',
});
type ParamName = (typeof params.names)[number];

/**
 * What is compiled in. Kernel size, stride, padding and the bias/residual flags are uniforms: they only
 * touch per-tap and epilogue code, and one pipeline per dtype keeps compile time (~0.3 s each) low.
 */
interface KernelSpec {
  impl: 'subgroup' | 'portable';
  dtype: DType;
  /** Output pixels per subgroup (subgroup kernel). */
  rows: number;
  /** vec4 column groups per lane (subgroup kernel). */
  cv: number;
  /** 8-channel chunks per unrolled loop iteration (subgroup kernel). */
  unroll: number;
}

const SG = 8;
const PORTABLE_WG = 64;

function kernelKey(s: KernelSpec): string {
  return `conv:${s.impl}:${s.dtype}:${s.rows}x${s.cv}x${s.unroll}`;
}

/** Shared declarations and the per-row origin decode: output pixel m → (n·D·H·W, iz0, iy0, ix0). */
function header(s: KernelSpec, extraEnable: string): string {
  const T = s.dtype;
  // bias and res are always bound (to a dummy buffer when absent) and gated by p.hasBias / p.hasRes.
  let code = `${enables(T)}${extraEnable}${storage(0, 'x', T, 'read')}${storage(1, 'w', `vec4<${T}>`, 'read')}`;
  code += storage(2, 'bias', T, 'read');
  code += storage(3, 'res', T, 'read');
  code += storage(4, 'y', T, 'read_write');
  code += params.declare(5);
  code += `
struct Origin { nb: i32, z: i32, y: i32, x: i32, ok: bool };
// Origin of output pixel m (chunk-relative) in the input: the batch's first pixel and the top-left tap.
fn origin(m: u32) -> Origin {
  let g = p.mStart + m;
  let ox = g % p.outW; let r1 = g / p.outW;
  let oy = r1 % p.outH; let r2 = r1 / p.outH;
  let oz = r2 % p.outD; let n = r2 / p.outD;
  return Origin(i32(n) * p.inD * p.inH * p.inW, i32(oz) * p.sd - p.padD, i32(oy) * p.sh - p.padH,
                i32(ox) * p.sw - p.padW, m < p.mCount);
}
// Element offset (relative to the bound input range) of channel 0 at a tap, or -1 outside the input.
fn tapBase(o: Origin, tz: i32, ty: i32, tx: i32) -> i32 {
  let z = o.z + tz; let yy = o.y + ty; let xx = o.x + tx;
  let inside = o.ok && z >= 0 && z < p.inD && yy >= 0 && yy < p.inH && xx >= 0 && xx < p.inW;
  return select(-1, ((o.nb + (z * p.inH + yy) * p.inW + xx) * i32(p.cin)) - i32(p.xBase), inside);
}
// Epilogue for one output pixel and 4 channels starting at col.
fn store4(m: u32, col: u32, acc: vec4f) {
  if (m >= p.mCount) { return; }
  let g = p.mStart + m;
  for (var j = 0u; j < 4u; j++) {
    let c = col + j;
    if (c < p.cout) {
      var v = acc[j];
      if (p.hasBias != 0u) { v += f32(bias[c]); }
      let o = g * p.cout + c - p.yBase;
      if (p.hasRes != 0u) { v += f32(res[o]); }
      y[o] = ${T}(v * p.scale);
    }
  }
}
`;
  return code;
}

/** Loops over taps; `body` sees the tap offsets tz, ty, tx and the tap index t. */
function tapLoops(body: string): string {
  return `for (var tz = 0; tz < p.kd; tz++) {
  for (var ty = 0; ty < p.kh; ty++) {
   for (var tx = 0; tx < p.kw; tx++) {
    let t = u32((tz * p.kh + ty) * p.kw + tx);
${body}
   }
  }
 }`;
}

function subgroupKernel(s: KernelSpec): string {
  const R = s.rows;
  const CV = s.cv;
  const rows = [...Array(R).keys()];
  const cvs = [...Array(CV).keys()];
  const U = s.unroll;
  // One chunk: each lane loads channel c0+off+lane of every row, then 8 broadcast k-steps.
  const chunk = (off: number, guarded: boolean) => `      {
      let ci = c0 + ${off}u + lane;
${rows.map((r) => `      let a${r} = select(0.0, f32(x[u32(max(b${r}, 0)) + ci]), ${guarded ? 'ci < p.cin && ' : ''}b${r} >= 0);`).join('\n')}
${[...Array(SG).keys()]
  .map(
    (kk) => `      {
${cvs.map((j) => `        let w${j} = vec4f(w[wrow + ${kk}u * p.coutPad4 + ${j * SG}u]);`).join('\n')}
${rows.map((r) => `        { let a = subgroupBroadcast(a${r}, ${kk}u); ${cvs.map((j) => `acc${r}_${j} += a * w${j};`).join(' ')} }`).join('\n')}
      }`,
  )
  .join('\n')}
      wrow += ${SG}u * p.coutPad4;
      }`;
  const lines: string[] = [];
  lines.push(header(s, 'enable subgroups;\n'));
  lines.push(`@compute @workgroup_size(${SG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let tile = ${linearWorkgroup};
  let m0 = tile * ${R}u;
  if (m0 >= p.mCount) { return; }
  // This lane's vec4 column groups: lane + 8·j within the workgroup's ${32 * CV} channels.
  let col4 = wid.z * ${SG * CV}u + lane;
${rows.map((r) => `  let o${r} = origin(m0 + ${r}u);`).join('\n')}
${rows.map((r) => cvs.map((j) => `  var acc${r}_${j} = vec4f(0.0);`).join(' ')).join('\n')}
 ${tapLoops(
   `${rows.map((r) => `    let b${r} = tapBase(o${r}, tz, ty, tx);`).join('\n')}
    var wrow = t * p.cinPad * p.coutPad4 + col4;
    // ${U} chunks of ${SG} input channels per iteration while they fit, then single guarded chunks.
    var c0 = 0u;
    for (; c0 + ${SG * U}u <= p.cin; c0 += ${SG * U}u) {
${[...Array(U).keys()].map((u) => chunk(u * SG, false)).join('\n')}
    }
    for (; c0 < p.cin; c0 += ${SG}u) {
${chunk(0, true)}
    }`,
 )}
${rows.map((r) => cvs.map((j) => `  store4(m0 + ${r}u, (col4 + ${j * SG}u) * 4u, acc${r}_${j});`).join('\n')).join('\n')}
}
`);
  return lines.join('');
}

function portableKernel(s: KernelSpec): string {
  // 64 invocations: 8 column groups (vec4) × 8 row groups of 4 pixels → 32 pixels × 32 channels.
  return `${header(s, '')}
@compute @workgroup_size(${PORTABLE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m0 = ${linearWorkgroup} * 32u + (lid / 8u) * 4u;
  let col4 = wid.z * 8u + lid % 8u;
  if (m0 >= p.mCount || col4 >= p.coutPad4) { return; }
  let o0 = origin(m0); let o1 = origin(m0 + 1u); let o2 = origin(m0 + 2u); let o3 = origin(m0 + 3u);
  var acc0 = vec4f(0.0); var acc1 = vec4f(0.0); var acc2 = vec4f(0.0); var acc3 = vec4f(0.0);
 ${tapLoops(
   `    let b0 = tapBase(o0, tz, ty, tx); let b1 = tapBase(o1, tz, ty, tx);
    let b2 = tapBase(o2, tz, ty, tx); let b3 = tapBase(o3, tz, ty, tx);
    var wrow = t * p.cinPad * p.coutPad4 + col4;
    for (var ci = 0u; ci < p.cin; ci++) {
      let wv = vec4f(w[wrow]);
      acc0 += select(0.0, f32(x[u32(max(b0, 0)) + ci]), b0 >= 0) * wv;
      acc1 += select(0.0, f32(x[u32(max(b1, 0)) + ci]), b1 >= 0) * wv;
      acc2 += select(0.0, f32(x[u32(max(b2, 0)) + ci]), b2 >= 0) * wv;
      acc3 += select(0.0, f32(x[u32(max(b3, 0)) + ci]), b3 >= 0) * wv;
      wrow += p.coutPad4;
    }`,
 )}
  store4(m0, col4 * 4u, acc0); store4(m0 + 1u, col4 * 4u, acc1);
  store4(m0 + 2u, col4 * 4u, acc2); store4(m0 + 3u, col4 * 4u, acc3);
}
`;
}

export function convKernelSource(s: KernelSpec): string {
  return s.impl === 'subgroup' ? subgroupKernel(s) : portableKernel(s);
}

function perAxis(v: number | readonly number[] | undefined, rank: number, what: string, dflt: number): number[] {
  if (v === undefined) return Array(rank).fill(dflt);
  if (typeof v === 'number') return Array(rank).fill(v);
  if (v.length !== rank) throw new ShapeError(`conv: ${what} ${JSON.stringify(v)} must give ${rank} values (one per spatial axis)`);
  return [...v];
}

/** Normalised geometry of one conv call. */
export interface ConvGeometry {
  n: number;
  /** Input and output spatial sizes, kernel, stride, padding [before, after], all as 3D (2D has D = 1). */
  inSp: [number, number, number];
  outSp: [number, number, number];
  k: [number, number, number];
  stride: [number, number, number];
  pad: [[number, number], [number, number], [number, number]];
  cin: number;
  cout: number;
  /** Output shape in the input's rank. */
  outShape: number[];
}

export function convGeometry(
  xShape: readonly number[],
  cin: number,
  cout: number,
  kernel: readonly number[],
  spec: ConvSpec,
): ConvGeometry {
  const rank = kernel.length;
  if (xShape.length !== rank + 2) {
    throw new ShapeError(
      `conv${rank}d: input ${shapeString(xShape)} must be channels-last ${rank === 2 ? '[N, H, W, Cin]' : '[N, D, H, W, Cin]'} for a ${rank}D kernel`,
    );
  }
  if (xShape[rank + 1] !== cin)
    throw new ShapeError(`conv${rank}d: input ${shapeString(xShape)} has ${xShape[rank + 1]} channels, the weight expects ${cin}`);
  const stride = perAxis(spec.stride, rank, 'stride', 1);
  const pad: [number, number][] =
    spec.padding === undefined || typeof spec.padding === 'number'
      ? Array.from({ length: rank }, () => [spec.padding ?? 0, spec.padding ?? 0] as [number, number])
      : spec.padding.map((pp) => [pp[0], pp[1]] as [number, number]);
  if (pad.length !== rank) throw new ShapeError(`conv${rank}d: padding must give [before, after] for each of ${rank} axes`);
  const sp = xShape.slice(1, rank + 1);
  const out = sp.map((d, i) => Math.floor((d + (pad[i] as number[])[0]! + (pad[i] as number[])[1]! - kernel[i]!) / stride[i]!) + 1);
  if (out.some((o) => o < 1) || stride.some((s) => !(s >= 1)) || pad.flat().some((q) => q < 0)) {
    throw new ShapeError(
      `conv${rank}d: input ${shapeString(xShape)} with kernel ${shapeString(kernel)}, stride ${stride}, padding ${JSON.stringify(pad)} gives no output`,
    );
  }
  const lift = <T>(a: T[], one: T): [T, T, T] => (rank === 2 ? [one, a[0]!, a[1]!] : [a[0]!, a[1]!, a[2]!]);
  return {
    n: xShape[0]!,
    inSp: lift(sp, 1),
    outSp: lift(out, 1),
    k: lift([...kernel], 1),
    stride: lift(stride, 1),
    pad: lift(pad, [0, 0]),
    cin,
    cout,
    outShape: [xShape[0]!, ...out, cout],
  };
}

/** One chunk of output lines (n, od, oy) whose input and output ranges fit the binding limit. */
interface Chunk {
  mStart: number;
  mCount: number;
  /** Element ranges [lo, hi) of the input and output the chunk touches. */
  xLo: number;
  xHi: number;
  yLo: number;
  yHi: number;
}

/** Splits the output into runs of whole lines so every bound range stays within `limit` bytes. */
export function planChunks(g: ConvGeometry, bytesPer: number, limit: number): Chunk[] {
  const [D, H, W] = g.inSp;
  const [oD, oH, oW] = g.outSp;
  const lines = g.n * oD * oH;
  const lineSpan = (l: number): [number, number] => {
    const oy = l % oH;
    const oz = Math.floor(l / oH) % oD;
    const n = Math.floor(l / (oH * oD));
    const clampZ = (z: number) => Math.min(Math.max(z, 0), D - 1);
    const clampY = (y: number) => Math.min(Math.max(y, 0), H - 1);
    const z0 = clampZ(oz * g.stride[0] - g.pad[0][0]);
    const z1 = clampZ(oz * g.stride[0] - g.pad[0][0] + g.k[0] - 1);
    const y0 = clampY(oy * g.stride[1] - g.pad[1][0]);
    const y1 = clampY(oy * g.stride[1] - g.pad[1][0] + g.k[1] - 1);
    const lo = ((n * D + z0) * H + y0) * W * g.cin;
    const hi = ((n * D + z1) * H + y1 + 1) * W * g.cin;
    return [lo, hi];
  };
  const maxEl = Math.floor(limit / bytesPer);
  const lineOut = oW * g.cout;
  if (lineOut > maxEl || lineSpan(0)[1] - lineSpan(0)[0] > maxEl) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `conv: one output line (${oW} pixels × ${g.cout} channels) or its input rows exceed the binding limit of ${limit} bytes; tile the image spatially`,
    );
  }
  const chunks: Chunk[] = [];
  let l = 0;
  while (l < lines) {
    let [lo, hi] = lineSpan(l);
    let end = l + 1;
    while (end < lines) {
      const [a, b] = lineSpan(end);
      const nlo = Math.min(lo, a);
      const nhi = Math.max(hi, b);
      if (nhi - nlo > maxEl || (end + 1 - l) * lineOut > maxEl) break;
      lo = nlo;
      hi = nhi;
      end++;
    }
    chunks.push({ mStart: l * oW, mCount: (end - l) * oW, xLo: lo, xHi: hi, yLo: l * lineOut, yHi: end * lineOut });
    l = end;
  }
  return chunks;
}

/** Chooses the kernel: subgroup if the adapter has subgroups of at least 8 lanes and the spec allows it. */
function chooseImpl(gpu: Gpu, spec: ConvSpec): 'subgroup' | 'portable' {
  const ok = gpu.hasSubgroups && (gpu.info.subgroupMinSize ?? 0) >= SG;
  if (spec.impl === 'subgroup' && !ok) {
    throw new MedgpuError(
      'MISSING_FEATURE',
      "conv: impl 'subgroup' needs the 'subgroups' feature with >= 8 lanes; use impl 'auto' or 'portable'",
    );
  }
  if (spec.impl === 'portable') return 'portable';
  return ok ? 'subgroup' : 'portable';
}

/** Binds elements [lo, hi) of a tensor: the offset is aligned down; returns the element base it starts at. */
function rangeBinding(t: Tensor, lo: number, hi: number, bytesPer: number, align: number) {
  const off = Math.floor((lo * bytesPer) / align) * align;
  const end = Math.ceil((hi * bytesPer) / 4) * 4;
  return { binding: { buffer: t.buffer, offset: off, size: end - off }, base: off / bytesPer };
}

/**
 * `(conv(x, w) + bias + residual) * scale` on channels-last `x` ([N,H,W,Cin] for a 2D weight, [N,D,H,W,Cin]
 * for 3D). Returns [N, (oD,) oH, oW, Cout] in x's dtype.
 */
export function conv(gpu: Gpu, x: Tensor, w: ConvWeight, inputs: ConvInputs = {}, spec: ConvSpec = {}): Tensor {
  const g = convGeometry(x.shape, w.cin, w.cout, w.kernel, spec);
  const dtype = x.dtype;
  if (w.tensor.dtype !== dtype) throw new ShapeError(`conv: weight dtype ${w.tensor.dtype} differs from input dtype ${dtype}`);
  const { bias, residual } = inputs;
  if (bias && (bias.numel !== g.cout || bias.dtype !== dtype)) {
    throw new ShapeError(`conv: bias ${shapeString(bias.shape)} ${bias.dtype} must have ${g.cout} ${dtype} values`);
  }
  if (residual && (shapeString(residual.shape) !== shapeString(g.outShape) || residual.dtype !== dtype)) {
    throw new ShapeError(
      `conv: residual ${shapeString(residual.shape)} ${residual.dtype} must match the output ${shapeString(g.outShape)} ${dtype}`,
    );
  }
  const impl = chooseImpl(gpu, spec);
  const ks: KernelSpec = {
    impl,
    dtype,
    rows: spec.tile?.rows ?? 16,
    cv: spec.tile?.cv ?? 1,
    unroll: spec.tile?.unroll ?? 1,
  };
  const y = gpu.empty(g.outShape, dtype, 'conv out');
  const bytesPer = dtype === 'f32' ? 4 : 2;
  const deviceLimit = Number(gpu.limits.maxStorageBufferBindingSize);
  const limit = Math.min(spec.maxBindingBytes ?? deviceLimit, deviceLimit);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  // The aligned-down offset can add up to `align` bytes in front of a range: plan with that slack.
  const chunks = planChunks(g, bytesPer, limit - align);
  const key = kernelKey(ks);
  const rowsPerWg = impl === 'subgroup' ? ks.rows : 32;
  const colsPerWg = impl === 'subgroup' ? 32 * ks.cv : 32;
  for (const c of chunks) {
    const xb = rangeBinding(x, c.xLo, c.xHi, bytesPer, align);
    const yb = rangeBinding(y, c.yLo, c.yHi, bytesPer, align);
    const res = residual ? rangeBinding(residual, c.yLo, c.yHi, bytesPer, align).binding : w.tensor;
    const bindings = [xb.binding, w.tensor, bias ?? w.tensor, res, yb.binding];
    const values: Record<ParamName, number> = {
      cin: g.cin,
      cinPad: w.cinPad,
      cout: g.cout,
      coutPad4: w.coutPad / 4,
      inD: g.inSp[0],
      inH: g.inSp[1],
      inW: g.inSp[2],
      outD: g.outSp[0],
      outH: g.outSp[1],
      outW: g.outSp[2],
      padD: g.pad[0][0],
      padH: g.pad[1][0],
      padW: g.pad[2][0],
      kd: g.k[0],
      kh: g.k[1],
      kw: g.k[2],
      sd: g.stride[0],
      sh: g.stride[1],
      sw: g.stride[2],
      hasBias: bias ? 1 : 0,
      hasRes: residual ? 1 : 0,
      mStart: c.mStart,
      mCount: c.mCount,
      xBase: xb.base,
      yBase: yb.base,
      scale: spec.scale ?? 1,
    };
    const [gx, gy] = grid2d(Math.ceil(c.mCount / rowsPerWg));
    gpu.dispatch({
      key,
      code: () => convKernelSource(ks),
      bindings,
      params: params.pack(values),
      workgroups: [gx, gy, Math.ceil(g.cout / colsPerWg)],
    });
  }
  return y;
}

/** flops = 2·N·outSpatial·Cout·Cin·taps; bytes = input + weight + output (+ residual) once each. */
export function convCost(
  n: number,
  outSpatial: number,
  inSpatial: number,
  cin: number,
  cout: number,
  taps: number,
  dtype: DType,
  residual = false,
): Cost {
  const b = dtype === 'f32' ? 4 : 2;
  return {
    flops: 2 * n * outSpatial * cout * cin * taps,
    bytes: b * (n * inSpatial * cin + taps * cin * cout + n * outSpatial * cout * (residual ? 2 : 1)),
  };
}
