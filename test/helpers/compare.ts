/** Numeric comparison used by kernel and model tests; the bound is stated at each call site. */
export interface Diff {
  maxAbs: number;
  maxRel: number;
  worstIndex: number;
  nonFinite: number;
}

/** max |got - want| and that over max |want| (scale-relative, as the fixtures define it). */
export function diff(got: ArrayLike<number>, want: ArrayLike<number>): Diff {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  let maxAbs = 0;
  let scale = 0;
  let worstIndex = -1;
  let nonFinite = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    if (!Number.isFinite(g) && !(Number.isNaN(w) && Number.isNaN(g)) && g !== w) nonFinite++;
    const d = Math.abs(g - w);
    if (d > maxAbs || Number.isNaN(d)) {
      maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
      worstIndex = i;
    }
    scale = Math.max(scale, Math.abs(w));
  }
  return { maxAbs, maxRel: scale > 0 ? maxAbs / scale : maxAbs, worstIndex, nonFinite };
}

/** Asserts every element is within `atol + rtol·|want|`, reporting the worst one. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length} vs ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= atol + rtol * Math.abs(w);
    if (!ok) throw new Error(`${what}: element ${i}: got ${g}, want ${w} (atol ${atol}, rtol ${rtol})`);
  }
}
