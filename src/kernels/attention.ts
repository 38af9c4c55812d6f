/**
 * Flash-style multi-head attention `O = softmax(scale·Q·Kᵀ + mask)·V` over channels-last token layouts:
 * Q [B, Nq, H, d], K and V [B, Nk, H, d], O [B, Nq, H, d] (a Linear's output reshaped, no transposes). Keys
 * are streamed in blocks with an online (running max) softmax, so memory is O(N·d): no N×N scores ever
 * exist. All math is f32 whatever the storage dtype (what diffusers' `upcast_attention` asks for).
 *
 * Two kernels:
 * - subgroup (the fast one on lavapipe, CPU-style register blocking as in matmul.ts): one workgroup is one
 *   subgroup of S lanes and owns RQ = RC·S queries of one (batch, head). Per key block of KB = KL·S keys:
 *   1. scores: lanes own keys; each lane loads RC query values and KL key values per channel and gets the
 *      other lanes' query values by `subgroupBroadcast`, accumulating RQ×KL scores in registers;
 *   2. online softmax per query: block max by `subgroupMax`, rescale of the running sum and output;
 *   3. P·V: lanes own output channels (DC = ⌈d/S⌉ each, interleaved so the lanes read adjacent values);
 *      each lane loads its channels of one V row per key and takes the key's probabilities from the lane
 *      that owns the key with `subgroupShuffle`.
 *   The output block (RQ × DC per lane) is compile-time, so head dims are bucketed (see HEAD_DIM_BUCKETS):
 *   one pipeline per bucket and dtype. Head dims over the buckets loop over chunks of output channels
 *   inside each key block, keeping the chunk's running sums in an f32 scratch (O(N·d)) between blocks, so
 *   scores are computed once whatever d is.
 * - portable (no subgroups): one invocation per query with its query and output rows in private arrays.
 *
 * Masked scores (causal, and keys past Nk in the last block) are set to a large negative finite value, not
 * -inf: every query has key 0 unmasked in the first block, so its running max is finite from then on and
 * masked keys get probability exp2(-3e38 - m) = 0 without inf - inf = NaN.
 */
import type { DType } from '../runtime/dtype.js';
import { LimitError, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Binding } from '../runtime/recorder.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { defineParams, enables, storage } from '../runtime/wgsl.js';
import { bindElements, bindingBudget } from './bind-range.js';
import type { Cost } from './cost.js';

export interface AttentionInputs {
  /** [B, Nq, H, d] */
  q: Tensor;
  /** [B, Nk, H, d] */
  k: Tensor;
  /** [B, Nk, H, d] */
  v: Tensor;
}

