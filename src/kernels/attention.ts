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
 *   one pipeline per bucket and dtype.
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
  tile?: { rows: number; keys: number; oMem?: boolean };
  /** Binding-size limit to split against (default and cap: the device's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

/** Head dims are rounded up to one of these for code generation (SD uses 40/80/160, SD2/CLIP 64, VAE 512). */
export const HEAD_DIM_BUCKETS = [16, 40, 64, 80, 160, 512] as const;
export const MAX_HEAD_DIM = 512;

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
  /** Keep the output block in a private array walked by a channel loop (small code for large d). */
  oMem: boolean;
}

/** Tile per head-dim bucket for 8-wide subgroups (measured on lavapipe; other sizes scale RQ and KB). */
function defaultTile(bucket: number, S: number): { rows: number; keys: number; oMem?: boolean } {
  const rq = bucket <= 64 ? 32 : bucket <= 80 ? 16 : 8;
  return { rows: Math.max(1, Math.round(rq / S)), keys: Math.max(1, Math.round(32 / S)) };
}

const header = (dtype: DType, subgroups: boolean) =>
  `${enables(dtype)}${subgroups ? 'enable subgroups;\n' : ''}${storage(0, 'Q', dtype, 'read')}${storage(1, 'K', dtype, 'read')}${storage(2, 'V', dtype, 'read')}${storage(3, 'O', dtype, 'read_write')}${params.declare(4)}`;

/** Shared prologue: batch/head of this workgroup and the base element index of its rows in each tensor. */
const PROLOGUE = `  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let rs = p.H * p.d;
  let qb = p.qOff + b * p.qBatch + h * p.d;
  let ob = p.oOff + b * p.qBatch + h * p.d;
  let kb = p.kOff + b * p.kBatch + h * p.d;
  let vb = p.vOff + b * p.kBatch + h * p.d;`;

