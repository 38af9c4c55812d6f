/**
 * Normalisation kernels, computed in f32 whatever the storage dtype.
 *
 * Group norm over channels-last maps x [N, ...spatial, C] (2D and 3D alike: the spatial axes are one axis of
 * P positions). A group of an SD VAE map at 512² holds 512·512·4 values, so the statistics are reduced in
 * parallel across workgroups, in three launches:
 * 1. stats: the positions of each sample are cut into chunks; one workgroup per chunk, its lanes own
 *    channels (lane-per-channel, so a row of C channels is read by adjacent lanes). Each lane sums its
 *    channel's values shifted by the channel's first value in the chunk (a shifted two-moment sum: no
 *    cancellation as long as the shift is a sample of the data) and writes a partial (mean, M2).
 * 2. combine: one workgroup per (sample, group) merges the group's partials with Chan's parallel formula,
 *    lane-wise then as a tree in workgroup memory, and writes per-channel coefficients
 *    (mean, rstd·gamma, beta).
 * 3. apply: same grid as stats; y = act((x - mean)·(rstd·gamma) + beta), each lane keeping its channel's
 *    coefficients in registers. `inPlace` writes y over x (one read_write binding: WebGPU forbids binding a
 *    buffer as read and read_write storage in one dispatch), so a caller that no longer needs x saves a map.
 * Chunks are bound as ranges, so maps larger than `maxStorageBufferBindingSize` are split into launches.
 *
 * Layer norm over the last axis (CLIP, the UNet transformer blocks): one invocation per row, shifted
 * one-pass statistics (with an exact second pass when the shift was far from the mean), then the affine; no cross-lane reductions (on lavapipe every load is a per-lane
 * scalar load whichever lane layout is used, so rows per lane cost the same and need no barriers).
 */
import type { DType } from '../runtime/dtype.js';
import { LimitError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, grid2d, linearWorkgroup, storage } from '../runtime/wgsl.js';
import { bindElements, bindingBudget } from './bind-range.js';
import type { Cost } from './cost.js';

const WG = 64;
/** Elements one stats/apply workgroup aims to cover (enough work per launch unit, few partials). */
const CHUNK_ELEMS = 16384;
/** Fewest stats/apply workgroups a sample is cut into (when it has the rows): both cores busy. */
const MIN_WORKGROUPS = 32;

export interface GroupNormSpec {
  groups: number;
  /** Added to the variance. Default 1e-5 (PyTorch); the VAEs use 1e-6. */
  eps?: number;
  /** Apply SiLU to the result (diffusers' norm → SiLU pairs). */
  silu?: boolean;
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
  /**
   * Write the result over x and return x itself (no output map is allocated): for callers that hand x over,
   * e.g. a resnet's own intermediate, or its input once the shortcut has been computed.
   */
  inPlace?: boolean;
}

export interface NormAffine {
  /** Scale per channel, [C]. */
  gamma?: Tensor;
  /** Shift per channel, [C]. */
  beta?: Tensor;
}

const statsParams = defineParams({
  /** Channels per row in vector units (C / V). */
  C: 'u32',
  /** Channels per row. */
  Cr: 'u32',
  P: 'u32',
  chunkRows: 'u32',
  chunks: 'u32',
  lanesPerRow: 'u32',
  R: 'u32',
  chunk0: 'u32',
  n0: 'u32',
  xOff: 'u32',
  yOff: 'u32',
  bindRow0: 'u32',
});

/**
 * Stats and apply read V adjacent channels per lane (V = 4 when C allows): lavapipe runs a vec4 load or
 * store much faster than four scalar ones (a plain copy went from 3.1 to 5.1 GB/s).
 */
interface VecConfig {
  dtype: DType;
  V: 1 | 4;
}
/** WGSL storage element type, f32 math type and conversion for a config. */
const vecTypes = ({ dtype, V }: VecConfig) =>
  V === 4 ? { T: `vec4<${dtype}>`, F: 'vec4f', zero: 'vec4f(0.0)' } : { T: dtype, F: 'f32', zero: '0.0' };

