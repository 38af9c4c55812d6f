/**
 * Cropping a reconstruction and its input to the region both cover: the decoder returns factor × (latent
 * size), which is smaller than the input when an input side is not a multiple of the factor. Used before
 * PSNR/SSIM (files on Node, the web page); browser-safe.
 */
import type { HostGrid } from './sliding-window.js';

/** `a` and `b` cropped to the spatial extent both cover (channels kept; a grid already that size is returned as is). */
export function cropToCommon(a: HostGrid, b: HostGrid): [HostGrid, HostGrid] {
  const spatial = a.spatial.map((s, i) => Math.min(s, b.spatial[i] as number));
  return [crop(a, spatial), crop(b, spatial)];
}

function crop(g: HostGrid, spatial: number[]): HostGrid {
  if (spatial.every((s, i) => s === g.spatial[i])) return g;
  const n = spatial.reduce((x, y) => x * y, 1);
  const gn = g.spatial.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n * g.channels);
  for (let c = 0; c < g.channels; c++) {
    for (let i = 0; i < n; i++) {
      // Index i in the cropped shape → the same coordinates in g.
      let rest = i;
      let src = 0;
      let stride = 1;
      for (let a = spatial.length - 1; a >= 0; a--) {
        src += (rest % (spatial[a] as number)) * stride;
        rest = Math.floor(rest / (spatial[a] as number));
        stride *= g.spatial[a] as number;
      }
      out[c * n + i] = g.data[c * gn + src] as number;
    }
  }
  return { channels: g.channels, spatial, data: out };
}
