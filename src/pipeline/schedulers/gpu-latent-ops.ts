/**
 * LatentOps on GPU tensors with the existing elementwise kernels: a lincomb of n terms is one `axpby` for
 * the first two terms and one more per further term (a fused n-term kernel would save the extra passes).
 */
import { axpby, binary, scale } from '../../kernels/elementwise.js';
import type { Gpu } from '../../runtime/gpu.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { LatentOps, Term } from './latent-ops.js';

export class GpuLatentOps implements LatentOps<Tensor> {
  constructor(readonly gpu: Gpu) {}

  lincomb(terms: ReadonlyArray<Term<Tensor>>): Tensor {
    const [first, second] = terms;
    if (!first) throw new Error('lincomb needs at least one term');
    if (!second) return scale(this.gpu, first[1], first[0]);
    let acc = axpby(this.gpu, first[0], first[1], second[0], second[1]);
    for (let k = 2; k < terms.length; k++) {
      const [c, x] = terms[k] as Term<Tensor>;
      const next = axpby(this.gpu, 1, acc, c, x);
      acc.release();
      acc = next;
    }
    return acc;
  }

  /** x − relu(x − hi) + relu(lo − x): exact where lo ≤ x ≤ hi (both relu terms are 0 there). */
  clamp(x: Tensor, lo: number, hi: number): Tensor {
    const hiT = this.gpu.upload([hi], [1], x.dtype);
    const loT = this.gpu.upload([lo], [1], x.dtype);
    const over = binary(this.gpu, x, hiT, { op: 'sub', activation: 'relu' });
    const under = binary(this.gpu, x, loT, { op: 'sub', alpha: -1, beta: -1, activation: 'relu' });
    const y = this.lincomb([
      [1, x],
      [-1, over],
      [1, under],
    ]);
    for (const t of [hiT, loT, over, under]) t.release();
    return y;
  }

  retain(x: Tensor): Tensor {
    return this.gpu.keep(x);
  }

  drop(x: Tensor): void {
    x.release();
  }
}
