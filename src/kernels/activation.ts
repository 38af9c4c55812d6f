/**
 * Activation functions in WGSL: as an inlined expression (`activationWgsl`) or as one `activate(code, x)`
 * function switching on a uniform code, which lets one pipeline serve every activation.
 */
import { ShapeError } from '../runtime/errors.js';

export type UnaryOp = 'identity' | 'silu' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'relu' | 'sigmoid' | 'tanh' | 'exp' | 'neg';

/** WGSL for `y = act(x)` on an f32 value. gelu uses an erf with |error| < 1.2e-7 (Numerical Recipes erfc). */
export function activationWgsl(op: UnaryOp, x: string): string {
  switch (op) {
    case 'identity':
      return x;
    case 'silu':
      return `(${x} / (1.0 + exp(-${x})))`;
    case 'gelu':
      return `(0.5 * ${x} * (1.0 + erf_f32(${x} * 0.70710678118654752)))`;
    case 'gelu_tanh':
      return `(0.5 * ${x} * (1.0 + tanh_f32(0.7978845608028654 * (${x} + 0.044715 * ${x} * ${x} * ${x}))))`;
    case 'quick_gelu':
      return `(${x} / (1.0 + exp(-1.702 * ${x})))`;
    case 'relu':
      return `max(${x}, 0.0)`;
    case 'sigmoid':
      return `(1.0 / (1.0 + exp(-${x})))`;
    case 'tanh':
      return `tanh_f32(${x})`;
    case 'exp':
      return `exp(${x})`;
    case 'neg':
      return `(-${x})`;
  }
}

/** Accurate erf/tanh helpers for f32 (WGSL's built-in tanh overflows to NaN for large |x| on some drivers). */
export const MATH_HELPERS = /* wgsl */ `
fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
      t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
      t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, x >= 0.0);
}
fn tanh_f32(x: f32) -> f32 {
  let z = clamp(x, -15.0, 15.0);
  if (abs(z) < 0.02) { return z * (1.0 - z * z / 3.0); }
  let e = exp(2.0 * z);
  return (e - 1.0) / (e + 1.0);
}
`;

/** Every activation, in the order of their uniform codes (kernels switch on the code at run time). */
export const ACTIVATIONS: readonly UnaryOp[] = [
  'identity',
  'silu',
  'gelu',
  'gelu_tanh',
  'quick_gelu',
  'relu',
  'sigmoid',
  'tanh',
  'exp',
  'neg',
];

export function activationCode(op: UnaryOp | undefined): number {
  const code = ACTIVATIONS.indexOf(op ?? 'identity');
  if (code < 0) throw new ShapeError(`unknown activation ${op}`);
  return code;
}

/** WGSL: `fn activate(code, x)` switching over `ACTIVATIONS` (needs MATH_HELPERS). */
export function activateFnWgsl(): string {
  const cases = ACTIVATIONS.map((op, i) => `    case ${i}u: { return ${activationWgsl(op, 'x')}; }`).join('\n');
  return `${MATH_HELPERS}
fn activate(code: u32, x: f32) -> f32 {
  switch code {
${cases}
    default: { return x; }
  }
}
`;
}
