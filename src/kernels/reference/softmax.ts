/** Naive float64 CPU reference for softmax over the last axis (with scale and top-left causal mask). */
export function softmaxRef(x: ArrayLike<number>, shape: readonly number[], scale = 1, causal = false): Float64Array {
  const cols = shape[shape.length - 1] as number;
  const qLen = causal ? (shape[shape.length - 2] as number) : 1;
  const rows = cols === 0 ? 0 : x.length / cols;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const lim = causal ? Math.min(cols, (r % qLen) + 1) : cols;
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < lim; j++) m = Math.max(m, scale * (x[r * cols + j] as number));
    let s = 0;
    for (let j = 0; j < lim; j++) s += Math.exp(scale * (x[r * cols + j] as number) - m);
    for (let j = 0; j < cols; j++) y[r * cols + j] = j < lim ? Math.exp(scale * (x[r * cols + j] as number) - m) / s : 0;
  }
  return y;
}
