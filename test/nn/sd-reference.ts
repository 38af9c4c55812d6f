/**
 * A deliberately plain float64 CPU re-implementation of diffusers' UNet2DConditionModel and AutoencoderKL
 * (channels-last, as the engine), written from the diffusers source. It is the yardstick for the GPU models:
 * it must reproduce the fixtures to their float32-vs-float64 error (it is a float64 run), and when a GPU
 * case fails, its intermediate tensors locate the layer where the GPU diverges.
 */
import { timestepFrequencies } from '../../src/kernels/embedding.js';
import { type Param, type WeightReader, expectedKeys } from '../../src/nn/params.js';
import type { UNetConfig } from '../../src/nn/unet/config.js';
import type { AutoencoderKLConfig } from '../../src/nn/vae/config.js';

/** A channels-last feature map [n, h, w, c] (or token rows [n, h = tokens, w = 1, c]). */
export interface Img {
  n: number;
  h: number;
  w: number;
  c: number;
  d: Float64Array<ArrayBufferLike>;
}

export type Weights = (name: string) => Float64Array;

/** Records named intermediates when given (for layer-by-layer comparison). */
export type Trace = ((name: string, x: Img) => void) | undefined;

export const img = (
  n: number,
  h: number,
  w: number,
  c: number,
  d: Float64Array<ArrayBufferLike> = new Float64Array(n * h * w * c),
): Img => ({ n, h, w, c, d });

/** NCHW data (as the fixtures store it) → channels-last. */
export function fromNchw(data: ArrayLike<number>, n: number, c: number, h: number, w: number): Img {
  const out = img(n, h, w, c);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out.d[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x] as number;
  return out;
}

/** channels-last → NCHW. */
export function toNchw(x: Img): Float64Array {
  const out = new Float64Array(x.d.length);
  for (let b = 0; b < x.n; b++)
    for (let ch = 0; ch < x.c; ch++)
      for (let y = 0; y < x.h; y++)
        for (let i = 0; i < x.w; i++) out[((b * x.c + ch) * x.h + y) * x.w + i] = x.d[((b * x.h + y) * x.w + i) * x.c + ch] as number;
  return out;
}

// ---- layers ---------------------------------------------------------------------------------------------

export function conv2d(
  x: Img,
  W: Weights,
  name: string,
  cout: number,
  k: number,
  stride = 1,
  pad: readonly [number, number, number, number] = [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2],
): Img {
  const w = W(`${name}.weight`);
  const b = W(`${name}.bias`);
  const [pt, pb, pl, pr] = pad;
  const oh = Math.floor((x.h + pt + pb - k) / stride) + 1;
  const ow = Math.floor((x.w + pl + pr - k) / stride) + 1;
  const y = img(x.n, oh, ow, cout);
  const cin = x.c;
  for (let n = 0; n < x.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let co = 0; co < cout; co++) {
          let s = b[co] as number;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride + ky - pt;
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride + kx - pl;
              if (ix < 0 || ix >= x.w) continue;
              const xo = ((n * x.h + iy) * x.w + ix) * cin;
              for (let ci = 0; ci < cin; ci++) s += (x.d[xo + ci] as number) * (w[((co * cin + ci) * k + ky) * k + kx] as number);
            }
          }
          y.d[((n * oh + oy) * ow + ox) * cout + co] = s;
        }
  return y;
}

/** `torch.nn.Linear` on the last axis; weight [out, in]. */
export function linear(x: Img, W: Weights, name: string, out: number, bias = true): Img {
  const w = W(`${name}.weight`);
  const b = bias ? W(`${name}.bias`) : null;
  const rows = x.n * x.h * x.w;
  const y = img(x.n, x.h, x.w, out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < x.c; i++) s += (x.d[r * x.c + i] as number) * (w[o * x.c + i] as number);
      y.d[r * out + o] = s;
    }
  return y;
}

/** A 1×1 conv is a Linear on channels-last data (weight [out, in, 1, 1] has the same element order). */
export const conv1x1 = linear;