export interface AttentionSpec {
  /** Multiplies the logits. Default 1/√d. */
  scale?: number;
  /** Query i attends to keys j <= i only (top-left aligned, as PyTorch's `is_causal`; CLIP's text encoder). */
  causal?: boolean;
  /** Kernel choice; 'auto' takes the subgroup kernel when the adapter has subgroups of one fixed size. */
  impl?: 'auto' | 'subgroup' | 'portable';
  /** Subgroup kernel tile (for tuning): query rows per lane and keys per lane per block. */
  tile?: { rows: number; keys: number; chunkCols?: number };
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

/**
 * Head dims up to 80 are rounded up to one of these for code generation (SD1's 40 and 80, SD2's and CLIP's
 * 64); larger ones (SD1's 160, the VAE and MedVAE mid-blocks' 512) run in chunks of CHUNK_COLS output
 * channels, which measured as fast as a 160-wide register block (and compiles faster) and as fast as wider
 * chunks for 512: four pipelines per dtype in all. (For 80, 40-channel chunks were 1/3 slower.)
 */
export const HEAD_DIM_BUCKETS = [40, 64, 80] as const;
const CHUNK_COLS = 40;

/** Masked logit: finite so that masked − max never becomes inf − inf. */
const MASKED = '-3.0e38';

const params = defineParams({
  Nq: 'u32',
  Nk: 'u32',
  H: 'u32',
  d: 'u32',
  qStart: 'u32',
  causal: 'u32',
  scale2: 'f32',
  qOff: 'u32',
  kOff: 'u32',
  vOff: 'u32',
  oOff: 'u32',
  qBatch: 'u32',
  kBatch: 'u32',
  chunks: 'u32',
});

interface SubgroupConfig {
  dtype: DType;
  /** Subgroup size. */
  S: number;
  /** Output channels per lane (the head-dim bucket / S). */
  DC: number;
  /** Query rows per lane: the workgroup owns RC·S queries. */
  RC: number;
  /** Keys per lane per block: a block is KL·S keys. */
  KL: number;
  /** Head dims over 160: DC·S channels per chunk, the chunk loop inside the key loop. */
  chunked: boolean;
}

/**
 * Tile: RQ queries × 32 keys per block (measured on lavapipe with 8-wide subgroups; other subgroup sizes
 * keep RQ and KB). More accumulators run faster but compile slower, superlinearly: RQ 32 × 64 channels
 * takes ~10 s to compile there, RQ 16 × 80 and the chunked kernel (RQ 16 × 40) ~5 s.
 */
function defaultTile(plan: { cols: number; chunks: number }, S: number): { rows: number; keys: number } {
  const rq = plan.chunks > 1 || plan.cols > 64 ? 16 : 32;
  return { rows: Math.max(1, Math.round(rq / S)), keys: Math.max(1, Math.round(32 / S)) };
}

/** Bindings: Q, K, V, O, then (chunked head dims) the f32 scratch W, then the params. */
const header = (dtype: DType, subgroups: boolean, scratch: boolean) =>
  `${enables(dtype)}${subgroups ? 'enable subgroups;\n' : ''}${storage(0, 'Q', dtype, 'read')}${storage(1, 'K', dtype, 'read')}${storage(2, 'V', dtype, 'read')}${storage(3, 'O', dtype, 'read_write')}${scratch ? storage(4, 'W', 'f32', 'read_write') : ''}${params.declare(scratch ? 5 : 4)}`;

/** Shared prologue: batch/head of this workgroup and the base element index of its rows in each tensor. */
const PROLOGUE = `  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let rs = p.H * p.d;
  let qb = p.qOff + b * p.qBatch + h * p.d;
  let ob = p.oOff + b * p.qBatch + h * p.d;
  let kb = p.kOff + b * p.kBatch + h * p.d;
  let vb = p.vOff + b * p.kBatch + h * p.d;`;

function subgroupKernel(c: SubgroupConfig): string {
  const { S, DC, RC, KL, dtype, chunked } = c;
  const RQ = RC * S;
  const KB = KL * S;
  const CC = DC * S;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const each = (n: number, f: (i: number) => string) => range(n).map(f).join('');
  L(header(dtype, true, chunked));
  L(`@compute @workgroup_size(${S})`);
  L('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {');
  L(PROLOGUE);
  if (chunked) L('  let wb = b * p.qBatch + h * p.d;');
  L(`  let q0 = wid.x * ${RQ}u;`);
  for (const r of range(RC)) L(`  let qa${r} = qb + min(q0 + ${r * S}u + lane, p.Nq - 1u) * rs;`);
  if (!chunked) for (const ch of range(DC)) L(`  let col${ch} = min(${ch * S}u + lane, p.d - 1u);`);
  for (const i of range(RQ)) {
    // Keys visible to query i: all, or (causal) those up to its global index.
    L(`  let lim${i} = select(p.Nk, min(p.Nk, p.qStart + q0 + ${i + 1}u), p.causal != 0u);`);
    L(`  var m${i} = ${MASKED}; var l${i} = 0.0;${chunked ? ` var cr${i} = 1.0;` : each(DC, (ch) => ` var o${i}_${ch} = 0.0;`)}`);
  }
  // Causal: no query of this workgroup sees keys past its last one.
  L(`  let kEnd = select(p.Nk, min(p.Nk, p.qStart + q0 + ${RQ}u), p.causal != 0u);`);
  L(`  for (var k0 = 0u; k0 < kEnd; k0 += ${KB}u) {`);
  for (const t of range(KL)) L(`    let ka${t} = kb + min(k0 + ${t * S}u + lane, p.Nk - 1u) * rs;`);
  for (const i of range(RQ)) L(`   ${each(KL, (t) => ` var s${i}_${t} = 0.0;`)}`);
  // 1. Scores: lane owns keys k0 + t·S + lane; queries come from their lanes by broadcast.
  L('    for (var c = 0u; c < p.d; c++) {');
  for (const r of range(RC)) L(`      let qv${r} = f32(Q[qa${r} + c]);`);
  for (const t of range(KL)) L(`      let kv${t} = f32(K[ka${t} + c]);`);
  for (const r of range(RC))
    for (const j of range(S))
      L(`      { let x = subgroupBroadcast(qv${r}, ${j}u);${each(KL, (t) => ` s${r * S + j}_${t} += x * kv${t};`)} }`);
  L('    }');
  // 2. Online softmax in base 2 (scale2 = scale·log2 e): s becomes the block's probabilities and the
  // output so far is rescaled by cr = exp2(old max - new max).
  for (const t of range(KL)) L(`    let key${t} = k0 + ${t * S}u + lane;`);
  for (const i of range(RQ)) {
    for (const t of range(KL)) L(`    s${i}_${t} = select(${MASKED}, s${i}_${t} * p.scale2, key${t} < lim${i});`);
    const mx = range(KL)
      .map((t) => `s${i}_${t}`)
      .reduce((a, b) => `max(${a}, ${b})`);
    L(`    { let mn = max(m${i}, subgroupMax(${mx})); let cr = exp2(m${i} - mn); m${i} = mn;`);
    L(`     ${each(KL, (t) => ` s${i}_${t} = exp2(s${i}_${t} - mn);`)}`);
    L(
      `      l${i} = l${i} * cr + ${range(KL)
        .map((t) => `s${i}_${t}`)
        .join(' + ')};`,
    );
    L(`     ${chunked ? ` cr${i} = cr;` : each(DC, (ch) => ` o${i}_${ch} *= cr;`)} }`);
  }
  // 3. P·V: lane owns output channels base + ch·S + lane; key k0 + t·S + j's probabilities live in lane j.
  const pv = (pad: string) => {
    for (const t of range(KL)) {
      L(`${pad}for (var j = 0u; j < ${S}u; j++) {`);
      L(`${pad}  let va = vb + min(k0 + ${t * S}u + j, p.Nk - 1u) * rs;`);
      for (const ch of range(DC)) L(`${pad}  let v${ch} = f32(V[va + col${ch}]);`);
      for (const i of range(RQ)) L(`${pad}  { let x = subgroupShuffle(s${i}_${t}, j);${each(DC, (ch) => ` o${i}_${ch} += x * v${ch};`)} }`);
      L(`${pad}}`);
    }
  };
  if (!chunked) pv('    ');
  else {
    // Head dims over one register block: chunks of CC channels, running sums kept in the f32 scratch W
    // (same layout as O) between key blocks.
    L('    for (var cc = 0u; cc < p.chunks; cc++) {');
    L(`      let cb = cc * ${CC}u;`);
    for (const ch of range(DC)) L(`      let col${ch} = min(cb + ${ch * S}u + lane, p.d - 1u);`);
    for (const i of range(RQ)) {
      L(`      let wa${i} = wb + min(q0 + ${i}u, p.Nq - 1u) * rs;`);
      L(`     ${each(DC, (ch) => ` var o${i}_${ch} = select(W[wa${i} + col${ch}] * cr${i}, 0.0, k0 == 0u);`)}`);
    }
    pv('      ');
    for (const i of range(RQ)) {
      L(
        `      if (q0 + ${i}u < p.Nq) {${each(DC, (ch) => ` if (cb + ${ch * S}u + lane < p.d) { W[wa${i} + cb + ${ch * S}u + lane] = o${i}_${ch}; }`)} }`,
      );
    }
    L('    }');
  }
  L('  }');
  for (const i of range(RQ)) {
    L(`  { let inv = 1.0 / subgroupAdd(l${i});`);
    L(`    if (q0 + ${i}u < p.Nq) {`);
    L(`      let oa = ob + (q0 + ${i}u) * rs;`);
    if (chunked) {
      L(`      let wa = wb + (q0 + ${i}u) * rs;`);
      L(`      for (var c = lane; c < p.d; c += ${S}u) { O[oa + c] = ${dtype}(W[wa + c] * inv); }`);
    } else for (const ch of range(DC)) L(`      if (${ch * S}u + lane < p.d) { O[oa + ${ch * S}u + lane] = ${dtype}(o${i}_${ch} * inv); }`);
    L('  } }');
  }
  L('}');
  return lines.join('\n');
}

/** Portable kernel: 64 invocations, one query each; q and o rows in private arrays of the bucket size. */
const P_WG = 64;
const P_KB = 4;
function portableKernel(dtype: DType, bucket: number): string {
  const ks = Array.from({ length: P_KB }, (_, t) => t);
  return `${header(dtype, false, false)}
@compute @workgroup_size(${P_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${PROLOGUE}
  let qi = wid.x * ${P_WG}u + lid;
  let qc = min(qi, p.Nq - 1u);
  let qa = qb + qc * rs;
  var q: array<f32, ${bucket}>;
  var o: array<f32, ${bucket}>;
  for (var c = 0u; c < p.d; c++) { q[c] = f32(Q[qa + c]); o[c] = 0.0; }
  let lim = select(p.Nk, min(p.Nk, p.qStart + qc + 1u), p.causal != 0u);
  var m = ${MASKED};
  var l = 0.0;
  for (var k0 = 0u; k0 < lim; k0 += ${P_KB}u) {
${ks.map((t) => `    let ka${t} = kb + min(k0 + ${t}u, p.Nk - 1u) * rs;\n    let va${t} = vb + min(k0 + ${t}u, p.Nk - 1u) * rs;\n    var s${t} = 0.0;`).join('\n')}
    for (var c = 0u; c < p.d; c++) {
      let x = q[c];
${ks.map((t) => `      s${t} += x * f32(K[ka${t} + c]);`).join('\n')}
    }
${ks.map((t) => `    s${t} = select(${MASKED}, s${t} * p.scale2, k0 + ${t}u < lim);`).join('\n')}
    let mn = max(m, max(max(s0, s1), max(s2, s3)));
    let cr = exp2(m - mn);
    m = mn;
${ks.map((t) => `    let p${t} = exp2(s${t} - mn);`).join('\n')}
    l = l * cr + p0 + p1 + p2 + p3;
    for (var c = 0u; c < p.d; c++) {
      o[c] = o[c] * cr${ks.map((t) => ` + p${t} * f32(V[va${t} + c])`).join('')};
    }
  }
  if (qi < p.Nq) {
    let inv = 1.0 / l;
    let oa = ob + qi * rs;
    for (var c = 0u; c < p.d; c++) { O[oa + c] = ${dtype}(o[c] * inv); }
  }
}
`;
}

/** The subgroup size this adapter runs at, when it is a single known value; otherwise null. */
function fixedSubgroupSize(gpu: Gpu): number | null {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.info;
  return lo && hi && lo === hi && lo <= 64 ? lo : null;
}

/** Which kernel a launch takes. */
export function attentionPath(gpu: Gpu, spec: AttentionSpec = {}): 'subgroup' | 'portable' {
  const impl = spec.impl ?? 'auto';
  if (impl === 'portable' || !gpu.hasSubgroups) return 'portable';
  return fixedSubgroupSize(gpu) !== null ? 'subgroup' : 'portable';
}

/**
 * The output channels a pipeline holds in registers for head dim `d` (one pipeline per value and dtype)
 * and how many chunks of them cover d.
 */
export function headDimPlan(d: number, chunkCols?: number): { cols: number; chunks: number } {
  const b = HEAD_DIM_BUCKETS.find((x) => d <= x);
  if (b !== undefined && (chunkCols === undefined || chunkCols >= b)) return { cols: b, chunks: 1 };
  const cc = chunkCols ?? CHUNK_COLS;
  return { cols: cc, chunks: Math.ceil(d / cc) };
}

/** Validates Q/K/V and returns the problem size. */
export function attentionShape(q: Tensor, k: Tensor, v: Tensor): { B: number; Nq: number; Nk: number; H: number; d: number } {
  const what = `attention: Q ${shapeString(q.shape)}, K ${shapeString(k.shape)}, V ${shapeString(v.shape)}`;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new ShapeError(`${what}: expected Q [B, Nq, H, d] and K, V [B, Nk, H, d] (reshape a Linear output [B, N, H·d])`);
  }
  const [B, Nq, H, d] = q.shape as [number, number, number, number];
  const [Bk, Nk, Hk, dk] = k.shape as [number, number, number, number];
  if (Bk !== B || Hk !== H || dk !== d) throw new ShapeError(`${what}: K must be [${B}, Nk, ${H}, ${d}]`);
  if (shapeString(v.shape) !== shapeString(k.shape)) throw new ShapeError(`${what}: V must have K's shape`);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new ShapeError(`${what}: dtypes differ (${q.dtype}, ${k.dtype}, ${v.dtype})`);
  if (B * Nq * H > 0 && Nk === 0) throw new ShapeError(`${what}: no keys (Nk = 0): the softmax is undefined`);
  if (d === 0) throw new ShapeError(`${what}: head dim is 0`);
  return { B, Nq, H, Nk, d };
}