/** The shared lane layout of stats and apply: lane → (row slot r, vector channel ch0) and this chunk's rows. */
const LANE_LAYOUT = `  let r = lid / p.lanesPerRow;
  let ch0 = lid % p.lanesPerRow;
  let n = p.n0 + wid.y;
  let chunk = p.chunk0 + wid.x;
  let rowBegin = chunk * p.chunkRows;
  let rowEnd = min(p.P, rowBegin + p.chunkRows);
  // Vector index in the binding of (row, channel 0): rows are counted from the binding's first row.
  let base = p.xOff + (n * p.P + rowBegin - p.bindRow0) * p.C;`;

/** Rows per unrolled step of the stats and apply loops (independent loads and sums in flight). */
const UNROLL = 4;
const unrolled = (f: (u: number) => string) => Array.from({ length: UNROLL }, (_, u) => f(u)).join('\n');

/**
 * Shared by stats and apply: loops have uniform bounds (lavapipe runs a divergent loop under per-iteration
 * masks, and every guard is a per-lane branch). Lanes beyond the channels or the row slots work on clamped
 * copies (channel C-1, slot R-1): in the unguarded main loop they store the very value the owning lane
 * stores, so the duplicate writes are harmless; the tail loop guards its loads and stores.
 */
const LOOP_SETUP = `  let rows = rowEnd - rowBegin;
  let steps = (rows + p.R - 1u) / p.R;
  // Steps in which every row slot's row exists: their loads need no clamp.
  let full = rows / p.R;
  let blocks = (p.C + p.lanesPerRow - 1u) / p.lanesPerRow;
  let slot = min(r, p.R - 1u);`;

function statsKernel(c: VecConfig): string {
  const { T, F, zero } = vecTypes(c);
  const lanes = c.V === 4 ? [0, 1, 2, 3] : [-1];
  const store = lanes
    .map((e) => (e < 0 ? 'part[out + ch] = vec2f(k + mean, m2);' : `part[out + ch * 4u + ${e}u] = vec2f(k[${e}] + mean[${e}], m2[${e}]);`))
    .join(' ');
  return `${enables(c.dtype)}${storage(0, 'x', T, 'read')}${storage(1, 'part', 'vec2f', 'read_write')}${statsParams.declare(2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${LANE_LAYOUT}
${LOOP_SETUP}
  // This lane's rows are slot, slot + R, ...: how many of them there are in this chunk.
  let mine = select(0u, (rows - slot + p.R - 1u) / p.R, rows > slot);
  let cnt = max(f32(mine), 1.0);
  let out = ((n * p.chunks + chunk) * p.R + slot) * p.Cr;
  for (var cb = 0u; cb < blocks; cb++) {
    let ch = cb * p.lanesPerRow + ch0;
    let chc = min(ch, p.C - 1u);
    // Shift: the channel's first value in this chunk.
    let k = ${F}(x[base + min(slot, rows - 1u) * p.C + chc]);
${unrolled((u) => `    var s${u} = ${zero}; var q${u} = ${zero};`)}
    var t = 0u;
    for (; t + ${UNROLL}u <= full; t += ${UNROLL}u) {
${unrolled((u) => `      { let v = ${F}(x[base + ((t + ${u}u) * p.R + slot) * p.C + chc]) - k; s${u} += v; q${u} += v * v; }`)}
    }
    for (; t < steps; t++) {
      let row = t * p.R + slot;
      let v = select(${zero}, ${F}(x[base + min(row, rows - 1u) * p.C + chc]) - k, row < rows);
      s0 += v;
      q0 += v * v;
    }
    let sum = (s0 + s1) + (s2 + s3);
    let sq = (q0 + q1) + (q2 + q3);
    // (mean, M2) of this lane's values; a slot with no rows writes (k, 0) and counts 0 in combine.
    let mean = sum / cnt;
    let m2 = max(sq - sum * mean, ${zero});
    if (r < p.R && ch < p.C) { ${store} }
  }
}
`;
}

const combineParams = defineParams({
  C: 'u32',
  P: 'u32',
  G: 'u32',
  chunkRows: 'u32',
  chunks: 'u32',
  R: 'u32',
  affine: 'u32',
  eps: 'f32',
});

function combineKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'part', 'vec2f', 'read')}${storage(1, 'gamma', dtype, 'read')}${storage(2, 'beta', dtype, 'read')}${storage(3, 'coef', 'f32', 'read_write')}${combineParams.declare(4)}
var<workgroup> wn: array<f32, ${WG}>;
var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> w2: array<f32, ${WG}>;
struct Stat { n: f32, m: f32, m2: f32 }
// Chan et al.'s pairwise update: the moments of the union of two disjoint sets.
fn merge(a: Stat, b: Stat) -> Stat {
  let n = a.n + b.n;
  if (b.n == 0.0) { return a; }
  if (a.n == 0.0) { return b; }
  let d = b.m - a.m;
  let f = b.n / n;
  return Stat(n, a.m + d * f, a.m2 + b.m2 + d * d * a.n * f);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let n = wid.y;
  let cg = p.C / p.G;
  let total = p.chunks * p.R * cg;
  var acc = Stat(0.0, 0.0, 0.0);
  for (var e = lid; e < total; e += ${WG}u) {
    let c = e % cg;
    let rest = e / cg;
    let r = rest % p.R;
    let chunk = rest / p.R;
    let rows = min(p.chunkRows, p.P - chunk * p.chunkRows);
    let cnt = select(0u, (rows - r + p.R - 1u) / p.R, rows > r);
    let v = part[((n * p.chunks + chunk) * p.R + r) * p.C + g * cg + c];
    acc = merge(acc, Stat(f32(cnt), v.x, v.y));
  }
  wn[lid] = acc.n;
  wm[lid] = acc.m;
  w2[lid] = acc.m2;
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      let t = merge(Stat(wn[lid], wm[lid], w2[lid]), Stat(wn[lid + s], wm[lid + s], w2[lid + s]));
      wn[lid] = t.n;
      wm[lid] = t.m;
      w2[lid] = t.m2;
    }
  }
  workgroupBarrier();
  let mean = wm[0];
  let rstd = 1.0 / sqrt(w2[0] / wn[0] + p.eps);
  for (var c = lid; c < cg; c += ${WG}u) {
    let ch = g * cg + c;
    var ga = 1.0;
    var be = 0.0;
    if (p.affine != 0u) {
      ga = f32(gamma[ch]);
      be = f32(beta[ch]);
    }
    // Three planes per sample (mean, rstd·gamma, beta), so apply loads a lane's V channels of each at once.
    let o = n * 3u * p.C + ch;
    coef[o] = mean;
    coef[o + p.C] = rstd * ga;
    coef[o + 2u * p.C] = be;
  }
}
`;
}

/**
 * In place (`inPlace`), x is the one read_write binding and the stores go back to x. The main loop's clamped
 * duplicate lanes (see LOOP_SETUP) must then not store: a duplicate could load an element after its owner
 * has overwritten it and store it normalised twice. So in place every store is guarded by `live` (a lane's
 * elements are read and written by that lane alone; other lanes' loads of them are discarded).
 */
function applyKernel(c: VecConfig, silu: boolean, inPlace: boolean): string {
  const { T, F } = vecTypes(c);
  const act = (v: string) => (silu ? `${v} / (1.0 + exp(-${v}))` : v);
  const bind = inPlace
    ? `${storage(0, 'x', T, 'read_write')}${storage(1, 'coef', F, 'read')}${statsParams.declare(2)}`
    : `${storage(0, 'x', T, 'read')}${storage(1, 'coef', F, 'read')}${storage(2, 'y', T, 'read_write')}${statsParams.declare(3)}`;
  const out = inPlace ? 'x' : 'y';
  const store = (i: string, v: string) =>
    inPlace ? `if (live) { x[base + ${i}] = ${T}(${act(v)}); }` : `y[ybase + ${i}] = ${T}(${act(v)});`;
  return `${enables(c.dtype)}${bind}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${LANE_LAYOUT}
