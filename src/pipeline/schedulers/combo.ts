/**
 * A linear combination of tensors kept symbolic on the host: Σ cᵢ·xᵢ with double coefficients. Schedulers
 * build predictions and updates as combos (x₀ from sample and model output, PLMS/LMS/DPM history terms) and
 * materialise only what is returned, so every output is one `lincomb` whose coefficients were multiplied out
 * in double precision: fewer kernels and no float32 cancellation in the coefficients.
 */
import type { LatentOps, Term } from './latent-ops.js';

export class Combo<T> {
  private constructor(private readonly terms: ReadonlyMap<T, number>) {}

  static of<T>(...terms: ReadonlyArray<Term<T>>): Combo<T> {
    const m = new Map<T, number>();
    for (const [c, x] of terms) m.set(x, (m.get(x) ?? 0) + c);
    return new Combo(m);
  }

  static zero<T>(): Combo<T> {
    return new Combo(new Map());
  }

  plus(other: Combo<T>, scale = 1): Combo<T> {
    const m = new Map(this.terms);
    for (const [x, c] of other.terms) m.set(x, (m.get(x) ?? 0) + scale * c);
    return new Combo(m);
  }

  minus(other: Combo<T>): Combo<T> {
    return this.plus(other, -1);
  }

  times(s: number): Combo<T> {
    const m = new Map<T, number>();
    for (const [x, c] of this.terms) m.set(x, c * s);
    return new Combo(m);
  }

  /** The coefficient of `x` (0 if absent). */
  coefficient(x: T): number {
    return this.terms.get(x) ?? 0;
  }

  /** The combination as one new tensor. Terms with a zero coefficient are left out. */
  materialize(ops: LatentOps<T>): T {
    const terms: Term<T>[] = [];
    for (const [x, c] of this.terms) if (c !== 0) terms.push([c, x]);
    if (terms.length === 0) {
      // All coefficients cancelled exactly: still return a tensor of the right shape.
      const any = this.terms.keys().next();
      if (any.done) throw new Error('materialize: empty combination');
      return ops.lincomb([[0, any.value]]);
    }
    return ops.lincomb(terms);
  }
}
