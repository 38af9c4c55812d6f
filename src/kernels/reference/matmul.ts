/** Naive float64 CPU reference for matmul (with transposes, bias, activation and residual). */
import { activation as act } from './elementwise.js';
import type { UnaryOp } from '../elementwise.js';

export interface MatmulRefArgs {
  batch: number;
  M: number;
  K: number;
  N: number;
  transA?: boolean;
  transB?: boolean;
  /** B has one [K, N] matrix per batch item (otherwise one shared by all). */
  bBatched?: boolean;
  bias?: ArrayLike<number>;
  residual?: ArrayLike<number>;
  activation?: UnaryOp;
  /** Multiplies the final value (after the residual). */
  scale?: number;
}

/** Returns Y [batch, M, N] and, per output, Σ_k |a·b| (the scale of rounding error the sum can carry). */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, o: MatmulRefArgs): { y: Float64Array; absSum: Float64Array } {
  const { batch, M, K, N } = o;
  const y = new Float64Array(batch * M * N);
  const absSum = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ab = z * M * K;
    const bb = o.bBatched ? z * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        let sa = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ab + (o.transA ? k * M + m : m * K + k)] as number;
          const bv = b[bb + (o.transB ? n * K + k : k * N + n)] as number;
          s += av * bv;
          sa += Math.abs(av * bv);
        }
        const i = z * M * N + m * N + n;
        if (o.bias) s += o.bias[n] as number;
        s = act(o.activation ?? 'identity', s);
        if (o.residual) s += o.residual[i] as number;
        y[i] = s * (o.scale ?? 1);
        absSum[i] = sa * Math.abs(o.scale ?? 1);
      }
    }
  }
  return { y, absSum };
}