${LOOP_SETUP}
  let ybase = p.yOff + (n * p.P + rowBegin - p.bindRow0) * p.C;
  for (var cb = 0u; cb < blocks; cb++) {
    let ch = cb * p.lanesPerRow + ch0;
    let live = r < p.R && ch < p.C;
    let chc = min(ch, p.C - 1u);
    // This lane's channels in the (mean, rstd·gamma, beta) planes.
    let o = n * 3u * p.C + chc;
    let mean = coef[o];
    let mul = coef[o + p.C];
    let add = coef[o + 2u * p.C];
    var t = 0u;
    for (; t + ${UNROLL}u <= full; t += ${UNROLL}u) {
${unrolled((u) => `      let i${u} = ((t + ${u}u) * p.R + slot) * p.C + chc;\n      let v${u} = (${F}(x[base + i${u}]) - mean) * mul + add;`)}
${unrolled((u) => `      ${store(`i${u}`, `v${u}`)}`)}
    }
    for (; t < steps; t++) {
      let row = t * p.R + slot;
      let v = (${F}(x[base + min(row, rows - 1u) * p.C + chc]) - mean) * mul + add;
      if (live && row < rows) { ${out}[${inPlace ? 'base' : 'ybase'} + row * p.C + ch] = ${T}(${act('v')}); }
    }
  }
}
`;
}

function checkAffine(op: string, x: Tensor, C: number, affine: NormAffine): void {
  const { gamma, beta } = affine;
  if (!gamma !== !beta) throw new ShapeError(`${op}: give both gamma and beta, or neither`);
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
  ] as const) {
    if (t && (t.numel !== C || t.dtype !== x.dtype)) {
      throw new ShapeError(
        `${op}: ${name} ${shapeString(t.shape)} ${t.dtype} must hold ${C} ${x.dtype} values (one per channel of x ${shapeString(x.shape)})`,
      );
    }
  }
}

/**
 * The stats/apply work layout for C channels: lanes per row, row slots R, and rows per chunk (a multiple of
 * R, about CHUNK_ELEMS elements, and never more than fit in `maxRows` rows of one binding).
 */
function laneLayout(C: number, V: number, maxRows: number, sampleRows: number) {
  const lanesPerRow = Math.min(C / V, WG);
  const R = Math.floor(WG / lanesPerRow);
  // Small samples get smaller chunks so that at least MIN_WORKGROUPS share the work.
  const perWg = Math.min(CHUNK_ELEMS / C, sampleRows / MIN_WORKGROUPS);
  const want = Math.max(R, Math.ceil(perWg / R) * R);
  const chunkRows = Math.min(want, Math.max(1, Math.floor(maxRows / R)) * R);
  return { lanesPerRow, R, chunkRows };
}

/**
 * Group norm of a channels-last map x [N, ...spatial, C] (spatial may be empty, 2D or 3D); same shape and
 * dtype out (x itself with `inPlace`). Statistics are f32 with the biased variance, as PyTorch.
 */
export function groupNorm(gpu: Gpu, x: Tensor, affine: NormAffine, spec: GroupNormSpec): Tensor {
  if (x.rank < 2) throw new ShapeError(`groupNorm: x ${shapeString(x.shape)} must be [N, ...spatial, C]`);
  const N = x.dim(0);
  const C = x.dim(-1);
  const G = spec.groups;
  if (!Number.isInteger(G) || G < 1 || C % G !== 0) {
    throw new ShapeError(`groupNorm: ${G} groups do not divide the ${C} channels of x ${shapeString(x.shape)}`);
  }
  checkAffine('groupNorm', x, C, affine);
  const inPlace = !!spec.inPlace;
  const y = inPlace ? x : gpu.empty(x.shape, x.dtype, 'group norm out');
  if (y.numel === 0) return y;
  const P = x.numel / (N * C);
  const dtype = x.dtype;
  const es = dtype === 'f32' ? 4 : 2;
  const limit = bindingBudget(gpu, spec.maxBindingBytes);
  const vc: VecConfig = { dtype, V: C % 4 === 0 ? 4 : 1 };
  const Cv = C / vc.V;
  // Chunks depend on the sample size only, so a sample gives bitwise the same result in any batch.
  const { lanesPerRow, R, chunkRows } = laneLayout(C, vc.V, Math.floor(limit / (C * es)), P);
  if (chunkRows * C * es > limit) {
    throw new LimitError('LIMIT_EXCEEDED', `groupNorm: ${R} rows of ${C} ${dtype} channels exceed the binding limit ${limit}`);
  }
  const chunks = Math.ceil(P / chunkRows);
  const partBytes = N * chunks * R * C * 8;
  // Partials and coefficients are bound whole (they are ~8·R/chunkRows of x's size).
  if (partBytes > bindingBudget(gpu) || N * C * 12 > bindingBudget(gpu)) {
    throw new LimitError('LIMIT_EXCEEDED', `groupNorm: x ${shapeString(x.shape)} needs statistics over ${limit} bytes; split the batch`);
  }
  const maxDim = Number(gpu.limits.maxComputeWorkgroupsPerDimension);
  if (N > maxDim || G > maxDim)
    throw new LimitError('LIMIT_EXCEEDED', `groupNorm: ${N} samples × ${G} groups exceed ${maxDim} workgroups per dimension`);

  return gpu.scope(() => {
    const part = gpu.empty([N * chunks * R * C * 2], 'f32', 'group norm partials');
    const coef = gpu.empty([N * C * 3], 'f32', 'group norm coefficients');
    // Launch units: (samples n0.., chunks chunk0..). Whole samples per launch while x fits a binding; else
    // ranges of chunks of one sample.
    const rowElems = C;
    const units: { n0: number; nn: number; chunk0: number; nc: number }[] = [];
    const sampleElems = P * C;
    if (sampleElems * es <= limit && chunks <= maxDim) {
      const per = Math.max(1, Math.min(maxDim, Math.floor(limit / (sampleElems * es))));
      for (let n0 = 0; n0 < N; n0 += per) units.push({ n0, nn: Math.min(per, N - n0), chunk0: 0, nc: chunks });
    } else {
      const perChunks = Math.max(1, Math.min(maxDim, Math.floor(limit / (chunkRows * rowElems * es))));
      for (let n0 = 0; n0 < N; n0++)
        for (let c0 = 0; c0 < chunks; c0 += perChunks) units.push({ n0, nn: 1, chunk0: c0, nc: Math.min(perChunks, chunks - c0) });
    }
    const unitRange = (u: (typeof units)[number]) => {
      const row0 = u.n0 * P + u.chunk0 * chunkRows;
      const row1 = (u.n0 + u.nn - 1) * P + Math.min(P, (u.chunk0 + u.nc) * chunkRows);
      return { row0, rows: row1 - row0 };
    };
    // Offsets are in vector units: a range starts on a row, so its aligned-down offset is whole vectors.
    const values = (u: (typeof units)[number], xOff: number, yOff: number, row0: number) =>
      statsParams.pack({
        C: Cv,
        Cr: C,
        P,
        chunkRows,
        chunks,
        lanesPerRow,
        R,
        chunk0: u.chunk0,
        n0: u.n0,
        xOff: xOff / vc.V,
        yOff: yOff / vc.V,
        bindRow0: row0,
      });
    for (const u of units) {
      const { row0, rows } = unitRange(u);
      const xr = bindElements(gpu, x, row0 * C, rows * C);
      // The kernel indexes with absolute (n, chunk): n0/chunk0 shift wid into place, bindRow0 shifts rows.
      gpu.dispatch({
        key: `groupnorm.stats:${dtype}:${vc.V}`,
        code: () => statsKernel(vc),
        bindings: [xr.binding, part],
        params: values(u, xr.elemOff, 0, row0),
        workgroups: [u.nc, u.nn, 1],
        cost: { flops: 3 * rows * C, bytes: es * rows * C },
      });
    }
    gpu.dispatch({
      key: `groupnorm.combine:${dtype}`,
      code: () => combineKernel(dtype),
      bindings: [part, affine.gamma ?? part, affine.beta ?? part, coef],
      params: combineParams.pack({ C, P, G, chunkRows, chunks, R, affine: affine.gamma ? 1 : 0, eps: spec.eps ?? 1e-5 }),
      workgroups: [G, N, 1],
    });
    for (const u of units) {
      const { row0, rows } = unitRange(u);
      const xr = bindElements(gpu, x, row0 * C, rows * C);
      // In place, the stores go to x's own range (the apply of one unit touches only its own rows).
      const yr = inPlace ? xr : bindElements(gpu, y, row0 * C, rows * C);
      gpu.dispatch({
        key: `groupnorm.apply:${dtype}:${vc.V}:${!!spec.silu}:${inPlace ? 'inplace' : 'out'}`,
        code: () => applyKernel(vc, !!spec.silu, inPlace),
        bindings: inPlace ? [xr.binding, coef] : [xr.binding, coef, yr.binding],
        params: values(u, xr.elemOff, yr.elemOff, row0),
        workgroups: [u.nc, u.nn, 1],
        cost: { flops: (spec.silu ? 8 : 3) * rows * C, bytes: 2 * es * rows * C },
      });
    }
    return y;
  });
}

/** bytes: x read and y written once (the ideal; the kernels read x twice). flops: ~8 per element. */
export function groupNormCost(numel: number, dtype: DType): Cost {
  const es = dtype === 'f32' ? 4 : 2;
  return { flops: 8 * numel, bytes: 2 * es * numel };
}

export interface LayerNormSpec {
  /** Added to the variance. Default 1e-5 (PyTorch, CLIP and the UNet transformer blocks). */
  eps?: number;
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
  /**
   * 'row': one invocation per row (software adapters: a CPU core walks a row as a vector loop);
   * 'workgroup': one workgroup per row, reading it coalesced and reducing in workgroup memory (hardware
   * adapters, where a thread per row leaves most of the GPU idle and reads memory strided). Default: by adapter.
   */
  impl?: 'auto' | LayerNormPath;
}

export type LayerNormPath = 'row' | 'workgroup';

export function layerNormPath(gpu: Gpu, spec: LayerNormSpec = {}): LayerNormPath {
  if (spec.impl === 'row' || spec.impl === 'workgroup') return spec.impl;
  return gpu.info.isFallbackAdapter ? 'row' : 'workgroup';
}

const lnParams = defineParams({ rows: 'u32', D: 'u32', affine: 'u32', eps: 'f32', xOff: 'u32', yOff: 'u32' });

function layerNormKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'gamma', dtype, 'read')}${storage(2, 'beta', dtype, 'read')}${storage(3, 'y', dtype, 'read_write')}${lnParams.declare(4)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // Lanes past the last row redo the last row and store the same values (no divergent branch).
  let row = min(${linearWorkgroup} * ${WG}u + lid, p.rows - 1u);
  let base = p.xOff + row * p.D;
  let ybase = p.yOff + row * p.D;
  let n = f32(p.D);
  // One pass of sums shifted by the row's first value: exact enough unless that value sits far from the
  // mean (cancellation in sq - n·d²), in which case a second, exact pass recomputes the variance.
  let k = f32(x[base]);
  var s = 0.0;
  var sq = 0.0;
  for (var c = 0u; c < p.D; c++) { let v = f32(x[base + c]) - k; s += v; sq += v * v; }
  let d = s / n;
  let mean = k + d;
  var vr = max(sq / n - d * d, 0.0);
  if (d * d > 16.0 * vr) {
    var s2 = 0.0;
    for (var c = 0u; c < p.D; c++) { let v = f32(x[base + c]) - mean; s2 += v * v; }
    vr = s2 / n;
  }
  let rstd = 1.0 / sqrt(vr + p.eps);
  for (var c = 0u; c < p.D; c++) {
    var v = (f32(x[base + c]) - mean) * rstd;
    if (p.affine != 0u) { v = v * f32(gamma[c]) + f32(beta[c]); }
    y[ybase + c] = ${dtype}(v);
  }
}
`;
}

