/**
 * Batched matmul `Y = (act(op(A)·op(B) + bias) + residual) · scale` with f32 accumulation; the epilogue is
 * uniform-driven (src/kernels/epilogue.ts), so a pipeline exists per (path, dtype, transposes) only.
 *
 * Two code paths, both CPU-style register blocking (on lavapipe every storage load is a scalar, bounds-
 * checked load, so shared-memory tiles gain little; see shared/notes/lavapipe.md):
 * - subgroup path: one workgroup is one subgroup of S lanes (S read from the adapter, never assumed). The
 *   subgroup owns RM rows × (S·4·VN) columns; each lane keeps RM × VN vec4 accumulators. Per k step each
 *   lane loads RM/S values of A and the others get them by `subgroupBroadcast`, and loads VN vec4 of B.
 *   The k loop is unrolled KU times by the generator. In f16 with the Linear layout (A [M, K], B [N, K],
 *   K even) A and B are read as u32 words of two halves, one load per two k steps: 1.3–1.6× the f32
 *   kernel's GFLOP/s on lavapipe with the weights coming from memory (bench/f16-packing.ts); one half per
 *   load runs at about the f32 speed. (The same packing in the conv kernel was faster with weights hot in
 *   cache but slower inside a model: its 16-channel chunks read twice as many strided weight rows.)
 * - portable path: 64 invocations, each owns TM rows × TN columns; no subgroup ops.
 * - tiled path, for real GPUs: the classic shared-memory GEMM. 256 invocations stage a BK-deep slice of A
 *   and B in workgroup memory (each operand read with the load order that is coalesced for its layout, so
 *   PyTorch's [out, in] Linear weights cost no more than [in, out]) and each invocation accumulates a
 *   TM × TN block from it. On lavapipe this is the slow style (every workgroup-memory access is a bounds-
 *   checked scalar load); on an H100 it runs the linears ~10× faster than the register-blocked paths, whose
 *   per-invocation B reads are not coalesced there (bench/RESULTS.md, "On a real GPU").
 * Software adapters (lavapipe, SwiftShader) take the subgroup path when their subgroup size is one known
 * value, else the portable one; hardware adapters take the tiled path.
 * Out-of-range rows/columns are clamped on load (no branches in the k loop) and skipped on store.
 */