export function groupNorm(x: Img, W: Weights, name: string, groups: number, eps: number, silu = false): Img {
  const g = W(`${name}.weight`);
  const bta = W(`${name}.bias`);
  const y = img(x.n, x.h, x.w, x.c);
  const cg = x.c / groups;
  const hw = x.h * x.w;
  for (let n = 0; n < x.n; n++)
    for (let gi = 0; gi < groups; gi++) {
      let mean = 0;
      for (let p = 0; p < hw; p++) for (let c = gi * cg; c < (gi + 1) * cg; c++) mean += x.d[(n * hw + p) * x.c + c] as number;
      mean /= hw * cg;
      let v = 0;
      for (let p = 0; p < hw; p++)
        for (let c = gi * cg; c < (gi + 1) * cg; c++) {
          const d = (x.d[(n * hw + p) * x.c + c] as number) - mean;
          v += d * d;
        }
      const inv = 1 / Math.sqrt(v / (hw * cg) + eps);
      for (let p = 0; p < hw; p++)
        for (let c = gi * cg; c < (gi + 1) * cg; c++) {
          const i = (n * hw + p) * x.c + c;
          const t = ((x.d[i] as number) - mean) * inv * (g[c] as number) + (bta[c] as number);
          y.d[i] = silu ? t / (1 + Math.exp(-t)) : t;
        }
    }
  return y;
}

export function layerNorm(x: Img, W: Weights, name: string, eps: number): Img {
  const g = W(`${name}.weight`);
  const b = W(`${name}.bias`);
  const y = img(x.n, x.h, x.w, x.c);
  const rows = x.n * x.h * x.w;
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < x.c; i++) mean += x.d[r * x.c + i] as number;
    mean /= x.c;
    let v = 0;
    for (let i = 0; i < x.c; i++) v += ((x.d[r * x.c + i] as number) - mean) ** 2;
    const inv = 1 / Math.sqrt(v / x.c + eps);
    for (let i = 0; i < x.c; i++) y.d[r * x.c + i] = ((x.d[r * x.c + i] as number) - mean) * inv * (g[i] as number) + (b[i] as number);
  }
  return y;
}

export const map = (x: Img, f: (v: number) => number): Img => img(x.n, x.h, x.w, x.c, x.d.map(f));
export const silu = (x: Img) => map(x, (v) => v / (1 + Math.exp(-v)));
export function add(a: Img, b: Img): Img {
  if (a.d.length !== b.d.length) throw new Error(`add: ${a.d.length} vs ${b.d.length}`);
  return img(
    a.n,
    a.h,
    a.w,
    a.c,
    a.d.map((v, i) => v + (b.d[i] as number)),
  );
}

/** erf to ~1e-15: Taylor series below 3, continued fraction for erfc above. */
export function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), evaluated bottom-up.
    let f = z;
    for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}
export const geluExact = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** Multi-head attention: q [B, N, H·d], k/v [B, M, H·d] (rows in .h, .w = 1) → [B, N, H·d]. */
export function attention(q: Img, k: Img, v: Img, heads: number): Img {
  const B = q.n;
  const N = q.h * q.w;
  const M = k.h * k.w;
  const C = q.c;
  const d = C / heads;
  const scale = 1 / Math.sqrt(d);
  const out = img(q.n, q.h, q.w, C);
  const s = new Float64Array(M);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < N; i++) {
        let mx = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < M; j++) {
          let dot = 0;
          for (let e = 0; e < d; e++) dot += (q.d[(b * N + i) * C + h * d + e] as number) * (k.d[(b * M + j) * C + h * d + e] as number);
          s[j] = dot * scale;
          mx = Math.max(mx, s[j] as number);
        }
        let sum = 0;
        for (let j = 0; j < M; j++) {
          s[j] = Math.exp((s[j] as number) - mx);
          sum += s[j] as number;
        }
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = 0; j < M; j++) acc += (s[j] as number) * (v.d[(b * M + j) * C + h * d + e] as number);
          out.d[(b * N + i) * C + h * d + e] = acc / sum;
        }
      }
  return out;
}

/** diffusers `get_timestep_embedding` as torch computes it: float32 frequencies, products and sin/cos. */
export function timestepEmbedding(t: readonly number[], dim: number, flip: boolean, shift: number): Img {
  const half = Math.floor(dim / 2);
  const freq = timestepFrequencies(dim, shift);
  const y = img(t.length, 1, 1, dim);
  for (let b = 0; b < t.length; b++)
    for (let j = 0; j < half; j++) {
      const arg = Math.fround(Math.fround(t[b] as number) * (freq[j] as number));
      const [first, second] = flip ? [Math.cos(arg), Math.sin(arg)] : [Math.sin(arg), Math.cos(arg)];
      y.d[b * dim + j] = Math.fround(first);
      y.d[b * dim + half + j] = Math.fround(second);
    }
  return y;
}