/**
 * One workgroup of WG invocations per row: the same shifted-sum statistics (and the same exact second pass
 * when the shift cancels) as the row kernel, with the sums reduced as a tree in workgroup memory.
 */
function layerNormWorkgroupKernel(dtype: DType): string {
  return `${enables(dtype)}${storage(0, 'x', dtype, 'read')}${storage(1, 'gamma', dtype, 'read')}${storage(2, 'beta', dtype, 'read')}${storage(3, 'y', dtype, 'read_write')}${lnParams.declare(4)}
var<workgroup> red: array<vec2f, ${WG}>;
// Sums red[0..WG) into red[0] (both components); every invocation must call it.
fn reduce(lid: u32, v: vec2f) -> vec2f {
  red[lid] = v;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  // A uniform load (it has barriers of its own), so the second-pass branch below stays workgroup-uniform.
  return workgroupUniformLoad(&red[0]);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // Workgroups past the last row (grid overshoot) redo the last row and store the same values.
  let row = min(${linearWorkgroup}, p.rows - 1u);
  let base = p.xOff + row * p.D;
  let ybase = p.yOff + row * p.D;
  let n = f32(p.D);
  let k = f32(x[base]);
  var acc = vec2f(0.0);
  for (var c = lid; c < p.D; c += ${WG}u) { let v = f32(x[base + c]) - k; acc += vec2f(v, v * v); }
  let t = reduce(lid, acc);
  let d = t.x / n;
  let mean = k + d;
  var vr = max(t.y / n - d * d, 0.0);
  if (d * d > 16.0 * vr) {
    var s2 = 0.0;
    for (var c = lid; c < p.D; c += ${WG}u) { let v = f32(x[base + c]) - mean; s2 += v * v; }
    vr = reduce(lid, vec2f(s2, 0.0)).x / n;
  }
  let rstd = 1.0 / sqrt(vr + p.eps);
  for (var c = lid; c < p.D; c += ${WG}u) {
    var v = (f32(x[base + c]) - mean) * rstd;
    if (p.affine != 0u) { v = v * f32(gamma[c]) + f32(beta[c]); }
    y[ybase + c] = ${dtype}(v);
  }
}
`;
}

