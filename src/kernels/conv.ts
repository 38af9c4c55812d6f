/**
 * 2D and 3D convolution as implicit GEMM over channels-last activations: output pixels are GEMM rows,
 * output channels are columns, and K = taps × Cin is walked tap by tap without ever building im2col.
 * `out = (conv(x) + bias + residual) * scale` (the diffusers ResnetBlock epilogue with 1/output_scale_factor).
 *
 * Usage: `const w = prepareConvWeight(gpu, hostWeight, [Cout, Cin, kh, kw])` once per layer at load, then
 * `conv(gpu, x, w, { bias, residual }, { stride, padding, scale })` per forward.
 *
 * Weights are re-laid once by `prepareConvWeight` from PyTorch's [Cout, Cin, (kd,) kh, kw] to
 * [taps][cinPad][coutPad] (Cin zero-padded to a multiple of 8, Cout to a multiple of 4), so every k-step
 * reads a contiguous row of output channels as vec4s. When Cin % 8 == 0 and Cout % 4 == 0 (every real layer
 * but the first and last) a 1×1 weight is exactly the [Cin, Cout] matrix of `x · W`.
 *
 * Three kernels, each compiled once per dtype (kernel size, stride, padding, bias and residual are uniforms):
 * - subgroup (8-lane subgroups, as lavapipe has): one subgroup owns `rows` output pixels × 32·`cols` channels,
 *   each lane `cols` vec4s of channels for every pixel (two block sizes, chosen by the conv's size). Per
 *   chunk of 8 input channels each lane loads one channel of every pixel and the others get it by
 *   `subgroupBroadcast`; the 8 products per pixel and vec4 are summed as SSA values and added to the
 *   accumulator once per chunk. On lavapipe a loop-carried `acc +=` costs a mask
 *   blend and every storage load is a per-lane scalar load with a branch (../shared/notes/lavapipe.md),
 *   so the kernel keeps both to one per chunk and pixel.
 * - portable (any adapter): 64 invocations, each 4 pixels × 4 channels, loading its own inputs.
 * - tiled (hardware adapters, the default there): the shared-memory GEMM of matmul's tiled path. 256
 *   invocations stage 16 input channels of 64 pixels (one tap) and the matching 16 × 64 weights in
 *   workgroup memory, coalesced along channels, and each accumulates 4 pixels × one vec4 of channels.
 * Inputs/outputs larger than the binding limit are split into runs of output lines bound at offsets.
 */
import { type DType, bytesPerElement, fromF16Array } from '../runtime/dtype.js';
import { LimitError, MedgpuError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';
import { slice } from './layout.js';
import { pad as padTensor } from './resample.js';

/** Cin is padded to this: the subgroup kernel's k-chunk (one input channel per lane). */
const CIN_ALIGN = 8;
/** Cout is padded to this: one vec4 of output channels. */
const COUT_ALIGN = 4;
/** Output channels per workgroup (8 lanes or 8 invocations × vec4). */
const COLS_PER_WG = 32;

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
 * Re-lays a PyTorch conv weight ([Cout, Cin, kh, kw] or [Cout, Cin, kd, kh, kw], row-major) into the
 * kernels' layout and uploads it. `host` is f32 values or raw f16 bits (Uint16Array, e.g. straight from an
 * F16 safetensors file). Done once at load; the host copy can be dropped afterwards.
 */
