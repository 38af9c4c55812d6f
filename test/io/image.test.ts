import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { encode as fastPngEncode } from 'fast-png';
import { zlibSync } from 'fflate';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Image } from '../../src/io/image.js';
import { decodePng, encodePng, writePng } from '../../src/io/png.js';
import { decodeImage, readImage } from '../../src/io/read-image.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { FileFormatError, type MedgpuError } from '../../src/runtime/errors.js';
import { expectTypedOutcome, FUZZ_RUNS, FuzzTally, mutate, mutationArb } from './fuzz.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const imagesDir = join(fixtures, 'io/images');
const expected = JSON.parse(await readFile(join(imagesDir, 'expected.json'), 'utf8')) as Record<
  string,
  { mode: string; width: number; height: number; pixels: number[]; text?: Record<string, string> }
>;
const tally = new FuzzTally();
const tmp = mkdtemp(join(tmpdir(), 'medgpu-img-'));
afterAll(async () => {
  console.log(`image fuzz:\n${tally.report()}`);
  await rm(await tmp, { recursive: true, force: true });
});

const CHANNELS: Record<string, number> = { L: 1, LA: 2, RGB: 3, RGBA: 4, I: 1, P: 4, '1': 1 };

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('images against the fixtures', () => {
  it('MedVAE inputs: the PNGs read to exactly the fixture raw pixels (png_gray_u8 [64,48], png_rgb_u8 [64,48,3])', async () => {
    const ref = await loadSafetensors(join(fixtures, 'medvae/cases/preprocess_2d_png.safetensors'));
    for (const [file, key, channels] of [
      ['xray_gray.png', 'png_gray_u8', 1],
      ['xray_rgb.png', 'png_rgb_u8', 3],
    ] as const) {
      const img = await readImage(join(fixtures, 'medvae/inputs', file));
      const want = ref.get(key)!;
      expect([img.height, img.width, ...(channels === 3 ? [3] : [])]).toEqual(want.shape);
      expect(img.channels).toBe(channels);
      expect(img.bitDepth).toBe(8);
      expect(
        Buffer.compare(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), Buffer.from(want.data as Uint8Array)),
        file,
      ).toBe(0);
    }
  });

  it('PNG 8/16-bit gray, gray+alpha, RGB, RGBA, palette+tRNS, 1/4-bit gray and tEXt decode exactly as PIL does', async () => {
    const pngs = Object.keys(expected).filter((k) => k.endsWith('.png'));
    expect(pngs.length).toBe(8);
    for (const name of pngs) {
      const e = expected[name]!;
      const img = await readImage(join(imagesDir, name));
      expect([img.width, img.height, img.channels], name).toEqual([e.width, e.height, CHANNELS[e.mode]]);
      expect(img.bitDepth, name).toBe(name === 'gray16.png' ? 16 : 8);
      expect(Array.from(img.data), name).toEqual(e.pixels);
      expect(img.text ?? {}, name).toEqual(e.text ?? {});
    }
  });

  it('JPEG gray and colour, baseline and progressive: within 1 level of PIL (gray), 2 (4:4:4), 7 (4:2:0: chroma upsampling differs)', async () => {
    const bounds: Record<string, number> = { 'gray.jpg': 1, 'rgb444.jpg': 2, 'rgb420.jpg': 7, 'rgb420_progressive.jpg': 7 };
    for (const [name, bound] of Object.entries(bounds)) {
      const e = expected[name]!;
      const img = await readImage(join(imagesDir, name));
      expect([img.width, img.height, img.channels, img.bitDepth], name).toEqual([e.width, e.height, CHANNELS[e.mode], 8]);
      expect(maxDiff(img.data, e.pixels), name).toBeLessThanOrEqual(bound);
    }
  });
});

describe('PNG writing', () => {
  const imageArb = fc
    .record({
      width: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70 })),
      height: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
      channels: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>,
      bitDepth: fc.constantFrom(8, 16) as fc.Arbitrary<8 | 16>,
      seed: fc.integer(),
    })
    .map(({ width, height, channels, bitDepth, seed }): Image => {
      const n = width * height * channels;
      let s = seed >>> 0 || 1;
      const data = bitDepth === 8 ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        data[i] = bitDepth === 8 ? s >>> 24 : s >>> 16;
      }
      return { width, height, channels, bitDepth, data };
    });

  test.prop([imageArb], { numRuns: 60 })('encode -> decode is the identity for 8/16-bit, 1-4 channels, any size', (img) => {
    const back = decodePng(encodePng(img, { text: { Comment: 'medgpu' } }), 'rt.png');
    expect([back.width, back.height, back.channels, back.bitDepth]).toEqual([img.width, img.height, img.channels, img.bitDepth]);
    expect(back.data).toEqual(img.data);
    expect(back.text).toEqual({ Comment: 'medgpu' });
  });

  it('reads Adam7-interlaced files; writes tEXt; refuses to overwrite unless asked; refuses non-Latin-1 text', async () => {
    const img: Image = {
      width: 13,
      height: 9,
      channels: 3,
      bitDepth: 16,
      data: Uint16Array.from({ length: 13 * 9 * 3 }, (_, i) => i * 97),
    };
    const interlaced = fastPngEncode({ width: 13, height: 9, channels: 3, depth: 16, data: img.data }, { interlace: 'Adam7' });
    expect(decodePng(interlaced, 'adam7.png').data).toEqual(img.data);
    const path = join(await tmp, 'out.png');
    await writePng(path, img, { text: { prompt: 'lung nodule', seed: '42' } });
    const back = await readImage(path);
    expect(back.data).toEqual(img.data);
    expect(back.text).toEqual({ prompt: 'lung nodule', seed: '42' });
    const e = await writePng(path, img).catch((x: unknown) => x as MedgpuError);
    expect((e as MedgpuError).code).toBe('FILE_EXISTS');
    expect((e as Error).message).toContain(path);
    await writePng(path, { ...img, data: new Uint16Array(img.data.length) }, { overwrite: true });
    expect(Math.max(...(await readImage(path)).data)).toBe(0);
    expect(() => encodePng(img, { text: { prompt: 'щ' } })).toThrow(/PNG text "prompt": tEXt keywords are 1-79 printable Latin-1/);
    expect(() => encodePng(img, { text: { '': 'x' } })).toThrow(FileFormatError);
    expect(() => encodePng({ ...img, data: new Uint8Array(3) })).toThrow(/13x9x3 needs 351 samples, the data has 3/);
  });
});

