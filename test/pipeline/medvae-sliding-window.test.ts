/**
 * MONAI `sliding_window_inference` as MedVAE uses it: the window rule, the window grid, the Gaussian
 * importance map, nearest-exact resizing, and blending (identity and downsampling predictors must give back
 * what a single pass would, within float32 rounding of Σw·p/Σw).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  type HostGrid,
  gaussianImportanceMap,
  resizeNearestExact,
  roiSizeCalc,
  scanInterval,
  slidingWindowInference,
  windowStarts,
} from '../../src/pipeline/medvae/sliding-window.js';

const RUNS = Number(process.env.FC_RUNS ?? 25);

function grid(channels: number, spatial: number[], seed: number): HostGrid {
  let s = seed >>> 0 || 1;
  const n = channels * spatial.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
  return { channels, spatial, data };
}

/** 2×2(×2) average pooling of a channels-first grid (sizes must be even). */
function pool2(g: HostGrid): HostGrid {
  const out = g.spatial.map((s) => s / 2);
  const n = out.reduce((a, b) => a * b, 1);
  const sn = g.spatial.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * g.channels);
  const nd = g.spatial.length;
  for (let c = 0; c < g.channels; c++) {
    for (let i = 0; i < n; i++) {
      const pos: number[] = [];
      let r = i;
      for (let a = nd - 1; a >= 0; a--) {
        pos[a] = r % (out[a] as number);
        r = Math.floor(r / (out[a] as number));
      }
      let acc = 0;
      for (let k = 0; k < 2 ** nd; k++) {
        let idx = 0;
        for (let a = 0; a < nd; a++) idx = idx * (g.spatial[a] as number) + 2 * (pos[a] as number) + ((k >> a) & 1);
        acc += g.data[c * sn + idx] as number;
      }
      data[c * n + i] = acc / 2 ** nd;
    }
  }
  return { channels: g.channels, spatial: out, data };
}

function expectNear(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const w = want[i] as number;
    if (!(Math.abs((got[i] as number) - w) <= rel * (1 + Math.abs(w)))) throw new Error(`${what}: element ${i}: got ${got[i]}, want ${w}`);
  }
}

describe('MedVAE window rule and MONAI window grid', () => {
  test('roi_size_calc divides sides above 160 by the smallest power of 2 that brings them below', () => {
    expect(roiSizeCalc([160, 161, 256, 320, 336, 100, 319, 512, 1])).toEqual([160, 80, 128, 80, 84, 100, 159, 128, 1]);
  });

  test('scan interval int(roi·0.75) (the whole side when the window covers it) and clamped last windows', () => {
    expect(scanInterval([256, 100, 336], [128, 100, 84], 0.25)).toEqual([96, 100, 63]);
    expect(windowStarts([256], [128], [96])).toEqual([[0], [96], [128]]);
    expect(windowStarts([336], [84], [63]).map((s) => s[0])).toEqual([0, 63, 126, 189, 252]);
    expect(windowStarts([100], [100], [100])).toEqual([[0]]);
    // C order: the first axis is the slowest.
    expect(windowStarts([8, 6], [4, 6], [3, 6])).toEqual([
      [0, 0],
      [3, 0],
      [4, 0],
    ]);
  });

  test('the Gaussian importance map is the float32 product of 1D Gaussians (σ = size/8), floored at 1e-3', () => {
    const f = Math.fround;
    const m = gaussianImportanceMap([5, 4]);
    const g = (n: number, i: number) => f(Math.exp(f(f((i - (n - 1) / 2) ** 2) / f(-2 * (n * 0.125) ** 2))));
    for (let i = 0; i < 5; i++) for (let j = 0; j < 4; j++) expect(m[i * 4 + j]).toBe(Math.max(f(g(5, i) * g(4, j)), f(1e-3)));
    expect(m[2 * 4 + 1]).toBe(f(g(4, 1)));
    const big = gaussianImportanceMap([64, 64]);
    expect(Math.min(...big)).toBe(f(1e-3));
    expect(Math.max(...big)).toBeLessThanOrEqual(1);
  });

  test('nearest-exact resizing picks floor((o + 0.5) · in/out)', () => {
    const m = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(resizeNearestExact(m, [8], [2]))).toEqual([2, 6]);
    expect(Array.from(resizeNearestExact(m.subarray(0, 4), [4], [8]))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(Array.from(resizeNearestExact(m, [8], [3]))).toEqual([1, 4, 6]);
  });
});