export function prepareConvWeight(
  gpu: Gpu,
  host: Float32Array | Uint16Array,
  torchShape: readonly number[],
  dtype: DType = 'f32',
  label = 'conv weight',
): ConvWeight {
  if (torchShape.length !== 4 && torchShape.length !== 5) {
    throw new ShapeError(`${label}: conv weight shape ${shapeString(torchShape)} must be [Cout, Cin, kh, kw] or [Cout, Cin, kd, kh, kw]`);
  }
  const [cout, cin, ...kernel] = torchShape as [number, number, ...number[]];
  if (![cout, cin, ...kernel].every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`${label}: conv weight shape ${shapeString(torchShape)} has a zero or invalid extent`);
  }
  const taps = kernel.reduce((a, b) => a * b, 1);
  const n = cout * cin * taps;
  if (host.length !== n) {
    throw new ShapeError(`${label}: ${host.length} values for conv weight shape ${shapeString(torchShape)} (${n})`);
  }
  const cinPad = roundUp(cin, CIN_ALIGN);
  const coutPad = roundUp(cout, COUT_ALIGN);
  // f16 bits can be moved as they are when the upload is f16; otherwise decode them first.
  const src = host instanceof Uint16Array && dtype === 'f32' ? fromF16Array(host) : host;
  const out = src instanceof Uint16Array ? new Uint16Array(taps * cinPad * coutPad) : new Float32Array(taps * cinPad * coutPad);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      const from = (o * cin + i) * taps;
      for (let t = 0; t < taps; t++) out[(t * cinPad + i) * coutPad + o] = src[from + t] as number;
    }
  }
  const tensor = gpu.upload(out, [taps, cinPad, coutPad], dtype, label);
  return { tensor, cout, cin, kernel, cinPad, coutPad };
}