describe('bad images', () => {
  it('refuses decompression bombs, huge headers and truncation with typed errors naming the file', async () => {
    const chunk = (type: string, data: Uint8Array) => {
      const out = new Uint8Array(12 + data.length);
      const dv = new DataView(out.buffer);
      dv.setUint32(0, data.length);
      out.set(new TextEncoder().encode(type), 4);
      out.set(data, 8);
      return out; // CRC left zero: the bomb must be caught before CRCs are checked
    };
    const ihdr = (w: number, h: number) => {
      const d = new Uint8Array(13);
      new DataView(d.buffer).setUint32(0, w);
      new DataView(d.buffer).setUint32(4, h);
      d[8] = 8;
      d[9] = 0;
      return d;
    };
    const png = (...chunks: Uint8Array[]) => {
      const sig = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const all = [sig, ...chunks];
      const out = new Uint8Array(all.reduce((s, c) => s + c.length, 0));
      let o = 0;
      for (const c of all) {
        out.set(c, o);
        o += c.length;
      }
      return out;
    };
    const bomb = png(chunk('IHDR', ihdr(1, 1)), chunk('IDAT', zlibSync(new Uint8Array(20_000_000))), chunk('IEND', new Uint8Array(0)));
    expect(bomb.length).toBeLessThan(40_000);
    const t0 = performance.now();
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(/bomb\.png: image data inflates past the 2 bytes its header implies/);
    expect(performance.now() - t0).toBeLessThan(2000); // stops at the first piece instead of inflating 20 MB
    await expect(
      decodeImage(
        png(chunk('IHDR', ihdr(100_000, 100_000)), chunk('IDAT', new Uint8Array(4)), chunk('IEND', new Uint8Array(0))),
        'huge.png',
      ),
    ).rejects.toThrow(/huge\.png: 100000x100000 pixels is over the 268435456-pixel limit/);
    const good = new Uint8Array(await readFile(join(imagesDir, 'rgb8.png')));
    await expect(decodeImage(good.subarray(0, good.length - 20), 'cut.png')).rejects.toThrow(/cut\.png: .*truncated/);
    const gj = new Uint8Array(await readFile(join(imagesDir, 'gray.jpg')));
    await expect(decodeImage(gj.subarray(0, 100), 'cut.jpg')).rejects.toThrow(/cut\.jpg: /);
    await expect(decodeImage(new Uint8Array([1, 2, 3]), 'x.bin')).rejects.toThrow(/x\.bin: not a PNG or JPEG image/);
    const wide = jpeg.encode({ width: 8, height: 8, data: new Uint8Array(256) }, 90).data;
    const dv = new DataView(wide.buffer, wide.byteOffset);
    for (let p = 2; p < wide.length - 9; p++) if (wide[p] === 0xff && wide[p + 1] === 0xc0) dv.setUint16(p + 7, 65535);
    for (let p = 2; p < wide.length - 9; p++) if (wide[p] === 0xff && wide[p + 1] === 0xc0) dv.setUint16(p + 5, 65535);
    await expect(decodeImage(new Uint8Array(wide), 'wide.jpg')).rejects.toThrow(/wide\.jpg: 65535x65535 pixels is over the/);
  });

  test.prop([mutationArb, fc.constantFrom('gray8.png', 'rgba8.png', 'palette.png', 'gray16.png', 'gray.jpg', 'rgb420_progressive.jpg')], {
    numRuns: FUZZ_RUNS,
  })('fuzz: mutated PNG/JPEG files decode or fail with a typed error naming the file', async (m, name) => {
    const bytes = mutate(new Uint8Array(await readFile(join(imagesDir, name))), m);
    tally.record(
      name.endsWith('.png') ? 'png mutations' : 'jpeg mutations',
      await expectTypedOutcome(`fuzz-${name}`, () => decodeImage(bytes, `fuzz-${name}`)),
    );
  });
});