/** Layer norm over the last axis of x [..., D]; same shape and dtype out. */
export function layerNorm(gpu: Gpu, x: Tensor, affine: NormAffine = {}, spec: LayerNormSpec = {}): Tensor {
  if (x.rank < 1) throw new ShapeError('layerNorm: x must have rank >= 1');
  const D = x.dim(-1);
  checkAffine('layerNorm', x, D, affine);
  const y = gpu.empty(x.shape, x.dtype, 'layer norm out');
  if (y.numel === 0) return y;
  const rows = x.numel / D;
  const es = x.dtype === 'f32' ? 4 : 2;
  const limit = bindingBudget(gpu, spec.maxBindingBytes);
  // Whole rows per launch, bound as ranges when x exceeds the binding limit.
  const perLaunch = Math.max(1, Math.floor(limit / (D * es)));
  if (D * es > limit) throw new LimitError('LIMIT_EXCEEDED', `layerNorm: one row of ${D} ${x.dtype} exceeds the binding limit`);
  const path = layerNormPath(gpu, spec);
  for (let r0 = 0; r0 < rows; r0 += perLaunch) {
    const n = Math.min(perLaunch, rows - r0);
    const xr = bindElements(gpu, x, r0 * D, n * D);
    const yr = bindElements(gpu, y, r0 * D, n * D);
    gpu.dispatch({
      key: path === 'row' ? `layernorm:${x.dtype}` : `layernorm.wg:${x.dtype}`,
      code: () => (path === 'row' ? layerNormKernel(x.dtype) : layerNormWorkgroupKernel(x.dtype)),
      bindings: [xr.binding, affine.gamma ?? xr.binding, affine.beta ?? xr.binding, yr.binding],
      params: lnParams.pack({ rows: n, D, affine: affine.gamma ? 1 : 0, eps: spec.eps ?? 1e-5, xOff: xr.elemOff, yOff: yr.elemOff }),
      workgroups: grid2d(path === 'row' ? Math.ceil(n / WG) : n),
      cost: layerNormCost(n * D, x.dtype),
    });
  }
  return y;
}

export function layerNormCost(numel: number, dtype: DType): Cost {
  const es = dtype === 'f32' ? 4 : 2;
  return { flops: 8 * numel, bytes: 2 * es * numel };
}
