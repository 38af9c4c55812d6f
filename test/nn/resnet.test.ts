/**
 * ResnetBlock2D's `consume` option: the caller hands x over, so the block may normalise x in place (when a
 * conv_shortcut has read it first) and releases it. Results must be bitwise those of the default path, which
 * must leave x untouched; both match the float64 reference; consuming lowers the block's peak live bytes.
 */
import { describe, expect, it } from 'vitest';
import { ParamScope, loadParams, releaseParams } from '../../src/nn/params.js';
import { ResnetBlock2D } from '../../src/nn/resnet.js';
import { runStagesAsync } from '../../src/nn/stages.js';
import { diff } from '../helpers/compare.js';
import { getGpu } from '../helpers/gpu.js';
import * as ref from './sd-reference.js';

const CASES = [
  { what: 'conv_shortcut and time embedding (UNet up block)', cin: 24, cout: 16, temb: 12, scale: 1 },
  { what: 'conv_shortcut, no time embedding (VAE 256 → 128)', cin: 32, cout: 16, temb: null, scale: 1 },
  { what: 'no conv_shortcut: x is the residual, output scale 2', cin: 16, cout: 16, temb: 12, scale: 2 },
] as const;

describe('ResnetBlock2D consume', () => {
  for (const c of CASES) {
    it(`${c.what}: bitwise the default result, also as stages, x released; the default leaves x intact`, async () => {
      const gpu = await getGpu();
      const scope = new ParamScope();
      const block = new ResnetBlock2D(scope.child('r'), {
        inChannels: c.cin,
        outChannels: c.cout,
        groups: 4,
        eps: 1e-6,
        tembChannels: c.temb,
        outputScaleFactor: c.scale,
      });
      const { reader, host } = ref.randomWeights(scope.registry, 1);
      await loadParams(gpu, scope.registry, reader);
      try {
        const [B, H, W] = [2, 9, 7];
        const xv = ref.values(B * H * W * c.cin, 11);
        const tv = c.temb === null ? null : ref.values(B * c.temb, 12);
        await gpu.scopeAsync(async () => {
          const temb = tv === null ? undefined : gpu.upload(tv, [B, c.temb as number]);
          const run = async (consume: boolean) => {
            const x = gpu.upload(xv, [B, H, W, c.cin]);
            gpu.pool.resetPeak();
            const before = gpu.memory().liveBytes;
            const y = block.forward(gpu, x, temb, { consume });
            const peak = gpu.memory().peakLiveBytes - before;
            return { x, y: await gpu.read(y), peak };
          };
          const plain = await run(false);
          expect(Array.from(await gpu.read(plain.x))).toEqual(Array.from(xv));
          const consumed = await run(true);
          expect(consumed.x.released).toBe(true);
          expect(Array.from(consumed.y)).toEqual(Array.from(plain.y));
          if (c.cin !== c.cout) {
            expect(consumed.peak, `peak live bytes ${consumed.peak} consumed vs ${plain.peak}`).toBeLessThan(plain.peak);
          }
          // as stages (the decoder's async path): the same result; x handed over is released
          for (const consume of [false, true]) {
            const x = gpu.upload(xv, [B, H, W, c.cin]);
            const y = await runStagesAsync(gpu, x, block.stages(gpu, temb), consume);
            expect(Array.from(await gpu.read(y))).toEqual(Array.from(plain.y));
            expect(x.released).toBe(consume);
          }

          const W64 = (n: string) => Float64Array.from(host.get(n) ?? []);
          const want = ref.resnet(
            ref.img(B, H, W, c.cin, Float64Array.from(xv)),
            W64,
            'r',
            c.cout,
            4,
            1e-6,
            tv === null ? null : ref.img(B, 1, 1, c.temb as number, Float64Array.from(tv)),
            c.scale,
          );
          const d = diff(plain.y, want.d);
          expect(d.nonFinite).toBe(0);
          expect(d.maxRel, `max rel ${d.maxRel.toExponential(3)}`).toBeLessThanOrEqual(1e-5);
        });
      } finally {
        releaseParams(scope.registry);
      }
    });
  }
});