import type { DType } from '../runtime/dtype.js';
import { LimitError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import { type Tensor, numel, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, storage } from '../runtime/wgsl.js';
import type { Cost } from './cost.js';
import type { UnaryOp } from './elementwise.js';
import { activateFnWgsl } from './activation.js';
import { type Epilogue, EPILOGUE_PARAMS, checkEpilogue, dummyBinding, epilogueParams, epilogueWgsl, stageAndStore } from './epilogue.js';

export interface MatmulSpec {
  /** A is stored as [..., K, M]. */
  transA?: boolean;
  /** B is stored as [..., N, K] (the PyTorch Linear weight layout). */
  transB?: boolean;
  /** Applied after the bias, before the residual add. */
  activation?: UnaryOp;
  /** Multiplies the final value, after the residual add. Default 1. */
  scale?: number;
  /** Which kernel: 'auto' picks by adapter (see the file comment); the others force a path, e.g. in tests. */
  impl?: MatmulPath | 'auto';
  /** f16 on the subgroup path: two halves per load where the layout allows (see KernelConfig). Default true. */
  packF16?: boolean;
}

export type MatmulPath = 'subgroup' | 'portable' | 'tiled';

export interface MatmulInputs {
  /** [...batch, M, K] (or [...batch, K, M] with transA). */
  a: Tensor;
  /** [K, N] broadcast over the batch, or [...batch, K, N]; with transB [N, K] / [...batch, N, K]. */
  b: Tensor;
  /** [N], added to every row. */
  bias?: Tensor;
  /** Same shape as the output, added last. */
  residual?: Tensor;
}

const params = defineParams({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  aOff: 'u32',
  bOff: 'u32',
  yOff: 'u32',
  aStride: 'u32',
  bStride: 'u32',
  yStride: 'u32',
  ...EPILOGUE_PARAMS,
});

/** What a compiled matmul kernel depends on; the epilogue (bias, activation, residual, scale) is uniform. */
interface KernelConfig {
  dtype: DType;
  transA: boolean;
  transB: boolean;
  /**
   * Subgroup path, f16, A [M, K] and B [N, K] (both k-contiguous), K even: A and B are bound as u32 words
   * of two halves, so one load gives two k steps (half the per-lane loads of one half each).
   */
  packed: boolean;
}

/** Subgroup-path tile: rows per subgroup, vec4 column groups per lane, unrolled k steps. */
const SG_RM = 32;
const SG_VN = 2;
/** 2: a packed f16 word holds two k steps (loadPair). */
const SG_KU = 2;
/** Portable tile: 8×8 invocations, each TM rows × (4·TV) columns, k unrolled PKU times. */
const P_TM = 4;
const P_TV = 2;
const P_KU = 4;
/** Tiled path: 16×16 invocations, each TT_M rows × TT_N columns (strided by 16), k staged TT_BK deep. */
const TT_M = 4;
const TT_N = 4;
const TT_BK = 16;
const TT_BM = 16 * TT_M;
const TT_BN = 16 * TT_N;

function header(c: KernelConfig, subgroups: boolean): string {
  const T = c.dtype;
  const AB = c.packed ? 'u32' : T;
  let s = enables(c.dtype) + (subgroups ? 'enable subgroups;\n' : '');
  s += storage(0, 'A', AB, 'read') + storage(1, 'B', AB, 'read') + storage(2, 'bias', T, 'read') + storage(3, 'R', T, 'read');
  s += storage(4, 'Y', T, 'read_write');
  s += params.declare(5);
  return `${s}${activateFnWgsl()}
fn store(bz: u32, m: u32, n: u32, v: f32) {
  if (m < p.M && n < p.N) ${epilogueWgsl(T, 'v', 'n', 'p.yOff + bz * p.yStride + m * p.N + n')}
}
`;
}

/** Index expressions: A(m,k) as `aRow[m] + k*aKs`, B(k,n) as `bCol[n] + k*bKs`. */
function aIndex(c: KernelConfig, rowPre: string, k: string): string {
  return c.transA ? `${rowPre} + (${k}) * p.M` : `${rowPre} + (${k})`;
}
function bIndex(c: KernelConfig, colPre: string, k: string): string {
  return c.transB ? `${colPre} + (${k})` : `${colPre} + (${k}) * p.N`;
}
/** Precomputed per-row / per-column parts of the index (row clamped into range). */
function aRowPre(c: KernelConfig, m: string): string {
  return c.transA ? `aBase + min(${m}, p.M - 1u)` : `aBase + min(${m}, p.M - 1u) * p.K`;
}
function bColPre(c: KernelConfig, n: string): string {
  return c.transB ? `bBase + min(${n}, p.N - 1u) * p.K` : `bBase + min(${n}, p.N - 1u)`;
}

/** Sum of `terms` as a balanced tree (short dependency chains). */
function treeSum(terms: string[]): string {
  if (terms.length === 1) return terms[0] as string;
  const half = Math.ceil(terms.length / 2);
  return `(${treeSum(terms.slice(0, half))} + ${treeSum(terms.slice(half))})`;
}

function subgroupKernel(c: KernelConfig, S: number): string {
  const RC = Math.max(1, Math.round(SG_RM / S));
  const RM = RC * S;
  const VN = SG_VN;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  const out = stageAndStore({
    rows: RM,
    vn: VN,
    lanes: S,
    slot: 'lane',
    rowExpr: (r) => `r0 + ${r}`,
    colExpr: (v) => `c0 + ${v} * ${S * 4}u`,
    store: (row, col, v) => `store(bz, ${row}, ${col}, ${v});`,
  });
  L(header(c, true));
  L(out.decl);
  L(`@compute @workgroup_size(${S})`);
  L('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {');
  L('  let bz = wid.z;');
  L('  let aBase = p.aOff + bz * p.aStride;');
  L('  let bBase = p.bOff + bz * p.bStride;');
  L(`  let r0 = wid.y * ${RM}u;`);
  L(`  let c0 = wid.x * ${S * 4 * VN}u + lane * 4u;`);
  for (let r = 0; r < RC; r++) L(`  let ar${r} = ${aRowPre(c, `r0 + ${r * S}u + lane`)};`);
  for (let v = 0; v < VN; v++) for (let e = 0; e < 4; e++) L(`  let bc${v}_${e} = ${bColPre(c, `c0 + ${v * S * 4 + e}u`)};`);
  for (let i = 0; i < RM; i++) for (let v = 0; v < VN; v++) L(`  var acc${i}_${v} = vec4f(0.0);`);
  const load = (k: string, t: number) => {
    for (let r = 0; r < RC; r++) L(`    let a${t}_${r} = f32(A[${aIndex(c, `ar${r}`, k)}]);`);
    for (let v = 0; v < VN; v++) {
      const comps = [0, 1, 2, 3].map((e) => `f32(B[${bIndex(c, `bc${v}_${e}`, k)}])`);
      L(`    let b${t}_${v} = vec4f(${comps.join(', ')});`);
    }
  };
  // Packed: k and k + 1 are the two halves of one word of A's row and of B's (transposed) column; k is even.
  const loadPair = (k: string) => {
    for (let r = 0; r < RC; r++)
      L(`    let ap${r} = unpack2x16float(A[(ar${r} + ${k}) >> 1u]); let a0_${r} = ap${r}.x; let a1_${r} = ap${r}.y;`);
    for (let v = 0; v < VN; v++) {
      for (let e = 0; e < 4; e++) L(`    let bp${v}_${e} = unpack2x16float(B[(bc${v}_${e} + ${k}) >> 1u]);`);
      for (const [t, h] of [
        [0, 'x'],
        [1, 'y'],
      ] as const) {
        L(`    let b${t}_${v} = vec4f(${[0, 1, 2, 3].map((e) => `bp${v}_${e}.${h}`).join(', ')});`);
      }
    }
  };
  // All KU k-steps are loaded first, then each accumulator takes one update per chunk: the KU products are
  // summed as SSA values (a tree), since on lavapipe every loop-carried `acc +=` costs a mask blend.
  const chunk = (steps: number) => {
    for (let r = 0; r < RC; r++)
      for (let j = 0; j < S; j++) {
        const i = r * S + j;
        const bc = [...Array(steps).keys()].map((t) => `subgroupBroadcast(a${t}_${r}, ${j}u)`);
        L(`    { ${bc.map((e, t) => `let s${t} = ${e};`).join(' ')}`);
        for (let v = 0; v < VN; v++) L(`      acc${i}_${v} += ${treeSum([...Array(steps).keys()].map((t) => `s${t} * b${t}_${v}`))};`);
        L('    }');
      }
  };
  L('  var k = 0u;');
  L(`  for (; k + ${SG_KU}u <= p.K; k += ${SG_KU}u) {`);
  if (c.packed) loadPair('k');
  else for (let t = 0; t < SG_KU; t++) load(`k + ${t}u`, t);
  chunk(SG_KU);
  L('  }');
  if (!c.packed) {
    // Packed launches have K even (two steps per word): no odd step is left.
    L('  for (; k < p.K; k++) {');
    load('k', 0);
    chunk(1);
    L('  }');
  }
  L(out.body);
  L('}');
  return lines.join('\n');
}

function portableKernel(c: KernelConfig): string {
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  const out = stageAndStore({
    rows: P_TM,
    vn: P_TV,
    lanes: 64,
    slot: 'lid',
    rowExpr: (r) => `r0 + ${r}`,
    colExpr: (v) => `c0 + ${v} * 32u`,
    store: (row, col, v) => `store(bz, ${row}, ${col}, ${v});`,
  });
  L(header(c, false));
  L(out.decl);
  L('@compute @workgroup_size(64)');
  L('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {');
  L('  let bz = wid.z;');
  L('  let aBase = p.aOff + bz * p.aStride;');
  L('  let bBase = p.bOff + bz * p.bStride;');
  L(`  let r0 = wid.y * ${8 * P_TM}u + (lid / 8u) * ${P_TM}u;`);
  L(`  let c0 = wid.x * ${8 * 4 * P_TV}u + (lid % 8u) * 4u;`);
  for (let r = 0; r < P_TM; r++) L(`  let ar${r} = ${aRowPre(c, `r0 + ${r}u`)};`);
  for (let v = 0; v < P_TV; v++) for (let e = 0; e < 4; e++) L(`  let bc${v}_${e} = ${bColPre(c, `c0 + ${v * 32 + e}u`)};`);
  for (let r = 0; r < P_TM; r++) for (let v = 0; v < P_TV; v++) L(`  var acc${r}_${v} = vec4f(0.0);`);
  const step = (k: string, t: number) => {
    for (let v = 0; v < P_TV; v++) {
      const comps = [0, 1, 2, 3].map((e) => `f32(B[${bIndex(c, `bc${v}_${e}`, k)}])`);
      L(`    let b${t}_${v} = vec4f(${comps.join(', ')});`);
    }
    for (let r = 0; r < P_TM; r++) {
      L(`    { let s = f32(A[${aIndex(c, `ar${r}`, k)}]);`);
      for (let v = 0; v < P_TV; v++) L(`      acc${r}_${v} += s * b${t}_${v};`);
      L('    }');
    }
  };
  L('  var k = 0u;');
  L(`  for (; k + ${P_KU}u <= p.K; k += ${P_KU}u) {`);
  for (let t = 0; t < P_KU; t++) step(`k + ${t}u`, t);
  L('  }');
  L('  for (; k < p.K; k++) {');
  step('k', 0);
  L('  }');
  L(out.body);
  L('}');
  return lines.join('\n');
}

/**
 * The shared-memory kernel. Invocation (tx, ty) owns rows `r0 + ty + 16·i` and columns `c0 + tx + 16·j`
 * (strided, so a row of invocations reads consecutive workgroup-memory words). Each BK step, the 256
 * invocations load the A tile (BM × BK) and the B tile (BK × BN), element `e = lid + 256·q` of a tile
 * mapped so that consecutive invocations read consecutive addresses of the operand's own layout; k beyond
 * K loads zero, rows and columns beyond the matrix are clamped on load and not stored.
 */
function tiledKernel(c: KernelConfig): string {
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  const loadsA = (TT_BM * TT_BK) / 256;
  const loadsB = (TT_BN * TT_BK) / 256;
  L(header(c, false));
  L(`var<workgroup> As: array<f32, ${TT_BK * TT_BM}>;`);
  L(`var<workgroup> Bs: array<f32, ${TT_BK * TT_BN}>;`);
  L('@compute @workgroup_size(256)');
  L('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {');
  L('  let bz = wid.z;');
  L('  let aBase = p.aOff + bz * p.aStride;');
  L('  let bBase = p.bOff + bz * p.bStride;');
  L(`  let r0 = wid.y * ${TT_BM}u;`);
  L(`  let c0 = wid.x * ${TT_BN}u;`);
  L('  let tx = lid % 16u;');
  L('  let ty = lid / 16u;');
  L(`  var acc: array<array<f32, ${TT_N}>, ${TT_M}>;`);
  L(`  for (var k0 = 0u; k0 < p.K; k0 += ${TT_BK}u) {`);
  // A tile: element (m, k) of the tile. Row-major A reads along k; transposed A along m.
  for (let q = 0; q < loadsA; q++) {
    L(`    { let e = lid + ${256 * q}u;`);
    L(c.transA ? `      let m = e % ${TT_BM}u; let k = e / ${TT_BM}u;` : `      let m = e / ${TT_BK}u; let k = e % ${TT_BK}u;`);
    L(`      let v = f32(A[${aIndex(c, aRowPre(c, 'r0 + m'), 'min(k0 + k, p.K - 1u)')}]);`);
    L(`      As[k * ${TT_BM}u + m] = select(0.0, v, k0 + k < p.K); }`);
  }
  for (let q = 0; q < loadsB; q++) {
    L(`    { let e = lid + ${256 * q}u;`);
    L(c.transB ? `      let n = e / ${TT_BK}u; let k = e % ${TT_BK}u;` : `      let n = e % ${TT_BN}u; let k = e / ${TT_BN}u;`);
    L(`      let v = f32(B[${bIndex(c, bColPre(c, 'c0 + n'), 'min(k0 + k, p.K - 1u)')}]);`);
    L(`      Bs[k * ${TT_BN}u + n] = select(0.0, v, k0 + k < p.K); }`);
  }
  L('    workgroupBarrier();');
  L(`    for (var k = 0u; k < ${TT_BK}u; k++) {`);
  for (let j = 0; j < TT_N; j++) L(`      let b${j} = Bs[k * ${TT_BN}u + tx + ${16 * j}u];`);
  for (let i = 0; i < TT_M; i++) {
    L(`      { let a = As[k * ${TT_BM}u + ty + ${16 * i}u];`);
    for (let j = 0; j < TT_N; j++) L(`        acc[${i}][${j}] += a * b${j};`);
    L('      }');
  }
  L('    }');
  L('    workgroupBarrier();');
  L('  }');
  // A rolled store loop: the epilogue is compiled once, not once per accumulator.
  L(`  for (var i = 0u; i < ${TT_M}u; i++) {`);
  L(`    for (var j = 0u; j < ${TT_N}u; j++) { store(bz, r0 + ty + 16u * i, c0 + tx + 16u * j, acc[i][j]); }`);
  L('  }');
  L('}');
  return lines.join('\n');
}

/** The subgroup size this adapter runs at, when it is a single known value; otherwise null. */
function fixedSubgroupSize(gpu: Gpu): number | null {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.info;
  if (!lo || !hi || lo !== hi) return null;
  return lo;
}

/**
 * Which path a launch takes: hardware adapters the tiled kernel; software adapters the subgroup kernel when
 * they offer subgroups of a single, known size, else the portable one. A forced 'subgroup' that the adapter
 * cannot run falls back to 'portable'.
 */
export function matmulPath(gpu: Gpu, spec: MatmulSpec = {}): MatmulPath {
  const impl = spec.impl ?? 'auto';
  if (impl === 'portable' || impl === 'tiled') return impl;
  if (impl === 'auto' && !gpu.info.isFallbackAdapter) return 'tiled';
  const S = fixedSubgroupSize(gpu);
  return gpu.hasSubgroups && S !== null && S <= 64 ? 'subgroup' : 'portable';
}

/** Output rows × columns one workgroup of `path` covers. */
function tileOf(path: MatmulPath, S: number): [number, number] {
  if (path === 'subgroup') return [Math.max(1, Math.round(SG_RM / S)) * S, S * 4 * SG_VN];
  if (path === 'tiled') return [TT_BM, TT_BN];
  return [8 * P_TM, 32 * P_TV];
}

export interface MatmulShape {
  batch: number[];
  M: number;
  K: number;
  N: number;
  /** B has batch dims (otherwise it is broadcast over the batch). */
  bBatched: boolean;
}

/** Validates shapes and returns the problem size, or a ShapeError naming both tensors. */
export function matmulShape(aShape: readonly number[], bShape: readonly number[], spec: MatmulSpec = {}): MatmulShape {
  const what = () => `matmul: A ${shapeString(aShape)}${spec.transA ? 'ᵀ' : ''} · B ${shapeString(bShape)}${spec.transB ? 'ᵀ' : ''}`;
  if (aShape.length < 2 || bShape.length < 2) throw new ShapeError(`${what()}: both operands need rank >= 2`);
  const [a0, a1] = aShape.slice(-2) as [number, number];
  const [b0, b1] = bShape.slice(-2) as [number, number];
  const [M, K] = spec.transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = spec.transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) throw new ShapeError(`${what()}: inner dimensions differ (${K} vs ${Kb})`);
  const batch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const bBatched = numel(bBatch) !== 1;
  if (bBatched && (bBatch.length !== batch.length || bBatch.some((d, i) => d !== batch[i]))) {
    throw new ShapeError(`${what()}: B's batch dims must equal A's or be absent (weights broadcast over the batch)`);
  }
  return { batch, M, K, N, bBatched };
}

