/**
 * Naive float64 CPU reference for multi-head attention over channels-last token layouts: Q [B, Nq, H, d],
 * K and V [B, Nk, H, d], output [B, Nq, H, d]. It builds each query's full score row (an N×N-free kernel's
 * job is the GPU's, not this one's) and takes a max-subtracted softmax.
 */
export interface AttentionRefArgs {
  B: number;
  Nq: number;
  Nk: number;
  H: number;
  d: number;
  /** Default 1/√d. */
  scale?: number;
  /** Query i sees keys j <= i (top-left aligned). */
  causal?: boolean;
}

export interface AttentionRefResult {
  y: Float64Array;
  /** Per (b, i, h): scale · max_j Σ_c |q_c·k_jc|, the size of the largest score's terms. */
  scoreAbs: Float64Array;
  /** Per (b, i, h): max |v| over the keys that query sees. */
  vAbs: Float64Array;
}

export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, a: AttentionRefArgs): AttentionRefResult {
  const { B, Nq, Nk, H, d } = a;
  const scale = a.scale ?? 1 / Math.sqrt(d);
  const y = new Float64Array(B * Nq * H * d);
  const scoreAbs = new Float64Array(B * Nq * H);
  const vAbs = new Float64Array(B * Nq * H);
  const s = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Nq; i++) {
        const qa = ((b * Nq + i) * H + h) * d;
        const lim = a.causal ? Math.min(Nk, i + 1) : Nk;
        let m = Number.NEGATIVE_INFINITY;
        let sa = 0;
        let va = 0;
        for (let j = 0; j < lim; j++) {
          const ka = ((b * Nk + j) * H + h) * d;
          let dot = 0;
          let abs = 0;
          for (let c = 0; c < d; c++) {
            dot += (q[qa + c] as number) * (k[ka + c] as number);
            abs += Math.abs((q[qa + c] as number) * (k[ka + c] as number));
            va = Math.max(va, Math.abs(v[ka + c] as number));
          }
          s[j] = scale * dot;
          sa = Math.max(sa, Math.abs(scale) * abs);
          m = Math.max(m, s[j] as number);
        }
        let sum = 0;
        for (let j = 0; j < lim; j++) {
          s[j] = Math.exp((s[j] as number) - m);
          sum += s[j] as number;
        }
        for (let c = 0; c < d; c++) {
          let acc = 0;
          for (let j = 0; j < lim; j++) acc += (s[j] as number) * (v[((b * Nk + j) * H + h) * d + c] as number);
          y[qa + c] = acc / sum;
        }
        scoreAbs[(b * Nq + i) * H + h] = sa;
        vAbs[(b * Nq + i) * H + h] = va;
      }
    }
  }
  return { y, scoreAbs, vAbs };
}
