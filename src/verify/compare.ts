/**
 * Comparison of an engine output with a fixture output, as the fixtures define correctness: float outputs
 * within `max_abs` (and `max_rel`, relative to the reference's max |value|, not per element); integer outputs
 * (token ids, integer timesteps) exactly.
 */
import type { TensorSpec } from './manifest.js';

export interface OutputCheck {
  /** Case name. */
  case: string;
  module: string;
  /** Output tensor name. */
  output: string;
  maxAbs: number;
  maxRel: number;
  /** Allowed max |error| (0 for exact outputs). */
  tolAbs: number;
  tolRel: number;
  pass: boolean;
  /** The output is a reference of another library that the engine deliberately does not compute. */
  notApplicable?: boolean;
  /** Why it failed, when it did for a reason other than the numbers (shape, missing output). */
  detail?: string;
}

const INTEGER_DTYPES = new Set(['I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

export function compareOutput(
  where: { case: string; module: string; output: string },
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  spec: TensorSpec | undefined,
): OutputCheck {
  const exact = !spec?.tolerance || INTEGER_DTYPES.has(spec.dtype);
  const tolAbs = exact ? 0 : (spec?.tolerance?.max_abs ?? 0);
  const tolRel = exact ? 0 : (spec?.tolerance?.max_rel ?? Number.POSITIVE_INFINITY);
  if (got.length !== want.length) {
    return {
      ...where,
      maxAbs: Number.POSITIVE_INFINITY,
      maxRel: Number.POSITIVE_INFINITY,
      tolAbs,
      tolRel,
      pass: false,
      detail: `${got.length} values computed, the reference has ${want.length}`,
    };
  }
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    const d = Math.abs(g - w);
    // NaN anywhere (got or want) counts as an infinite error.
    maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(w));
  }
  // max_rel is relative to the reference's scale: the manifest's own when it records one.
  const ref = spec?.tolerance?.ref_max_abs_value ?? scale;
  const maxRel = ref > 0 ? maxAbs / ref : maxAbs;
  const pass = exact ? maxAbs === 0 : maxAbs <= tolAbs && maxRel <= tolRel;
  return { ...where, maxAbs, maxRel, tolAbs, tolRel, pass };
}

/** A check that could not be computed (a module the engine does not support, an error while running it). */
export function failedCheck(where: { case: string; module: string; output: string }, detail: string): OutputCheck {
  return {
    ...where,
    maxAbs: Number.NaN,
    maxRel: Number.NaN,
    tolAbs: Number.NaN,
    tolRel: Number.NaN,
    pass: false,
    detail,
  };
}

/** An output the manifest holds for reference only (another library's result): neither a pass nor a failure. */
export function notComputed(where: { case: string; module: string; output: string }, why: string): OutputCheck {
  return { ...failedCheck(where, `not computed: ${why}`), pass: true, notApplicable: true };
}