/** Binds `count` batch items of `t` starting at `first`, aligned down to the adapter's offset alignment. */
function bindRange(gpu: Gpu, t: Tensor, first: number, count: number, itemElems: number): { binding: BufferBinding; elemOff: number } {
  const es = t.dtype === 'f32' ? 4 : 2;
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const start = first * itemElems * es;
  const aligned = Math.floor(start / align) * align;
  const end = Math.min(t.buffer.size, Math.ceil(((first + count) * itemElems * es) / 4) * 4);
  return { binding: { buffer: t.buffer, offset: aligned, size: end - aligned }, elemOff: (start - aligned) / es };
}

/**
 * `act(op(A)·op(B) + bias) + residual`. Output [...batch, M, N] in A's dtype. Batches are split across
 * launches when a binding would exceed `maxStorageBufferBindingSize`.
 */
export function matmul(gpu: Gpu, inputs: MatmulInputs, spec: MatmulSpec = {}): Tensor {
  const { a, b, bias, residual } = inputs;
  const sh = matmulShape(a.shape, b.shape, spec);
  const { M, K, N } = sh;
  const outShape = [...sh.batch, M, N];
  if (b.dtype !== a.dtype) throw new ShapeError(`matmul: B is ${b.dtype} but A is ${a.dtype}`);
  const epi: Epilogue = { bias, residual, activation: spec.activation, scale: spec.scale };
  checkEpilogue('matmul', epi, a.dtype, N, outShape);
  const y = gpu.empty(outShape, a.dtype);
  const batch = numel(sh.batch);
  if (y.numel === 0) return y;
  if (K === 0) throw new ShapeError(`matmul: K = 0 (A ${shapeString(a.shape)}) gives an all-bias output; not supported`);

  const path = matmulPath(gpu, spec);
  const c: KernelConfig = {
    dtype: a.dtype,
    transA: !!spec.transA,
    transB: !!spec.transB,
    // K even keeps every row start, stride and aligned binding offset on a word (see bindRange).
    packed: path === 'subgroup' && a.dtype === 'f16' && spec.packF16 !== false && !spec.transA && !!spec.transB && K % 2 === 0,
  };
  const S = fixedSubgroupSize(gpu) ?? 0;
  const [tileM, tileN] = tileOf(path, S);
  const gx = Math.ceil(N / tileN);
  const gy = Math.ceil(M / tileM);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (gx > maxDim || gy > maxDim) {
    throw new LimitError('LIMIT_EXCEEDED', `matmul ${M}×${K}×${N}: needs ${gx}×${gy} workgroups, over ${maxDim} per dimension`);
  }

  // Work split: a launch covers `count` batch items of `rows` rows each; both are chosen so that every
  // binding stays within maxStorageBufferBindingSize (with room for aligning its offset down).
  const es = a.dtype === 'f32' ? 4 : 2;
  const limit = gpu.limits.maxStorageBufferBindingSize - gpu.limits.minStorageBufferOffsetAlignment - 4;
  if (K * N * es > limit) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `matmul: B (${K}×${N} ${a.dtype}) needs a binding over this adapter's maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}; split N before calling matmul`,
    );
  }
  const rowBytes = Math.max(K, N) * es;
  const itemBytes = Math.max(M * rowBytes, sh.bBatched ? K * N * es : 0);
  const key = `matmul:${path}${path === 'subgroup' ? S : ''}:${c.dtype}:${c.transA}:${c.transB}${c.packed ? ':p' : ''}`;
  const code = () => (path === 'subgroup' ? subgroupKernel(c, S) : path === 'tiled' ? tiledKernel(c) : portableKernel(c));
  const launch = (first: number, count: number, row0: number, rows: number) => {
    // Rows [row0, row0+rows) of items [first, first+count), viewed as items of `rows` rows when split.
    const split = rows !== M;
    const A = split ? bindRange(gpu, a, first * M + row0, rows, K) : bindRange(gpu, a, first, count, M * K);
    const B = sh.bBatched ? bindRange(gpu, b, first, count, K * N) : bindRange(gpu, b, 0, 1, K * N);
    const Y = split ? bindRange(gpu, y, first * M + row0, rows, N) : bindRange(gpu, y, first, count, M * N);
    const R = residual
      ? split
        ? bindRange(gpu, residual, first * M + row0, rows, N)
        : bindRange(gpu, residual, first, count, M * N)
      : null;
    // Y and R are bound from the same element range, so one offset (yOff) indexes both.
    const bindings = [A.binding, B.binding, bias ?? dummyBinding(gpu), R?.binding ?? dummyBinding(gpu), Y.binding];
    gpu.dispatch({
      key,
      code,
      bindings,
      params: params.pack({
        M: rows,
        N,
        K,
        aOff: A.elemOff,
        bOff: B.elemOff,
        yOff: Y.elemOff,
        aStride: M * K,
        bStride: sh.bBatched ? K * N : 0,
        yStride: M * N,
        ...epilogueParams(epi),
      }),
      workgroups: [gx, Math.ceil(rows / tileM), count],
      cost: matmulCost(count, rows, K, N, c.dtype),
    });
  };
  if (itemBytes <= limit) {
    const chunk = Math.max(1, Math.min(batch, maxDim, Math.floor(limit / itemBytes)));
    for (let first = 0; first < batch; first += chunk) launch(first, Math.min(chunk, batch - first), 0, M);
  } else {
    if (spec.transA || (sh.bBatched && K * N * es > limit)) {
      throw new LimitError(
        'LIMIT_EXCEEDED',
        `matmul ${M}×${K}×${N}: one batch item needs a binding over this adapter's maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize} and A is transposed (its rows are not contiguous); split the rows before calling matmul`,
      );
    }
    const rows = Math.max(tileM, Math.floor(limit / rowBytes / tileM) * tileM);
    for (let z = 0; z < batch; z++) for (let r0 = 0; r0 < M; r0 += rows) launch(z, 1, r0, Math.min(rows, M - r0));
  }
  return y;
}

/** `x·Wᵀ + bias` with PyTorch Linear weights [out, in]: x is [..., in]. */
export function linear(gpu: Gpu, x: Tensor, weight: Tensor, bias?: Tensor, activation?: UnaryOp): Tensor {
  const inF = x.dim(-1);
  const rows = x.numel / Math.max(1, inF);
  const y = matmul(gpu, { a: x.reshape([rows, inF]), b: weight, bias }, { transB: true, activation });
  return y.reshape([...x.shape.slice(0, -1), weight.dim(0)]);
}

export function matmulCost(batch: number, M: number, K: number, N: number, dtype: DType): Cost {
  const es = dtype === 'f32' ? 4 : 2;
  return { flops: 2 * batch * M * K * N, bytes: es * batch * (M * K + K * N + M * N) };
}