/** Attention output [B, Nq, H, d] in Q's dtype. Splits launches so every binding fits the adapter's limit. */
export function attention(gpu: Gpu, inputs: AttentionInputs, spec: AttentionSpec = {}): Tensor {
  const { q, k, v } = inputs;
  const { B, Nq, Nk, H, d } = attentionShape(q, k, v);
  const out = gpu.empty(q.shape, q.dtype, 'attention out');
  if (out.numel === 0) return out;
  const dtype = q.dtype;
  const plan = headDimPlan(d, spec.tile?.chunkCols);
  const path = spec.impl === 'subgroup' || attentionPath(gpu, spec) === 'subgroup' ? 'subgroup' : 'portable';
  const S = fixedSubgroupSize(gpu);
  if (path === 'subgroup' && S === null) {
    throw new LimitError('MISSING_FEATURE', "attention: impl 'subgroup' needs the 'subgroups' feature with one fixed subgroup size");
  }
  let key: string;
  let code: () => string;
  let rowsPerWg: number;
  let chunks = 1;
  if (path === 'subgroup' && S !== null) {
    const tile = spec.tile ?? defaultTile(plan, S);
    const cfg: SubgroupConfig = { dtype, S, DC: Math.ceil(plan.cols / S), RC: tile.rows, KL: tile.keys, chunked: plan.chunks > 1 };
    key = `attention:sg${S}:${dtype}:${cfg.DC}:${cfg.RC}:${cfg.KL}:${cfg.chunked}`;
    code = () => subgroupKernel(cfg);
    rowsPerWg = cfg.RC * S;
    chunks = Math.ceil(d / (cfg.DC * S));
  } else {
    // The portable kernel keeps whole q and o rows in private arrays of a bucketed length.
    const len = plan.chunks === 1 ? plan.cols : Math.ceil(d / 256) * 256;
    key = `attention:portable:${dtype}:${len}`;
    code = () => portableKernel(dtype, len);
    rowsPerWg = P_WG;
  }

  // Launch plan: whole batch items while Q/O (and the f32 scratch of chunked head dims) and K/V bindings
  // fit; else one item in query ranges.
  const row = H * d;
  const es = dtype === 'f32' ? 4 : 2;
  const bytes = bindingBudget(gpu, spec.maxBindingBytes);
  const budget = bytes / es;
  const qBudget = chunks > 1 ? bytes / 4 : budget;
  if (Nk * row > budget) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `attention: K/V of one batch item (${Nk}×${H}×${d} ${dtype}) exceed this adapter's maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}; use fewer keys or split the heads before calling attention`,
    );
  }
  const maxDim = Number(gpu.limits.maxComputeWorkgroupsPerDimension);
  const scale2 = (spec.scale ?? 1 / Math.sqrt(d)) * Math.LOG2E;
  const launch = (b0: number, nb: number, qs: number, nq: number) =>
    gpu.scope(() => {
      const qElems = ((nb - 1) * Nq + nq) * row;
      const qr = bindElements(gpu, q, (b0 * Nq + qs) * row, qElems);
      const or = bindElements(gpu, out, (b0 * Nq + qs) * row, qElems);
      const kr = bindElements(gpu, k, b0 * Nk * row, nb * Nk * row);
      const vr = bindElements(gpu, v, b0 * Nk * row, nb * Nk * row);
      const bindings: Binding[] = [qr.binding, kr.binding, vr.binding, or.binding];
      // Chunked head dims keep running sums in an f32 scratch shaped like this launch's output.
      if (chunks > 1) bindings.push(gpu.empty([qElems], 'f32', 'attention scratch'));
      gpu.dispatch({
        key,
        code,
        bindings,
        params: params.pack({
          Nq: nq,
          Nk,
          H,
          d,
          qStart: qs,
          causal: spec.causal ? 1 : 0,
          scale2,
          qOff: qr.elemOff,
          kOff: kr.elemOff,
          vOff: vr.elemOff,
          oOff: or.elemOff,
          qBatch: Nq * row,
          kBatch: Nk * row,
          chunks,
        }),
        workgroups: [Math.ceil(nq / rowsPerWg), nb * H, 1],
        cost: attentionCost(nb, nq, Nk, H, d, dtype, spec.causal),
      });
    });
  const maxQ = Math.min(maxDim * rowsPerWg, Math.floor(qBudget / row));
  if (Nk * row <= budget && Nq <= maxQ) {
    const chunk = Math.max(1, Math.min(B, Math.floor(qBudget / (Nq * row)), Math.floor(budget / (Nk * row)), Math.floor(maxDim / H)));
    if (H > maxDim) throw new LimitError('LIMIT_EXCEEDED', `attention: ${H} heads exceed ${maxDim} workgroups per dimension`);
    for (let b0 = 0; b0 < B; b0 += chunk) launch(b0, Math.min(chunk, B - b0), 0, Nq);
  } else {
    const qChunk = Math.max(rowsPerWg, Math.floor(maxQ / rowsPerWg) * rowsPerWg);
    for (let b0 = 0; b0 < B; b0++) for (let qs = 0; qs < Nq; qs += qChunk) launch(b0, 1, qs, Math.min(qChunk, Nq - qs));
  }
  return out;
}

/**
 * flops: 4·d per (query, visible key) pair (Q·Kᵀ and P·V; exp and max not counted), over B·H heads.
 * bytes: Q, K, V read and O written once each.
 */
export function attentionCost(B: number, Nq: number, Nk: number, H: number, d: number, dtype: DType, causal = false): Cost {
  let pairs = Nq * Nk;
  if (causal) {
    pairs = 0;
    for (let i = 0; i < Nq; i++) pairs += Math.min(Nk, i + 1);
  }
  const es = dtype === 'f32' ? 4 : 2;
  return { flops: 4 * B * H * d * pairs, bytes: es * B * H * d * 2 * (Nq + Nk) };
}