function concatChannels(a: Img, b: Img): Img {
  const y = img(a.n, a.h, a.w, a.c + b.c);
  const p = a.n * a.h * a.w;
  for (let i = 0; i < p; i++) {
    y.d.set(a.d.subarray(i * a.c, (i + 1) * a.c), i * y.c);
    y.d.set(b.d.subarray(i * b.c, (i + 1) * b.c), i * y.c + a.c);
  }
  return y;
}

/** torch `F.interpolate(mode="nearest")` to an explicit size: src = floor(dst · in/out). */
export function upsampleNearest(x: Img, oh: number, ow: number): Img {
  const y = img(x.n, oh, ow, x.c);
  for (let n = 0; n < x.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const iy = Math.min(Math.floor((oy * x.h) / oh), x.h - 1);
        const ix = Math.min(Math.floor((ox * x.w) / ow), x.w - 1);
        const src = ((n * x.h + iy) * x.w + ix) * x.c;
        y.d.set(x.d.subarray(src, src + x.c), ((n * oh + oy) * ow + ox) * x.c);
      }
  return y;
}

// ---- blocks ---------------------------------------------------------------------------------------------

/** ResnetBlock2D (time_embedding_norm "default"); `tembAct` = silu(temb) [B, T] or null (VAE). */
export function resnet(
  x: Img,
  W: Weights,
  name: string,
  cout: number,
  groups: number,
  eps: number,
  tembAct: Img | null,
  outScale = 1,
): Img {
  let h = groupNorm(x, W, `${name}.norm1`, groups, eps, true);
  h = conv2d(h, W, `${name}.conv1`, cout, 3);
  if (tembAct) {
    const t = linear(tembAct, W, `${name}.time_emb_proj`, cout);
    const hw = h.h * h.w;
    for (let n = 0; n < h.n; n++)
      for (let p = 0; p < hw; p++)
        for (let c = 0; c < cout; c++) {
          const i = (n * hw + p) * cout + c;
          h.d[i] = (h.d[i] as number) + (t.d[n * cout + c] as number);
        }
  }
  h = groupNorm(h, W, `${name}.norm2`, groups, eps, true);
  h = conv2d(h, W, `${name}.conv2`, cout, 3);
  const sc = x.c !== cout ? conv2d(x, W, `${name}.conv_shortcut`, cout, 1) : x;
  return map(add(sc, h), (v) => v / outScale);
}

/** diffusers `Attention` (AttnProcessor): q from x, k/v from `ctx` (or x); `qkvBias` for the VAE's. */
function attnProj(x: Img, W: Weights, name: string, heads: number, ctx: Img | null, qkvBias: boolean, oldNames = false): Img {
  const [nq, nk, nv, no] = oldNames ? ['query', 'key', 'value', 'proj_attn'] : ['to_q', 'to_k', 'to_v', 'to_out.0'];
  const kv = ctx ?? x;
  const C = x.c;
  const q = linear(x, W, `${name}.${nq}`, C, qkvBias);
  const k = linear(kv, W, `${name}.${nk}`, C, qkvBias);
  const v = linear(kv, W, `${name}.${nv}`, C, qkvBias);
  return linear(attention(q, k, v, heads), W, `${name}.${no}`, C);
}

/** Transformer2DModel (continuous input) with BasicTransformerBlocks. `ctx` is [B, 77, D] in rows. */
export function transformer2d(
  x: Img,
  W: Weights,
  name: string,
  heads: number,
  layers: number,
  groups: number,
  linearProj: boolean,
  ctx: Img,
  trace?: Trace,
): Img {
  const C = x.c;
  let h = groupNorm(x, W, `${name}.norm`, groups, 1e-6);
  h = linearProj ? linear(h, W, `${name}.proj_in`, C) : conv1x1(h, W, `${name}.proj_in`, C);
  let t = img(h.n, h.h * h.w, 1, C, h.d);
  for (let l = 0; l < layers; l++) {
    const b = `${name}.transformer_blocks.${l}`;
    t = add(attnProj(layerNorm(t, W, `${b}.norm1`, 1e-5), W, `${b}.attn1`, heads, null, false), t);
    trace?.(`${b}.attn1`, t);
    t = add(attnProj(layerNorm(t, W, `${b}.norm2`, 1e-5), W, `${b}.attn2`, heads, ctx, false), t);
    trace?.(`${b}.attn2`, t);
    const ff = linear(layerNorm(t, W, `${b}.norm3`, 1e-5), W, `${b}.ff.net.0.proj`, 8 * C);
    const g = img(ff.n, ff.h, ff.w, 4 * C);
    const rows = ff.n * ff.h * ff.w;
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < 4 * C; i++)
        g.d[r * 4 * C + i] = (ff.d[r * 8 * C + i] as number) * geluExact(ff.d[r * 8 * C + 4 * C + i] as number);
    t = add(linear(g, W, `${b}.ff.net.2`, C), t);
    trace?.(`${b}.ff`, t);
  }
  let o = img(x.n, x.h, x.w, C, t.d);
  o = linearProj ? linear(o, W, `${name}.proj_out`, C) : conv1x1(o, W, `${name}.proj_out`, C);
  return add(o, x);
}

