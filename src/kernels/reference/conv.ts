/** Naive float64 CPU reference for channels-last 2D/3D convolution with PyTorch-layout weights. */

export interface ConvRefArgs {
  /** Input values, channels-last [N, (D,) H, W, Cin]. */
  x: ArrayLike<number>;
  xShape: readonly number[];
  /** PyTorch weight [Cout, Cin, (kd,) kh, kw]. */
  w: ArrayLike<number>;
  wShape: readonly number[];
  bias?: ArrayLike<number>;
  residual?: ArrayLike<number>;
  stride: readonly number[];
  /** [before, after] per spatial axis. */
  padding: readonly (readonly [number, number])[];
  scale?: number;
}

/**
 * `(conv(x) + bias + residual) * scale`, one output element at a time, in float64. `absSum` is the sum of
 * the magnitudes of everything added into each output (|x·w| terms, |bias|, |residual|), before scaling:
 * the quantity a floating-point summation error bound is proportional to.
 */
export function convRef(a: ConvRefArgs): { data: Float64Array; absSum: Float64Array; shape: number[]; k: number } {
  const rank = a.wShape.length - 2;
  // Lift 2D to 3D with a depth of 1.
  const lift = (v: readonly number[], one: number) => (rank === 2 ? [one, ...v] : [...v]);
  const [cout, cin] = a.wShape as [number, number];
  const [kd, kh, kw] = lift(a.wShape.slice(2), 1) as [number, number, number];
  const n = a.xShape[0] as number;
  const [D, H, W] = lift(a.xShape.slice(1, rank + 1), 1) as [number, number, number];
  const [sd, sh, sw] = lift(a.stride, 1) as [number, number, number];
  const pads = rank === 2 ? [[0, 0] as const, ...a.padding] : [...a.padding];
  const [pd, ph, pw] = pads.map((q) => q[0]) as [number, number, number];
  const outSp = [D, H, W].map((d, i) => Math.floor((d + pads[i]![0] + pads[i]![1] - [kd, kh, kw][i]!) / [sd, sh, sw][i]!) + 1);
  const [oD, oH, oW] = outSp as [number, number, number];
  const out = new Float64Array(n * oD * oH * oW * cout);
  const absSum = new Float64Array(out.length);
  let o = 0;
  for (let b = 0; b < n; b++)
    for (let z = 0; z < oD; z++)
      for (let y = 0; y < oH; y++)
        for (let x = 0; x < oW; x++)
          for (let co = 0; co < cout; co++) {
            let s = a.bias ? (a.bias[co] as number) : 0;
            let m = Math.abs(s);
            for (let tz = 0; tz < kd; tz++) {
              const iz = z * sd - pd + tz;
              if (iz < 0 || iz >= D) continue;
              for (let ty = 0; ty < kh; ty++) {
                const iy = y * sh - ph + ty;
                if (iy < 0 || iy >= H) continue;
                for (let tx = 0; tx < kw; tx++) {
                  const ix = x * sw - pw + tx;
                  if (ix < 0 || ix >= W) continue;
                  const xo = (((b * D + iz) * H + iy) * W + ix) * cin;
                  for (let ci = 0; ci < cin; ci++) {
                    const wi = (((co * cin + ci) * kd + tz) * kh + ty) * kw + tx;
                    const t = (a.x[xo + ci] as number) * (a.w[wi] as number);
                    s += t;
                    m += Math.abs(t);
                  }
                }
              }
            }
            if (a.residual) {
              s += a.residual[o] as number;
              m += Math.abs(a.residual[o] as number);
            }
            absSum[o] = m;
            out[o++] = s * (a.scale ?? 1);
          }
  return { data: out, absSum, shape: [n, ...(rank === 2 ? [oH, oW] : [oD, oH, oW]), cout], k: kd * kh * kw * cin };
}
