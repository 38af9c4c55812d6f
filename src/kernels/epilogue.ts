/**
 * The fused epilogue of GEMM-like kernels (matmul, conv): `y = (act(acc + bias) + residual) * scale`.
 *
 * Everything about it is a uniform, not a compile-time choice, so one pipeline serves every combination:
 * on lavapipe each distinct generated kernel costs seconds of compile time, and a kernel whose epilogue
 * is inlined once per accumulator (hundreds of times) compiles for tens of seconds. Kernels therefore
 * stage their accumulators through workgroup memory and run the epilogue in a rolled loop
 * (`stageAndStore`), which compiles the epilogue once.
 */
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { BufferBinding } from '../runtime/recorder.js';
import { type Tensor, shapeString } from '../runtime/tensor.js';
import { type UnaryOp, activationCode } from './activation.js';

/** Host-side description of an epilogue. */
export interface Epilogue {
  /** [N], added to every row before the activation. */
  bias?: Tensor;
  activation?: UnaryOp;
  /** Same shape as the output, added after the activation. */
  residual?: Tensor;
  /** Multiplies the final value (diffusers' `1 / output_scale_factor`). Default 1. */
  scale?: number;
}

/** Uniform fields an epilogue reads; kernels add them to their params layout. */
export const EPILOGUE_PARAMS = { act: 'u32', hasBias: 'u32', hasRes: 'u32', outScale: 'f32' } as const;

export function epilogueParams(e: Epilogue): { act: number; hasBias: number; hasRes: number; outScale: number } {
  return { act: activationCode(e.activation), hasBias: e.bias ? 1 : 0, hasRes: e.residual ? 1 : 0, outScale: e.scale ?? 1 };
}

/**
 * WGSL applying the epilogue to `v` for output column `n` and output element index `idx` (into `Y`/`R`),
 * assigning the stored value. `T` is the storage type. Bias is bound as `bias`, residual as `R`.
 */
export function epilogueWgsl(T: string, v: string, n: string, idx: string): string {
  return `{
      var e = ${v};
      if (p.hasBias != 0u) { e += f32(bias[${n}]); }
      e = activate(p.act, e);
      if (p.hasRes != 0u) { e += f32(R[${idx}]); }
      Y[${idx}] = ${T}(e * p.outScale);
    }`;
}

/** Checks the bias/residual shapes against an output with `n` columns and shape `outShape`. */
export function checkEpilogue(what: string, e: Epilogue, dtype: string, n: number, outShape: readonly number[]): void {
  if (e.bias && (e.bias.rank !== 1 || e.bias.numel !== n)) {
    throw new ShapeError(`${what}: bias ${shapeString(e.bias.shape)} must be [${n}]`);
  }
  if (e.residual && shapeString(e.residual.shape) !== shapeString(outShape)) {
    throw new ShapeError(`${what}: residual ${shapeString(e.residual.shape)} must equal the output shape ${shapeString(outShape)}`);
  }
  for (const [name, t] of [
    ['bias', e.bias],
    ['residual', e.residual],
  ] as const) {
    if (t && t.dtype !== dtype) throw new ShapeError(`${what}: ${name} is ${t.dtype} but the output is ${dtype}`);
  }
}

const dummies = new WeakMap<Gpu, Tensor>();

/** A small tensor bound in place of an absent bias/residual (the kernel never reads it). */
export function dummyBinding(gpu: Gpu): Tensor {
  let t = dummies.get(gpu);
  if (!t || t.released) {
    t = gpu.keep(gpu.zeros([4], 'f32', 'epilogue-dummy'));
    dummies.set(gpu, t);
  }
  return t;
}

export type EpilogueBinding = Tensor | BufferBinding;

/**
 * WGSL that stages a block of vec4 accumulators through workgroup memory and stores them through the
 * epilogue in a rolled loop. The block is `rows` × `vn` vec4 named `acc{r}_{v}`; accumulator (r, v) holds
 * output row `rowExpr(r)` (WGSL, with `r` a u32) and columns `colExpr(v) + 0..3`. `slot` is this
 * invocation's index among `lanes` invocations of the workgroup. `store(row, col, value)` gives the WGSL
 * statement that stores one value; it must bounds-check. Stages at most `maxStage` vec4 per chunk of rows.
 * Each invocation reads back only its own slots, so no barrier is needed.
 */
export function stageAndStore(o: {
  rows: number;
  vn: number;
  lanes: number;
  slot: string;
  rowExpr: (r: string) => string;
  colExpr: (v: string) => string;
  store: (row: string, col: string, value: string) => string;
  maxStage?: number;
}): { decl: string; body: string } {
  const maxStage = o.maxStage ?? 512;
  const chunkRows = Math.max(1, Math.min(o.rows, Math.floor(maxStage / (o.lanes * o.vn))));
  const per = chunkRows * o.vn;
  const decl = `var<workgroup> stage: array<vec4f, ${o.lanes * per}>;\n`;
  const lines: string[] = [`  let stageBase = ${o.slot} * ${per}u;`];
  for (let r0 = 0; r0 < o.rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, o.rows - r0);
    for (let r = 0; r < n; r++) for (let v = 0; v < o.vn; v++) lines.push(`  stage[stageBase + ${r * o.vn + v}u] = acc${r0 + r}_${v};`);
    lines.push(
      `  for (var r = 0u; r < ${n}u; r++) {`,
      `    for (var v = 0u; v < ${o.vn}u; v++) {`,
      `      let q = stage[stageBase + r * ${o.vn}u + v];`,
      `      let row = ${o.rowExpr(`(${r0}u + r)`)};`,
      `      let col = ${o.colExpr('v')};`,
      `      for (var e = 0u; e < 4u; e++) { ${o.store('row', 'col + e', 'q[e]')} }`,
      '    }',
      '  }',
    );
  }
  return { decl, body: lines.join('\n') };
}