// ---- UNet -----------------------------------------------------------------------------------------------

export function unetForward(cfg: UNetConfig, W: Weights, sample: Img, timesteps: readonly number[], ctx: Img, trace?: Trace): Img {
  const boc = cfg.blockOutChannels;
  const G = cfg.normNumGroups;
  const eps = cfg.normEps;
  const nBlocks = boc.length;
  let x = cfg.centerInputSample ? map(sample, (v) => 2 * v - 1) : sample;
  const tEmb = timestepEmbedding(
    timesteps.length === 1 ? Array(sample.n).fill(timesteps[0]) : timesteps,
    boc[0] as number,
    cfg.flipSinToCos,
    cfg.freqShift,
  );
  let emb = linear(tEmb, W, 'time_embedding.linear_1', cfg.timeEmbedDim);
  emb = linear(silu(emb), W, 'time_embedding.linear_2', cfg.timeEmbedDim);
  const temb = silu(emb);
  trace?.('time_embedding', emb);
  x = conv2d(x, W, 'conv_in', boc[0] as number, cfg.convInKernel);
  trace?.('conv_in', x);
  const skips: Img[] = [x];
  for (let i = 0; i < nBlocks; i++) {
    const name = `down_blocks.${i}`;
    const c = boc[i] as number;
    for (let j = 0; j < (cfg.layersPerBlock[i] as number); j++) {
      x = resnet(x, W, `${name}.resnets.${j}`, c, G, eps, temb, cfg.resnetOutScaleFactor);
      if (cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D') {
        x = transformer2d(
          x,
          W,
          `${name}.attentions.${j}`,
          cfg.heads[i] as number,
          cfg.transformerLayersPerBlock[i] as number,
          G,
          cfg.useLinearProjection,
          ctx,
        );
      }
      skips.push(x);
    }
    if (i < nBlocks - 1) {
      const p = cfg.downsamplePadding;
      x = conv2d(x, W, `${name}.downsamplers.0.conv`, c, 3, 2, p === 0 ? [0, 1, 0, 1] : [p, p, p, p]);
      skips.push(x);
    }
    trace?.(name, x);
  }
  if (cfg.midBlockType) {
    const c = boc[nBlocks - 1] as number;
    x = resnet(x, W, 'mid_block.resnets.0', c, G, eps, temb, cfg.midBlockScaleFactor);
    x = transformer2d(
      x,
      W,
      'mid_block.attentions.0',
      cfg.heads[nBlocks - 1] as number,
      cfg.transformerLayersPerBlock[nBlocks - 1] as number,
      G,
      cfg.useLinearProjection,
      ctx,
    );
    x = resnet(x, W, 'mid_block.resnets.1', c, G, eps, temb, cfg.midBlockScaleFactor);
    trace?.('mid_block', x);
  }
  const rev = [...boc].reverse();
  const revHeads = [...cfg.heads].reverse();
  const revLayers = [...cfg.layersPerBlock].reverse();
  const revTl = [...cfg.transformerLayersPerBlock].reverse();
  for (let i = 0; i < nBlocks; i++) {
    const name = `up_blocks.${i}`;
    const c = rev[i] as number;
    for (let j = 0; j < (revLayers[i] as number) + 1; j++) {
      const skip = skips.pop() as Img;
      x = resnet(concatChannels(x, skip), W, `${name}.resnets.${j}`, c, G, eps, temb, cfg.resnetOutScaleFactor);
      if (cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D') {
        x = transformer2d(x, W, `${name}.attentions.${j}`, revHeads[i] as number, revTl[i] as number, G, cfg.useLinearProjection, ctx);
      }
    }
    if (i < nBlocks - 1) {
      const next = skips[skips.length - 1] as Img;
      x = upsampleNearest(x, next.h, next.w);
      x = conv2d(x, W, `${name}.upsamplers.0.conv`, c, 3);
    }
    trace?.(name, x);
  }
  x = groupNorm(x, W, 'conv_norm_out', G, eps, true);
  return conv2d(x, W, 'conv_out', cfg.outChannels, cfg.convOutKernel);
}

