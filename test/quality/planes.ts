/** Deterministic synthetic planes for the quality tests (no files, no randomness between runs). */
import { type Plane, makePlane } from '../../src/quality/plane.js';

/** A 32-bit LCG in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A tissue-like plane: `bumps` Gaussian blobs of radius 2 to 2 + 0.3·max(w, h) on a grey floor, plus uniform
 * noise of amplitude `noise`, clipped to [0, 1].
 */
export function randomPlane(w: number, h: number, seed: number, noise = 0.1, bumps = 4): Plane {
  const rnd = lcg(seed);
  const bs = Array.from({ length: bumps }, () => ({ x: rnd() * w, y: rnd() * h, r: 2 + rnd() * Math.max(w, h) * 0.3, a: rnd() - 0.3 }));
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0.3;
      for (const b of bs) v += 0.5 * b.a * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
      data[y * w + x] = Math.min(1, Math.max(0, v + noise * (rnd() - 0.5)));
    }
  }
  return makePlane(w, h, data);
}

/** Uniform noise in [-0.5, 0.5), one value per pixel. */
export function noiseOf(w: number, h: number, seed: number): Float32Array {
  const rnd = lcg(seed ^ 0x9e3779b9);
  return Float32Array.from({ length: w * h }, () => rnd() - 0.5);
}

/** p + t·n, clipped to [0, 1]. */
export function plus(p: Plane, n: Float32Array, t: number): Plane {
  return makePlane(
    p.width,
    p.height,
    p.data.map((v, i) => Math.min(1, Math.max(0, v + t * (n[i] as number)))),
  );
}

/** p shifted by (dx, dy) pixels, edges repeated. */
export function shifted(p: Plane, dx: number, dy: number): Plane {
  const out = new Float32Array(p.data.length);
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const sx = Math.min(p.width - 1, Math.max(0, x - dx));
      const sy = Math.min(p.height - 1, Math.max(0, y - dy));
      out[y * p.width + x] = p.data[sy * p.width + sx] as number;
    }
  }
  return makePlane(p.width, p.height, out);
}

export function constantPlane(w: number, h: number, v: number): Plane {
  return makePlane(w, h, new Float32Array(w * h).fill(v));
}

/**
 * One modality's look, like a radiograph: a dark background (0.1) around a bright elliptical body (0.5-0.8) with
 * tissue-like structure, and a little noise; the body's size and place vary with the seed.
 */
export function xrayLike(seed: number, w = 64, h = 48): Plane {
  const rnd = lcg(seed);
  const tissue = randomPlane(w, h, seed + 7, 0, 8);
  const cx = w / 2 + (w / 10) * (rnd() - 0.5);
  const cy = h / 2 + (h / 8) * (rnd() - 0.5);
  const rx = w * (0.31 + 0.1 * rnd());
  const ry = h * (0.31 + 0.1 * rnd());
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1;
      const v = inside ? 0.5 + 0.3 * (tissue.data[y * w + x] as number) : 0.1;
      data[y * w + x] = Math.min(1, Math.max(0, v + 0.04 * (rnd() - 0.5)));
    }
  }
  return makePlane(w, h, data);
}
