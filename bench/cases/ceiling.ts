/**
 * The adapter's own ceilings, measured with the same dispatch path as every kernel, so each kernel's GFLOP/s
 * and GB/s can be read as a share of what this adapter can do at all (not of the CPU's datasheet peak):
 *
 * - ALU: every invocation runs `accumulators` independent multiply-add chains entirely in registers (no loads
 *   in the loop). On lavapipe this is the best any WGSL kernel can do: Mesa's NIR options lower `ffma` to a
 *   separate multiply and add (`lower_ffma32`), and each loop-carried variable costs a mask blend per
 *   iteration, so the 256-bit FMA peak (~188 GFLOP/s on this CPU) is out of reach for shader code. Each
 *   accumulator takes `chain` dependent steps as SSA values (`let`) per iteration and one loop-carried update,
 *   the structure the matmul and conv kernels use.
 * - copy: a vec4 copy of a large buffer (read + write), the bandwidth ceiling of memory-bound kernels.
 */
import type { Cost } from '../../src/kernels/cost.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { defineParams, storage } from '../../src/runtime/wgsl.js';
import type { KernelBench } from '../case.js';

export interface AluProbeSpec {
  /** Independent accumulators per invocation (registers on a GPU; > ~24 spill on lavapipe). */
  accumulators: number;
  /** Dependent multiply-adds per accumulator per loop iteration, kept as SSA values. */
  chain: number;
}

const WG = 64;
const aluParams = defineParams({ iterations: 'u32', m: 'f32', c: 'f32' });

/** The probe's WGSL: `a ← a·m + c`, `chain` times per iteration, for each of the accumulators. */
export function aluProbeWgsl(s: AluProbeSpec): string {
  const accs = [...Array(s.accumulators).keys()];
  const steps = [...Array(s.chain).keys()];
  const update = (i: number) =>
    `{ ${steps.map((k) => `let t${k} = fma(${k === 0 ? `a${i}` : `t${k - 1}`}, p.m, p.c);`).join(' ')} a${i} = t${s.chain - 1}; }`;
  return `${storage(0, 'out', 'f32', 'read_write')}${aluParams.declare(1)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  // Distinct starting values per invocation and accumulator, so nothing folds to a constant.
  ${accs.map((i) => `var a${i} = f32(gid.x % 97u) * 0.01 + ${i}.0;`).join('\n  ')}
  for (var it = 0u; it < p.iterations; it++) {
    ${accs.map(update).join('\n    ')}
  }
  out[gid.x] = ${accs.map((i) => `a${i}`).join(' + ')};
}
`;
}

/** CPU reference of one invocation's output (f32 rounding at every step, like the shader's mul-then-add). */
export function aluProbeReference(s: AluProbeSpec, invocation: number, iterations: number, m: number, c: number): number {
  const f = Math.fround;
  let sum = 0;
  for (let i = 0; i < s.accumulators; i++) {
    let a = f(f((invocation % 97) * 0.01) + i);
    for (let it = 0; it < iterations * s.chain; it++) a = f(f(a * m) + c);
    sum = f(sum + a);
  }
  return sum;
}

export function aluProbeCost(s: AluProbeSpec, invocations: number, iterations: number): Cost {
  return { flops: 2 * s.accumulators * s.chain * iterations * invocations, bytes: 4 * invocations };
}

/** Launches the probe: `workgroups` × 64 invocations into `out` (one f32 each). */
export function launchAluProbe(gpu: Gpu, s: AluProbeSpec, out: Tensor, workgroups: number, iterations: number, m = 0.999, c = 0.001): void {
  gpu.dispatch({
    key: `bench:alu-probe:${s.accumulators}x${s.chain}`,
    code: () => aluProbeWgsl(s),
    bindings: [out],
    params: aluParams.pack({ iterations, m, c }),
    workgroups: [workgroups],
    cost: aluProbeCost(s, workgroups * WG, iterations),
  });
}

/** Enough work per launch (~2 GFLOP) that the dispatch overhead is noise. */
const PROBE_GROUPS = 512;
function probeIterations(s: AluProbeSpec): number {
  return Math.max(1, Math.round(2 ** 31 / (2 * s.accumulators * s.chain * PROBE_GROUPS * WG)));
}

/** Register-resident (24 accumulators, the best here) and spilled (256, like the conv's register block). */
export const ALU_PROBES: AluProbeSpec[] = [
  { accumulators: 24, chain: 8 },
  { accumulators: 256, chain: 8 },
];

const COPY_FLOATS = 16 * 2 ** 20; // 64 MiB each way

export const ceilingBenches: KernelBench[] = [
  ...ALU_PROBES.map(
    (s): KernelBench => ({
      kernel: 'ceiling: ALU',
      shape: `${s.accumulators}acc x ${s.chain}`,
      dtype: 'f32',
      cost: aluProbeCost(s, PROBE_GROUPS * WG, probeIterations(s)),
      setup(gpu: Gpu) {
        const out = gpu.empty([PROBE_GROUPS * WG]);
        return () => launchAluProbe(gpu, s, out, PROBE_GROUPS, probeIterations(s));
      },
    }),
  ),
  {
    kernel: 'ceiling: copy',
    shape: `${COPY_FLOATS / 2 ** 20}Mi f32`,
    dtype: 'f32',
    cost: { flops: 0, bytes: 8 * COPY_FLOATS },
    setup(gpu: Gpu) {
      const src = gpu.zeros([COPY_FLOATS]);
      const dst = gpu.empty([COPY_FLOATS]);
      return () =>
        gpu.dispatch({
          key: 'bench:copy-probe',
          code: () => `${storage(0, 'src', 'vec4<f32>', 'read')}${storage(1, 'dst', 'vec4<f32>', 'read_write')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}
`,
          bindings: [src, dst],
          workgroups: [256, COPY_FLOATS / 4 / WG / 256],
          cost: { flops: 0, bytes: 8 * COPY_FLOATS },
        });
    },
  },
];