export interface ConvSpec {
  /** Stride per spatial axis (a number applies to all). Default 1. */
  stride?: number | readonly number[];
  /**
   * Zero padding per spatial axis: a number (symmetric, all axes) or [before, after] per axis, e.g.
   * [[0, 1], [0, 1]] for the SD VAE downsampler (fused: no separate pad pass). Default 0.
   */
  padding?: number | readonly (readonly [number, number])[];
  /** Multiplies the result after bias and residual (1/output_scale_factor). Default 1. */
  scale?: number;
  /** Kernel choice; 'auto' uses the subgroup kernel where the adapter runs 8-lane subgroups. */
  impl?: 'auto' | ConvPath;
  /** Output pixels per subgroup in the subgroup kernel (tuning; each value is its own pipeline). Default: by size. */
  rows?: number;
  /** vec4s of output channels per lane in the subgroup kernel (tuning). Default: by size, see BIG_BLOCK. */
  cols?: number;
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

export interface ConvInputs {
  /** [Cout], added to every pixel. */
  bias?: Tensor;
  /** Added before scaling; same shape and dtype as the output. */
  residual?: Tensor;
}

const params = defineParams({
  cin: 'u32',
  cinPad: 'u32',
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
  yBase4: 'u32',
  scale: 'f32',
});
type ParamName = (typeof params.names)[number];

/** What is compiled in; everything else is a uniform, so there is one pipeline per dtype and kernel. */
interface KernelSpec {
  impl: ConvPath;
  dtype: DType;
  /** Output pixels per subgroup (subgroup kernel). */
  rows: number;
  /** vec4s of output channels per lane (subgroup kernel): a workgroup covers 32·cols channels. */
  cols: number;
}

export type ConvPath = 'subgroup' | 'portable' | 'tiled';

const SG = 8;
/**
 * Subgroup-kernel blocking (pixels × vec4s of channels per lane). A larger block loads each input and weight
 * value for more products, and on lavapipe the loads are the cost: at 2×64²×320→320, 64×2 ran 1.3× and
 * 128×2 1.5× faster than 16×1. But LLVM compiles the unrolled kernel in superlinear time (cold, load ~2:
 * 16×1 2.8 s, 32×2 ~20 s, 64×2 66 s, 96×2 148 s, 128×2 296 s; Mesa caches the result on disk), so small
 * convs (the bundled and fixture models, the first and last layers) keep the small block and only convs of
 * at least BIG_CONV_FLOPS take the big one, whose one-time compile their run time repays.
 */
const SMALL_BLOCK = { rows: 16, cols: 1 } as const;
const BIG_BLOCK = { rows: 64, cols: 2 } as const;
const BIG_CONV_FLOPS = 2 ** 27;
/** Tiled kernel: output pixels and vec4 column groups per workgroup. */
const TILE_PIXELS = 64;
const TILE_COL4 = 16;

function kernelKey(s: KernelSpec): string {
  return `conv:${s.impl}:${s.dtype}${s.impl === 'subgroup' ? `:r${s.rows}:c${s.cols}` : ''}`;
}

/**
 * Bindings: x (scalars), w, bias, res and y (vec4 of channels). bias and res are always bound (to the
 * weight when absent) and gated by p.hasBias / p.hasRes. Output pixel g, vec4 column c4 is
 * y[g·coutPad4 + c4 - yBase4]; the launcher guarantees Cout % 4 == 0 here.
 */
function header(s: KernelSpec, subgroups: boolean): string {
  const T = s.dtype;
  let code = enables(T) + (subgroups ? 'enable subgroups;\n' : '');
  code += storage(0, 'x', T, 'read');
  code += storage(1, 'w', `vec4<${T}>`, 'read');
  code += storage(2, 'bias', `vec4<${T}>`, 'read');
  code += storage(3, 'res', `vec4<${T}>`, 'read');
  code += storage(4, 'y', `vec4<${T}>`, 'read_write');
  code += params.declare(5);
  code += `
// The epilogue for one output pixel (chunk-relative m) and one vec4 of channels.
fn store4(m: u32, c4: u32, acc: vec4f, b: vec4f) {
  if (m < p.mCount && c4 < p.coutPad4) {
    let o = (p.mStart + m) * p.coutPad4 + c4 - p.yBase4;
    var v = acc + b;
    if (p.hasRes != 0u) { v += vec4f(res[o]); }
    y[o] = vec4<${T}>(v * p.scale);
  }
}
`;
  return code;
}

/** Sum of `terms` as a balanced tree (short dependency chains, and a little more accurate). */
function treeSum(terms: string[]): string {
  if (terms.length === 1) return terms[0] as string;
  const half = Math.ceil(terms.length / 2);
  return `(${treeSum(terms.slice(0, half))} + ${treeSum(terms.slice(half))})`;
}

function subgroupKernel(s: KernelSpec): string {
  const R = s.rows;
  const V = s.cols;
  const rows = [...Array(R).keys()];
  const vecs = [...Array(V).keys()];
  const steps = [...Array(SG).keys()];
  const lines: string[] = [header(s, true)];
  const L = (line: string) => lines.push(line);
  L(`@compute @workgroup_size(${SG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = ${linearWorkgroup} * ${R}u;`);
  // Lane `lane` owns the vec4s of channels col4_v = wid.z·SG·V + v·SG + lane. Lanes past the last vec4 load a
  // valid one; their results are not stored.
  for (const v of vecs) {
    L(`  let col4_${v} = wid.z * ${SG * V}u + ${v * SG}u + lane; let wc${v} = min(col4_${v}, p.coutPad4 - 1u);`);
  }
  L(`  // Decode the first pixel once, then step through the others without divisions (lavapipe runs integer
  // division one lane at a time). Pixels past the chunk repeat its last pixel and are not stored.
  let g0 = p.mStart + min(m0, p.mCount - 1u);
  var ox = g0 % p.outW;
  var oy = (g0 / p.outW) % p.outH;
  let r2 = g0 / (p.outW * p.outH);
  var oz = r2 % p.outD;
  var on = r2 / p.outD;`);
  for (const r of rows) {
    if (r > 0) {
      L(`  {
    let step = m0 + ${r}u < p.mCount;
    ox = select(ox, ox + 1u, step);
    let wx = ox == p.outW; ox = select(ox, 0u, wx); oy = select(oy, oy + 1u, wx);
    let wy = oy == p.outH; oy = select(oy, 0u, wy); oz = select(oz, oz + 1u, wy);
    let wz = oz == p.outD; oz = select(oz, 0u, wz); on = select(on, on + 1u, wz);
  }`);
    }
    L(
      `  let n${r} = i32(on) * p.inD; let z${r} = i32(oz) * p.sd - p.padD; let y${r} = i32(oy) * p.sh - p.padH; let x${r} = i32(ox) * p.sw - p.padW;`,
    );
  }
  L(`  ${rows.flatMap((r) => vecs.map((v) => `var acc${r}_${v} = vec4f(0.0);`)).join(' ')}
  let cinI = i32(p.cin);
  let xBase = i32(p.xBase);
  for (var tz = 0; tz < p.kd; tz++) {
   for (var ty = 0; ty < p.kh; ty++) {
    for (var tx = 0; tx < p.kw; tx++) {`);
  // Element offset of channel 0 of each pixel's input at this tap, or -1 in the zero padding.
  for (const r of rows) {
    L(
      `     let b${r} = select(-1, (((n${r} + z${r} + tz) * p.inH + y${r} + ty) * p.inW + x${r} + tx) * cinI - xBase, u32(z${r} + tz) < u32(p.inD) && u32(y${r} + ty) < u32(p.inH) && u32(x${r} + tx) < u32(p.inW));`,
    );
  }
  L(`     var wrow = u32((tz * p.kh + ty) * p.kw + tx) * p.cinPad * p.coutPad4;
     for (var c0 = 0u; c0 < p.cin; c0 += ${SG}u) {
      let ci = c0 + lane;
      let inC = ci < p.cin;`);
  for (const r of rows) L(`      let a${r} = select(0.0, f32(x[u32(max(b${r}, 0)) + ci]), inC && b${r} >= 0);`);
  for (const k of steps) for (const v of vecs) L(`      let w${k}_${v} = vec4f(w[wrow + ${k}u * p.coutPad4 + wc${v}]);`);
  // Each broadcast value feeds every vec4 of the lane; the 8 products per accumulator are summed as SSA values
  // and added once per chunk (a loop-carried `acc +=` costs a mask blend on lavapipe).
  for (const r of rows) {
    L(`      { ${steps.map((k) => `let s${k} = subgroupBroadcast(a${r}, ${k}u);`).join(' ')}`);
    for (const v of vecs) L(`        acc${r}_${v} += ${treeSum(steps.map((k) => `s${k} * w${k}_${v}`))};`);
    L('      }');
  }
  L(`      wrow += ${SG}u * p.coutPad4;
     }
    }
   }
  }`);
  for (const v of vecs) L(`  let bv${v} = select(vec4f(0.0), vec4f(bias[wc${v}]), p.hasBias != 0u);`);
  for (const r of rows) for (const v of vecs) L(`  store4(m0 + ${r}u, col4_${v}, acc${r}_${v}, bv${v});`);
  L('}\n');
  return lines.join('\n');
}

function portableKernel(s: KernelSpec): string {
  // 64 invocations: 8 vec4 column groups × 8 row groups of 4 pixels → 32 pixels × 32 channels.
  return `${header(s, false)}
struct Origin { n: i32, z: i32, y: i32, x: i32 };
fn origin(m: u32) -> Origin {
  let g = p.mStart + min(m, p.mCount - 1u);
  let ox = g % p.outW; let r1 = g / p.outW;
  let oy = r1 % p.outH; let r2 = r1 / p.outH;
  let oz = r2 % p.outD; let n = r2 / p.outD;
  return Origin(i32(n) * p.inD, i32(oz) * p.sd - p.padD, i32(oy) * p.sh - p.padH, i32(ox) * p.sw - p.padW);
}
fn tapBase(o: Origin, tz: i32, ty: i32, tx: i32) -> i32 {
  let z = o.z + tz; let yy = o.y + ty; let xx = o.x + tx;
  let inside = u32(z) < u32(p.inD) && u32(yy) < u32(p.inH) && u32(xx) < u32(p.inW);
  return select(-1, (((o.n + z) * p.inH + yy) * p.inW + xx) * i32(p.cin) - i32(p.xBase), inside);
}
fn xAt(b: i32, ci: u32) -> f32 { return select(0.0, f32(x[u32(max(b, 0)) + ci]), b >= 0); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m0 = ${linearWorkgroup} * 32u + (lid / 8u) * 4u;
  let col4 = wid.z * 8u + lid % 8u;
  if (m0 >= p.mCount || col4 >= p.coutPad4) { return; }
  let o0 = origin(m0); let o1 = origin(m0 + 1u); let o2 = origin(m0 + 2u); let o3 = origin(m0 + 3u);
  var acc0 = vec4f(0.0); var acc1 = vec4f(0.0); var acc2 = vec4f(0.0); var acc3 = vec4f(0.0);
  for (var tz = 0; tz < p.kd; tz++) {
   for (var ty = 0; ty < p.kh; ty++) {
    for (var tx = 0; tx < p.kw; tx++) {
     let b0 = tapBase(o0, tz, ty, tx); let b1 = tapBase(o1, tz, ty, tx);
     let b2 = tapBase(o2, tz, ty, tx); let b3 = tapBase(o3, tz, ty, tx);
     var wrow = u32((tz * p.kh + ty) * p.kw + tx) * p.cinPad * p.coutPad4 + col4;
     for (var ci = 0u; ci < p.cin; ci++) {
      let wv = vec4f(w[wrow]);
      acc0 += xAt(b0, ci) * wv; acc1 += xAt(b1, ci) * wv; acc2 += xAt(b2, ci) * wv; acc3 += xAt(b3, ci) * wv;
      wrow += p.coutPad4;
     }
    }
   }
  }
  let bv = select(vec4f(0.0), vec4f(bias[col4]), p.hasBias != 0u);
  store4(m0, col4, acc0, bv); store4(m0 + 1u, col4, acc1, bv); store4(m0 + 2u, col4, acc2, bv); store4(m0 + 3u, col4, acc3, bv);
}
`;
}

function tiledKernel(s: KernelSpec): string {
  // 16 × 16 invocations: tx picks a vec4 of channels, ty the pixels ty + 16·i of the tile. For loading,
  // invocation lid stages channel (lid % 16) of pixels (lid / 16) + 16·q, and weight row lid / 16.
  const q4 = [0, 1, 2, 3];
  return `${header(s, false)}
struct Origin { n: i32, z: i32, y: i32, x: i32 };
fn origin(m: u32) -> Origin {
  let g = p.mStart + min(m, p.mCount - 1u);
  let ox = g % p.outW; let r1 = g / p.outW;
  let oy = r1 % p.outH; let r2 = r1 / p.outH;
  let oz = r2 % p.outD; let n = r2 / p.outD;
  return Origin(i32(n) * p.inD, i32(oz) * p.sd - p.padD, i32(oy) * p.sh - p.padH, i32(ox) * p.sw - p.padW);
}
fn tapBase(o: Origin, tz: i32, ty: i32, tx: i32) -> i32 {
  let z = o.z + tz; let yy = o.y + ty; let xx = o.x + tx;
  let inside = u32(z) < u32(p.inD) && u32(yy) < u32(p.inH) && u32(xx) < u32(p.inW);
  return select(-1, (((o.n + z) * p.inH + yy) * p.inW + xx) * i32(p.cin) - i32(p.xBase), inside);
}
var<workgroup> Xs: array<f32, ${16 * TILE_PIXELS}>;
var<workgroup> Ws: array<vec4f, ${16 * TILE_COL4}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m0 = ${linearWorkgroup} * ${TILE_PIXELS}u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let col4 = wid.z * ${TILE_COL4}u + tx;
  let wc = min(col4, p.coutPad4 - 1u);
  ${q4.map((q) => `let o${q} = origin(m0 + ty + ${16 * q}u);`).join(' ')}
  ${q4.map((q) => `var acc${q} = vec4f(0.0);`).join(' ')}
  for (var tz = 0; tz < p.kd; tz++) {
   for (var tyy = 0; tyy < p.kh; tyy++) {
    for (var txx = 0; txx < p.kw; txx++) {
     ${q4.map((q) => `let b${q} = tapBase(o${q}, tz, tyy, txx);`).join(' ')}
     let wtap = u32((tz * p.kh + tyy) * p.kw + txx) * p.cinPad * p.coutPad4;
     for (var c0 = 0u; c0 < p.cin; c0 += 16u) {
      let ci = c0 + tx;
      let inC = ci < p.cin;
${q4.map((q) => `      Xs[tx * ${TILE_PIXELS}u + ty + ${16 * q}u] = select(0.0, f32(x[u32(max(b${q}, 0)) + min(ci, p.cin - 1u)]), inC && b${q} >= 0);`).join('\n')}
      // Weight row c0 + ty of this tap (rows past Cin are zero-padded or the next tap's: masked).
      Ws[ty * ${TILE_COL4}u + tx] = select(vec4f(0.0), vec4f(w[wtap + min(c0 + ty, p.cinPad - 1u) * p.coutPad4 + min(wid.z * ${TILE_COL4}u + tx, p.coutPad4 - 1u)]), c0 + ty < p.cin);
      workgroupBarrier();
      for (var k = 0u; k < 16u; k++) {
       let wv = Ws[k * ${TILE_COL4}u + tx];
${q4.map((q) => `       acc${q} += Xs[k * ${TILE_PIXELS}u + ty + ${16 * q}u] * wv;`).join('\n')}
      }
      workgroupBarrier();
     }
    }
   }
  }
  let bv = select(vec4f(0.0), vec4f(bias[wc]), p.hasBias != 0u);
${q4.map((q) => `  store4(m0 + ty + ${16 * q}u, col4, acc${q}, bv);`).join('\n')}
}
`;
}

/** The WGSL of one kernel variant (exported for compile-time measurements). */
export function convKernelSource(s: KernelSpec): string {
  return s.impl === 'subgroup' ? subgroupKernel(s) : s.impl === 'tiled' ? tiledKernel(s) : portableKernel(s);
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
  const dims = `conv${rank}d`;
  if (xShape.length !== rank + 2) {
    throw new ShapeError(
      `${dims}: input ${shapeString(xShape)} must be channels-last ${rank === 2 ? '[N, H, W, Cin]' : '[N, D, H, W, Cin]'} for a ${rank}D kernel`,
    );
  }
  if (xShape[rank + 1] !== cin)
    throw new ShapeError(`${dims}: input ${shapeString(xShape)} has ${xShape[rank + 1]} channels, the weight expects ${cin}`);
  const stride = perAxis(spec.stride, rank, 'stride', 1);
  const pad: [number, number][] =
    spec.padding === undefined || typeof spec.padding === 'number'
      ? Array.from({ length: rank }, () => [spec.padding ?? 0, spec.padding ?? 0] as [number, number])
      : spec.padding.map((pp) => [pp[0], pp[1]] as [number, number]);
  if (pad.length !== rank) throw new ShapeError(`${dims}: padding must give [before, after] for each of ${rank} axes`);
  if (stride.some((s) => !Number.isInteger(s) || s < 1) || pad.flat().some((q) => !Number.isInteger(q) || q < 0)) {
    throw new MedgpuError(
      'BAD_ARGUMENT',
      `${dims}: stride ${JSON.stringify(stride)} must be positive integers and padding ${JSON.stringify(pad)} non-negative integers`,
    );
  }
  const sp = xShape.slice(1, rank + 1);
  const out = sp.map((d, i) => Math.floor((d + pad[i]![0] + pad[i]![1] - kernel[i]!) / stride[i]!) + 1);
  if (out.some((o) => o < 1) || xShape[0] === 0) {
    throw new ShapeError(
      `${dims}: input ${shapeString(xShape)} with kernel ${shapeString(kernel)}, stride ${stride}, padding ${JSON.stringify(pad)} gives no output`,
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

/** One launch: a run of whole output lines (n, od, oy) and the element ranges it reads and writes. */
export interface ConvChunk {
  mStart: number;
  mCount: number;
  /** Element ranges [lo, hi) of the input and the output the chunk touches. */
  xLo: number;
  xHi: number;
  yLo: number;
  yHi: number;
}

/**
 * Splits the output into runs of whole lines so that the input rows each run reads and the output it
 * writes both stay within `limitBytes` (lines are consecutive, so the input ranges are too).
 */
export function planChunks(g: ConvGeometry, coutStored: number, bytesPer: number, limitBytes: number): ConvChunk[] {
  const [D, H, W] = g.inSp;
  const [oD, oH, oW] = g.outSp;
  const lines = g.n * oD * oH;
  const lineSpan = (l: number): [number, number] => {
    const oy = l % oH;
    const oz = Math.floor(l / oH) % oD;
    const n = Math.floor(l / (oH * oD));
    const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi - 1);
    const z0 = clamp(oz * g.stride[0] - g.pad[0][0], D);
    const z1 = clamp(oz * g.stride[0] - g.pad[0][0] + g.k[0] - 1, D);
    const y0 = clamp(oy * g.stride[1] - g.pad[1][0], H);
    const y1 = clamp(oy * g.stride[1] - g.pad[1][0] + g.k[1] - 1, H);
    return [((n * D + z0) * H + y0) * W * g.cin, ((n * D + z1) * H + y1 + 1) * W * g.cin];
  };
  const maxEl = Math.floor(limitBytes / bytesPer);
  const lineOut = oW * coutStored;
  let widest = 0;
  for (let l = 0; l < Math.min(lines, oD * oH); l++) widest = Math.max(widest, lineSpan(l)[1] - lineSpan(l)[0]);
  if (lineOut > maxEl || widest > maxEl) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `conv: one output line (${oW} pixels × ${coutStored} channels) or the input rows it reads (${widest * bytesPer} bytes) exceed the binding limit of ${limitBytes} bytes; tile the image spatially`,
    );
  }
  const chunks: ConvChunk[] = [];
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

/**
 * Which kernel a launch uses: tiled on hardware adapters; on software ones subgroup where the adapter runs
 * exactly 8-lane subgroups, else portable.
 */
export function convPath(gpu: Gpu, spec: ConvSpec = {}): ConvPath {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.info;
  const ok = gpu.hasSubgroups && lo === SG && hi === SG;
  if (spec.impl === 'subgroup' && !ok) {
    throw new MedgpuError(
      'MISSING_FEATURE',
      `conv: impl 'subgroup' needs the 'subgroups' feature with 8-lane subgroups (this adapter: ${lo ?? '?'}–${hi ?? '?'}); use impl 'auto' or 'portable'`,
    );
  }
  if (spec.impl === 'portable' || spec.impl === 'tiled') return spec.impl;
  if (spec.impl !== 'subgroup' && !gpu.info.isFallbackAdapter) return 'tiled';
  return ok ? 'subgroup' : 'portable';
}

/**
 * The subgroup kernel's default block for a conv: the big one from BIG_CONV_FLOPS on, when Cout fills its
 * 64-channel column (a 3- or 4-channel output layer would compute 16× what it keeps) and there are at least
 * two blocks of pixels (the UNet's 4² maps at 256² have 32).
 */
export function subgroupBlock(g: ConvGeometry): { rows: number; cols: number } {
  const pixels = g.n * g.outSp[0] * g.outSp[1] * g.outSp[2];
  const flops = 2 * pixels * g.cout * g.cin * g.k[0] * g.k[1] * g.k[2];
  const fills = g.cout >= 32 * BIG_BLOCK.cols && pixels >= 2 * BIG_BLOCK.rows;
  return flops >= BIG_CONV_FLOPS && fills ? BIG_BLOCK : SMALL_BLOCK;
}

/** Binds elements [lo, hi) of a tensor: the offset is aligned down; `base` is the element it starts at. */
function rangeBinding(t: Tensor, lo: number, hi: number, align: number): { binding: BufferBinding; base: number } {
  const es = bytesPerElement(t.dtype);
  const off = Math.floor((lo * es) / align) * align;
  const end = Math.min(t.buffer.size, Math.ceil((hi * es) / 16) * 16);
  return { binding: { buffer: t.buffer, offset: off, size: end - off }, base: off / es };
}

/**
 * `(conv(x, w) + bias + residual) * scale` on channels-last `x` ([N,H,W,Cin] for a 2D weight, [N,D,H,W,Cin]
 * for 3D). Returns [N, (oD,) oH, oW, Cout] in x's dtype; accumulation is f32.
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
  if (w.coutPad === g.cout) return convStored(gpu, x, w, g, bias, residual, spec);
  // Cout % 4 != 0 (an RGB or single-channel output layer): run on channels padded to a vec4 and crop.
  return gpu.scope(() => {
    const extra = w.coutPad - g.cout;
    const lastAxis = (t: Tensor) => [...t.shape.slice(0, -1).map(() => [0, 0] as [number, number]), [0, extra] as [number, number]];
    const b = bias ? padTensor(gpu, bias.reshape([g.cout]), [[0, extra]]) : undefined;
    const r = residual ? padTensor(gpu, residual, lastAxis(residual)) : undefined;
    const wide = convStored(gpu, x, w, { ...g, outShape: [...g.outShape.slice(0, -1), w.coutPad] }, b, r, spec);
    return slice(gpu, wide, -1, 0, g.cout);
  });
}

/** The launches of a conv whose output has w.coutPad channels (a multiple of 4). */
function convStored(
  gpu: Gpu,
  x: Tensor,
  w: ConvWeight,
  g: ConvGeometry,
  bias: Tensor | undefined,
  residual: Tensor | undefined,
  spec: ConvSpec,
): Tensor {
  const dtype = x.dtype;
  const impl = convPath(gpu, spec);
  const block = subgroupBlock(g);
  const ks: KernelSpec = { impl, dtype, rows: spec.rows ?? block.rows, cols: spec.cols ?? block.cols };
  const y = gpu.empty(g.outShape, dtype, 'conv out');
  const bytesPer = bytesPerElement(dtype);
  const deviceLimit = Number(gpu.limits.maxStorageBufferBindingSize);
  const limit = Math.min(spec.maxBindingBytes ?? deviceLimit, deviceLimit);
  const align = Number(gpu.limits.minStorageBufferOffsetAlignment);
  if (w.tensor.byteLength > deviceLimit) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `conv: weight ${shapeString(w.tensor.shape)} ${dtype} (${w.tensor.byteLength} bytes) exceeds this adapter's maxStorageBufferBindingSize ${deviceLimit}; split Cout into several convs`,
    );
  }
  // An aligned-down offset and the 16-byte rounding of a range's end add up to `align + 16` bytes.
  const chunks = planChunks(g, w.coutPad, bytesPer, limit - align - 16);
  const key = kernelKey(ks);
  const rowsPerWg = impl === 'subgroup' ? ks.rows : impl === 'tiled' ? TILE_PIXELS : 32;
  const colGroups = Math.ceil(w.coutPad / (impl === 'tiled' ? 4 * TILE_COL4 : impl === 'subgroup' ? COLS_PER_WG * ks.cols : COLS_PER_WG));
  // Whole tensors are bound when one launch does it all and each fits (rows a strided conv never reads can
  // leave a tensor larger than the span the planner checked).
  const fits = (t: Tensor | undefined) => !t || t.byteLength <= limit - 16;
  const whole = chunks.length === 1 && fits(x) && fits(y) && fits(residual);
  for (const c of chunks) {
    const xb = whole ? { binding: x, base: 0 } : rangeBinding(x, c.xLo, c.xHi, align);
    const yb = whole ? { binding: y, base: 0 } : rangeBinding(y, c.yLo, c.yHi, align);
    const res = residual ? (whole ? residual : rangeBinding(residual, c.yLo, c.yHi, align).binding) : w.tensor;
    const values: Record<ParamName, number> = {
      cin: g.cin,
      cinPad: w.cinPad,
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
      yBase4: yb.base / 4,
      scale: spec.scale ?? 1,
    };
    const [gx, gy] = grid2d(Math.ceil(c.mCount / rowsPerWg));
    gpu.dispatch({
      key,
      code: () => convKernelSource(ks),
      bindings: [xb.binding, w.tensor, bias ?? w.tensor, res, yb.binding],
      params: params.pack(values),
      workgroups: [gx, gy, colGroups],
      cost: convCost(1, c.mCount, (c.xHi - c.xLo) / g.cin, g.cin, g.cout, g.k[0] * g.k[1] * g.k[2], dtype, !!residual),
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
  const b = bytesPerElement(dtype);
  return {
    flops: 2 * n * outSpatial * cout * cin * taps,
    bytes: b * (n * inSpatial * cin + taps * cin * cout + n * outSpatial * cout * (residual ? 2 : 1)),
  };
}
