/**
 * Small typed helpers that kernels use to generate WGSL: a uniform params struct with its packer, buffer
 * declarations, and a 2D dispatch grid for more workgroups than one dimension allows.
 */
import type { DType } from './dtype.js';

export type ScalarType = 'u32' | 'i32' | 'f32';

/** A uniform struct of 4-byte scalars: its WGSL declaration and a packer that writes values in order. */
export interface ParamsLayout<K extends string> {
  readonly names: readonly K[];
  /** `struct Params {...}` plus the `var<uniform> p: Params` at `binding`. */
  declare(binding: number): string;
  pack(values: Record<K, number>): ArrayBuffer;
}

export function defineParams<K extends string>(fields: Record<K, ScalarType>): ParamsLayout<K> {
  const names = Object.keys(fields) as K[];
  return {
    names,
    declare(binding: number): string {
      const members = names.map((n) => `  ${n}: ${fields[n]},`).join('\n');
      return `struct Params {\n${members}\n};\n@group(0) @binding(${binding}) var<uniform> p: Params;\n`;
    },
    pack(values: Record<K, number>): ArrayBuffer {
      const buf = new ArrayBuffer(Math.max(16, Math.ceil((names.length * 4) / 16) * 16));
      const dv = new DataView(buf);
      names.forEach((n, i) => {
        const v = values[n];
        if (v === undefined) throw new Error(`param ${n} missing`);
        const t = fields[n];
        if (t === 'f32') dv.setFloat32(i * 4, v, true);
        else if (t === 'i32') dv.setInt32(i * 4, v, true);
        else dv.setUint32(i * 4, v, true);
      });
      return buf;
    },
  };
}

/** WGSL storage element type for a tensor dtype. */
export function wgslType(dtype: DType): 'f32' | 'f16' {
  return dtype;
}

/** `enable f16;` when any of the dtypes is f16. Must be the first line of a shader. */
export function enables(...dtypes: DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/** Storage buffer declaration: `@group(0) @binding(i) var<storage, read> name: array<T>;` */
export function storage(binding: number, name: string, type: string, access: 'read' | 'read_write'): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;\n`;
}

export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Splits `count` workgroups into an x×y grid within the per-dimension limit. Kernels recover the linear
 * workgroup index with `linearWorkgroup()` and must bounds-check it (the grid may overshoot).
 */
export function grid2d(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(count / y), y];
}

/** WGSL expression for the linear workgroup index under `grid2d` (needs `@builtin(num_workgroups) nwg`). */
export const linearWorkgroup = '(wid.x + wid.y * nwg.x)';