describe('sliding-window blending', () => {
  const dims = fc.integer({ min: 1, max: 3 });
  test.prop(
    [
      dims.chain((nd) =>
        fc.tuple(
          fc.array(fc.integer({ min: 2, max: 23 }), { minLength: nd, maxLength: nd }),
          fc.array(fc.integer({ min: 1, max: 24 }), { minLength: nd, maxLength: nd }),
        ),
      ),
      fc.integer({ min: 1, max: 3 }),
      fc.integer(),
    ],
    {
      numRuns: RUNS,
    },
  )(
    'an identity predictor gives the input back (|err| <= 4e-7·(1+|x|)), padding windows larger than the image',
    async ([spatial, roi], channels, seed) => {
      const input = grid(channels, spatial, seed);
      let calls = 0;
      const [out] = await slidingWindowInference(
        input,
        async (w) => {
          calls++;
          expect(w.spatial).toEqual(roi);
          return [w];
        },
        { roiSize: roi, onWindow: (done) => expect(done).toBe(calls) },
      );
      expect(out?.spatial).toEqual(spatial);
      expectNear((out as HostGrid).data, input.data, 4e-7, `identity ${spatial} roi ${roi}`);
    },
  );

  test.prop([fc.integer({ min: 2, max: 3 }), fc.integer({ min: 3, max: 12 }), fc.integer()], { numRuns: RUNS })(
    'a predictor that halves the resolution (the encoder case) blends at the output resolution (|err| <= 1e-6·(1+|x|))',
    async (nd, half, seed) => {
      // Sides and windows even, windows starting at even voxels: each window's pooled output is exactly the
      // pooled image there, so the blend must be the pooled image.
      const spatial = Array.from({ length: nd }, (_, i) => 2 * (half + i * 3));
      const roi = spatial.map((s) => Math.max(2, 2 * Math.floor(s / 4)));
      const interval = scanInterval(spatial, roi, 0.25);
      fc.pre(interval.every((v) => v % 2 === 0));
      const input = grid(2, spatial, seed);
      // Full resolution first, as MedVAE's (dec, z): MONAI resizes the importance map it used last.
      const [full, out] = await slidingWindowInference(input, async (w) => [w, pool2(w)], { roiSize: roi });
      expectNear((out as HostGrid).data, pool2(input).data, 1e-6, `pooled ${spatial} roi ${roi}`);
      expectNear((full as HostGrid).data, input.data, 4e-7, 'full-resolution output');
    },
  );

  test('a window whose output does not fit its zoomed bounds is refused, as MONAI fails to add it', async () => {
    // Window 11 → 3 outputs: the window at 44 spans int(44·3/11) = 12 to int(55·3/11) = 14 in float64.
    const out3 = async () => [{ channels: 1, spatial: [3], data: new Float32Array(3) }];
    await expect(slidingWindowInference(grid(1, [55], 3), out3, { roiSize: [11] })).rejects.toThrow(
      /window at 44 on axis 0 maps to output \[12, 14\)/,
    );
  });

  test('a full-resolution output after a resized one is refused (MONAI cannot blend that order)', async () => {
    await expect(slidingWindowInference(grid(1, [16, 16], 1), async (w) => [pool2(w), w], { roiSize: [8, 8] })).rejects.toThrow(
      /full-resolution outputs first/,
    );
  });
});