// ---- VAE ------------------------------------------------------------------------------------------------

function vaeMid(x: Img, W: Weights, name: string, cfg: AutoencoderKLConfig, oldNames: boolean): Img {
  const G = cfg.normNumGroups;
  const c = x.c;
  x = resnet(x, W, `${name}.resnets.0`, c, G, 1e-6, null);
  if (cfg.midBlockAddAttention) {
    const a = `${name}.attentions.0`;
    const h = groupNorm(x, W, `${a}.group_norm`, G, 1e-6);
    const rows = img(h.n, h.h * h.w, 1, c, h.d);
    const o = attnProj(rows, W, a, 1, null, true, oldNames);
    x = add(img(x.n, x.h, x.w, c, o.d), x);
  }
  return resnet(x, W, `${name}.resnets.1`, c, G, 1e-6, null);
}

export function vaeEncode(cfg: AutoencoderKLConfig, W: Weights, image: Img, oldNames = false): Img {
  const boc = cfg.blockOutChannels;
  const G = cfg.normNumGroups;
  let x = conv2d(image, W, 'encoder.conv_in', boc[0] as number, 3);
  for (let i = 0; i < boc.length; i++) {
    const c = boc[i] as number;
    for (let j = 0; j < cfg.layersPerBlock; j++) x = resnet(x, W, `encoder.down_blocks.${i}.resnets.${j}`, c, G, 1e-6, null);
    if (i < boc.length - 1) x = conv2d(x, W, `encoder.down_blocks.${i}.downsamplers.0.conv`, c, 3, 2, [0, 1, 0, 1]);
  }
  x = vaeMid(x, W, 'encoder.mid_block', cfg, oldNames);
  x = groupNorm(x, W, 'encoder.conv_norm_out', G, 1e-6, true);
  x = conv2d(x, W, 'encoder.conv_out', 2 * cfg.latentChannels, 3);
  return cfg.useQuantConv ? conv1x1(x, W, 'quant_conv', 2 * cfg.latentChannels) : x;
}

export function vaeDecode(cfg: AutoencoderKLConfig, W: Weights, z: Img, oldNames = false): Img {
  const rev = [...cfg.blockOutChannels].reverse();
  const G = cfg.normNumGroups;
  let x = cfg.usePostQuantConv ? conv1x1(z, W, 'post_quant_conv', cfg.latentChannels) : z;
  x = conv2d(x, W, 'decoder.conv_in', rev[0] as number, 3);
  x = vaeMid(x, W, 'decoder.mid_block', cfg, oldNames);
  for (let i = 0; i < rev.length; i++) {
    const c = rev[i] as number;
    for (let j = 0; j < cfg.layersPerBlock + 1; j++) x = resnet(x, W, `decoder.up_blocks.${i}.resnets.${j}`, c, G, 1e-6, null);
    if (i < rev.length - 1) x = conv2d(upsampleNearest(x, 2 * x.h, 2 * x.w), W, `decoder.up_blocks.${i}.upsamplers.0.conv`, c, 3);
  }
  x = groupNorm(x, W, 'decoder.conv_norm_out', G, 1e-6, true);
  return conv2d(x, W, 'decoder.conv_out', cfg.outChannels, 3);
}

/** Deterministic values in [-1, 1) (a 32-bit LCG). */
export function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** He-style uniform weights (so activations stay O(1) through the net), norm scales near 1. */
export function randomParam(name: string, shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const v = values(n, seed * 7919 + 1);
  if (/norm[0-9_a-z]*\.weight$/.test(name)) return v.map((x) => 1 + 0.2 * x);
  if (name.endsWith('.bias')) return v.map((x) => 0.1 * x);
  return v.map((x) => (x * Math.sqrt(3)) / Math.sqrt(fanIn));
}

/**
 * A random-weight reader for exactly the keys a model's parameter registry declares (`randomParam` values,
 * seeded by key order from `firstSeed`), and the host values by name for the float64 reference.
 */
export function randomWeights(
  registry: readonly Param<unknown>[],
  firstSeed = 0,
): { reader: WeightReader; host: Map<string, Float32Array> } {
  const shapes = expectedKeys(registry);
  const host = new Map([...shapes].map(([name, shape], i) => [name, randomParam(name, shape, firstSeed + i)]));
  return {
    host,
    reader: {
      path: '<random>',
      keys: () => [...host.keys()],
      info: (n) => {
        const shape = shapes.get(n);
        return shape && { shape };
      },
      read: async (n) => host.get(n) as Float32Array,
    },
  };
}