function subgroupKernel(c: SubgroupConfig): string {
  const { S, DC, RC, KL, dtype } = c;
  const RQ = RC * S;
  const KB = KL * S;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  L(header(dtype, true));
  L(`@compute @workgroup_size(${S})`);
  L('fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {');
  L(PROLOGUE);
  L(`  let q0 = wid.x * ${RQ}u;`);
  for (const r of range(RC)) L(`  let qa${r} = qb + min(q0 + ${r * S}u + lane, p.Nq - 1u) * rs;`);
  for (const ch of range(DC)) L(`  let col${ch} = min(${ch * S}u + lane, p.d - 1u);`);
  // Keys visible to query i: all, or (causal) those up to its global index.
  for (const i of range(RQ)) {
    L(`  let lim${i} = select(p.Nk, min(p.Nk, p.qStart + q0 + ${i + 1}u), p.causal != 0u);`);
    L(`  var m${i} = ${MASKED}; var l${i} = 0.0; var cr${i} = 1.0;`);
    if (!c.oMem) for (const ch of range(DC)) L(`  var o${i}_${ch} = 0.0;`);
  }
  if (c.oMem) L(`  var o: array<f32, ${RQ * DC}>;`);
  // Causal: no query of this workgroup sees keys past its last one.
  L(`  let kEnd = select(p.Nk, min(p.Nk, p.qStart + q0 + ${RQ}u), p.causal != 0u);`);
  L(`  for (var k0 = 0u; k0 < kEnd; k0 += ${KB}u) {`);
  for (const t of range(KL)) L(`    let ka${t} = kb + min(k0 + ${t * S}u + lane, p.Nk - 1u) * rs;`);
  for (const i of range(RQ))
    L(
      `    var s${i}_0 = 0.0;${range(KL - 1)
        .map((t) => ` var s${i}_${t + 1} = 0.0;`)
        .join('')}`,
    );
  // 1. Scores: lane owns keys k0 + t·S + lane; queries come from their lanes by broadcast.
  L('    for (var c = 0u; c < p.d; c++) {');
  for (const r of range(RC)) L(`      let qv${r} = f32(Q[qa${r} + c]);`);
  for (const t of range(KL)) L(`      let kv${t} = f32(K[ka${t} + c]);`);
  for (const r of range(RC))
    for (const j of range(S)) {
      const i = r * S + j;
      L(
        `      { let x = subgroupBroadcast(qv${r}, ${j}u);${range(KL)
          .map((t) => ` s${i}_${t} += x * kv${t};`)
          .join('')} }`,
      );
    }
  L('    }');
  // 2. Online softmax in base 2 (scale2 = scale·log2 e).
  for (const t of range(KL)) L(`    let key${t} = k0 + ${t * S}u + lane;`);
  for (const i of range(RQ)) {
    for (const t of range(KL)) L(`    s${i}_${t} = select(${MASKED}, s${i}_${t} * p.scale2, key${t} < lim${i});`);
    const mx = range(KL)
      .map((t) => `s${i}_${t}`)
      .reduce((a, b) => `max(${a}, ${b})`);
    L(`    { let mn = max(m${i}, subgroupMax(${mx}));`);
    L(`      let cr = exp2(m${i} - mn); m${i} = mn;`);
    for (const t of range(KL)) L(`      s${i}_${t} = exp2(s${i}_${t} - mn);`);
    L(
      `      l${i} = l${i} * cr + ${range(KL)
        .map((t) => `s${i}_${t}`)
        .join(' + ')};`,
    );
    if (c.oMem) L(`      cr${i} = cr; }`);
    else
      L(
        `     ${range(DC)
          .map((ch) => ` o${i}_${ch} *= cr;`)
          .join('')} }`,
      );
  }
  if (c.oMem) {
    L(`    for (var ch = 0u; ch < ${DC}u; ch++) {`);
    for (const i of range(RQ)) L(`      o[${i * DC}u + ch] *= cr${i};`);
    L('    }');
  }
  // 3. P·V: lane owns channels ch·S + lane; key k0 + t·S + j's probabilities live in lane j.
  for (const t of range(KL)) {
    L(`    for (var j = 0u; j < ${S}u; j++) {`);
    L(`      let va = vb + min(k0 + ${t * S}u + j, p.Nk - 1u) * rs;`);
    if (c.oMem) {
      for (const i of range(RQ)) L(`      let x${i} = subgroupShuffle(s${i}_${t}, j);`);
      L(`      for (var ch = 0u; ch < ${DC}u; ch++) {`);
      L(`        let vv = f32(V[va + min(ch * ${S}u + lane, p.d - 1u)]);`);
      for (const i of range(RQ)) L(`        o[${i * DC}u + ch] += x${i} * vv;`);
      L('      }');
      L('    }');
      continue;
    }
    for (const ch of range(DC)) L(`      let v${ch} = f32(V[va + col${ch}]);`);
    for (const i of range(RQ)) {
      L(
        `      { let x = subgroupShuffle(s${i}_${t}, j);${range(DC)
          .map((ch) => ` o${i}_${ch} += x * v${ch};`)
          .join('')} }`,
      );
    }
    L('    }');
  }
  L('  }');
  for (const i of range(RQ)) {
    L(`  { let inv = 1.0 / subgroupAdd(l${i});`);
    L(`    if (q0 + ${i}u < p.Nq) {`);
    L(`      let oa = ob + (q0 + ${i}u) * rs;`);
    if (c.oMem)
      L(
        `      for (var ch = 0u; ch < ${DC}u; ch++) { if (ch * ${S}u + lane < p.d) { O[oa + ch * ${S}u + lane] = ${dtype}(o[${i * DC}u + ch] * inv); } }`,
      );
    else for (const ch of range(DC)) L(`      if (${ch * S}u + lane < p.d) { O[oa + ${ch * S}u + lane] = ${dtype}(o${i}_${ch} * inv); }`);
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
  return `${header(dtype, false)}
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

/** The head-dim bucket `d` compiles to (one pipeline per bucket and dtype). */
export function headDimBucket(d: number): number {
  const b = HEAD_DIM_BUCKETS.find((x) => d <= x);
  if (b === undefined) throw new ShapeError(`attention: head dim ${d} is over the supported maximum ${MAX_HEAD_DIM}`);
  return b;
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
  headDimBucket(d);
  return { B, Nq, H, Nk, d };
}

/** Attention output [B, Nq, H, d] in Q's dtype. Splits launches so every binding fits the adapter's limit. */
export function attention(gpu: Gpu, inputs: AttentionInputs, spec: AttentionSpec = {}): Tensor {
  const { q, k, v } = inputs;
  const { B, Nq, Nk, H, d } = attentionShape(q, k, v);
  const out = gpu.empty(q.shape, q.dtype, 'attention out');
  if (out.numel === 0) return out;
  const dtype = q.dtype;
  const bucket = headDimBucket(d);
  const path = spec.impl === 'subgroup' || attentionPath(gpu, spec) === 'subgroup' ? 'subgroup' : 'portable';
  const S = fixedSubgroupSize(gpu);
  if (path === 'subgroup' && S === null) {
    throw new LimitError('MISSING_FEATURE', "attention: impl 'subgroup' needs the 'subgroups' feature with one fixed subgroup size");
  }
  let key: string;
  let code: () => string;
  let rowsPerWg: number;
  if (path === 'subgroup' && S !== null) {
    const tile = spec.tile ?? defaultTile(bucket, S);
    const cfg: SubgroupConfig = { dtype, S, DC: Math.ceil(bucket / S), RC: tile.rows, KL: tile.keys, oMem: !!tile.oMem };
    key = `attention:sg${S}:${dtype}:${cfg.DC}:${cfg.RC}:${cfg.KL}:${cfg.oMem}`;
    code = () => subgroupKernel(cfg);
    rowsPerWg = cfg.RC * S;
  } else {
    key = `attention:portable:${dtype}:${bucket}`;
    code = () => portableKernel(dtype, bucket);
    rowsPerWg = P_WG;
  }

  // Launch plan: whole batch items while Q/O and K/V bindings fit; else one item in query ranges.
  const row = H * d;
  const budget = bindingBudget(gpu, spec.maxBindingBytes) / (dtype === 'f32' ? 4 : 2);
  if (Nk * row > budget) {
    throw new LimitError(
      'LIMIT_EXCEEDED',
      `attention: K/V of one batch item (${Nk}×${H}×${d} ${dtype}) exceed this adapter's maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}; use fewer keys or split the heads before calling attention`,
    );
  }
  const maxDim = Number(gpu.limits.maxComputeWorkgroupsPerDimension);
  const scale2 = (spec.scale ?? 1 / Math.sqrt(d)) * Math.LOG2E;
  const launch = (b0: number, nb: number, qs: number, nq: number) => {
    const qr = bindElements(gpu, q, (b0 * Nq + qs) * row, ((nb - 1) * Nq + nq) * row);
    const or = bindElements(gpu, out, (b0 * Nq + qs) * row, ((nb - 1) * Nq + nq) * row);
    const kr = bindElements(gpu, k, b0 * Nk * row, nb * Nk * row);
    const vr = bindElements(gpu, v, b0 * Nk * row, nb * Nk * row);
    const bindings: Binding[] = [qr.binding, kr.binding, vr.binding, or.binding];
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
      }),
      workgroups: [Math.ceil(nq / rowsPerWg), nb * H, 1],
      cost: attentionCost(nb, nq, Nk, H, d, dtype, spec.causal),
    });
  };
  const perItem = Math.max(Nq, Nk) * row;
  const maxQ = Math.min(maxDim * rowsPerWg, Math.floor(budget / row));
  if (perItem <= budget && Nq <= maxQ) {
    const chunk = Math.max(1, Math.min(B, Math.floor(budget / perItem), Math.floor(maxDim / H)));
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
