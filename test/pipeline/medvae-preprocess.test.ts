/**
 * MedVAE preprocessing against the reference fixtures (test/fixtures/medvae, cases preprocess_*): the PNG
 * pixels and the NIfTI voxels/affines as the reference read them, then `load_2d` (tolerance 1e-6 as the
 * manifest states; we also report bitwise agreement) and `load_ct_3d` / `load_mri_3d` (bit-exact: the README
 * says a float32 re-implementation reproduces them to the bit, so nothing less is accepted).
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readNifti } from '../../src/io/nifti.js';
import { readImage } from '../../src/io/read-image.js';
import { preprocess2D } from '../../src/pipeline/medvae/preprocess-2d.js';
import { foregroundBox, normalizeIntensity, preprocess3D, preprocess3DArray } from '../../src/pipeline/medvae/preprocess-3d.js';
import { type StTensor, f32, readSafetensors } from '../helpers/read-safetensors.js';

const dir = join(import.meta.dirname, '../fixtures/medvae');
const tensors = (name: string) => readSafetensors(join(dir, 'cases', `${name}.safetensors`));

function get(map: Map<string, StTensor>, name: string): StTensor {
  const t = map.get(name);
  if (!t) throw new Error(`fixture tensor ${name} missing`);
  return t;
}

/** Number of elements whose float32 bits differ. */
function bitDiffs(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let n = 0;
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) n++;
  return n;
}

function maxAbs(got: Float32Array, want: Float32Array): number {
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs((got[i] as number) - (want[i] as number)));
  return m;
}

function affineOf(t: StTensor): number[][] {
  const d = t.data as Float64Array;
  return [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => d[r * 4 + c] as number));
}

describe('MedVAE 2D preprocessing (preprocess_2d_png)', () => {
  const ts = tensors('preprocess_2d_png');

  test('the PNGs decode to the pixels PIL read', async () => {
    const gray = await readImage(join(dir, 'inputs/xray_gray.png'));
    const rgb = await readImage(join(dir, 'inputs/xray_rgb.png'));
    expect([gray.height, gray.width, gray.channels, gray.bitDepth]).toEqual([64, 48, 1, 8]);
    expect([rgb.height, rgb.width, rgb.channels, rgb.bitDepth]).toEqual([64, 48, 3, 8]);
    expect(Buffer.from(gray.data).equals(Buffer.from(get(ts, 'png_gray_u8').data as Uint8Array))).toBe(true);
    expect(Buffer.from(rgb.data).equals(Buffer.from(get(ts, 'png_rgb_u8').data as Uint8Array))).toBe(true);
  });

  test.each([
    ['gray_merge_channels', 'xray_gray.png', true, 1],
    ['rgb_no_merge', 'xray_rgb.png', false, 3],
    ['rgb_merge_channels', 'xray_rgb.png', true, 1],
  ] as const)('%s matches load_2d within 1e-6 (and bit for bit)', async (name, file, merge, channels) => {
    const img = await readImage(join(dir, 'inputs', file));
    const out = preprocess2D(img, { mergeChannels: merge, modelChannels: channels, name: file });
    const want = f32(ts, name);
    expect([out.channels, out.height, out.width]).toEqual(get(ts, name).shape.slice(1));
    expect(maxAbs(out.data, want)).toBeLessThanOrEqual(1e-6);
    expect(bitDiffs(out.data, want)).toBe(0);
  });

  test('a 1-channel image for a 3-channel model is refused with a clear message', async () => {
    const img = await readImage(join(dir, 'inputs/xray_gray.png'));
    expect(() => preprocess2D(img, { mergeChannels: false, modelChannels: 3, name: 'xray_gray.png' })).toThrow(
      /xray_gray\.png: 1-channel image .* takes 3 channels; use an RGB file/,
    );
  });

  test('16-bit grayscale keeps its integers (PIL mode "I"), other 16-bit images use the high byte', () => {
    const data16 = Uint16Array.from([0, 1000, 65535, 30000]);
    const g = preprocess2D({ width: 2, height: 2, channels: 1, bitDepth: 16, data: data16 }, { mergeChannels: true, modelChannels: 1 });
    const f = Math.fround;
    const expected = [0, 1000, 65535, 30000].map((v) => f(f(f(v / 65535) - 0.5) / 0.5));
    expect(Array.from(g.data)).toEqual(expected);
    const rgb16 = Uint16Array.from([0x1234, 0, 0xff00, 0x00ff, 0xffff, 0x8000]);
    const c = preprocess2D({ width: 2, height: 1, channels: 3, bitDepth: 16, data: rgb16 }, { mergeChannels: false, modelChannels: 3 });
    // Channel 0 holds high bytes 0x12 and 0x00: min-max maps them to 1 and 0, then to [-1, 1].
    expect(Array.from(c.data.subarray(0, 2))).toEqual([1, -1]);
  });
});

describe('MedVAE 3D preprocessing (preprocess_3d_ct, preprocess_3d_mri): bit-exact', () => {
  test.each([
    ['preprocess_3d_ct', 'ct.nii.gz', 'ct', 'LPS'],
    ['preprocess_3d_mri', 'mri.nii.gz', 'mri', 'PIR'],
  ] as const)('%s from the stored voxels and affine', (name, _file, modality, axcodes) => {
    const ts = tensors(name);
    const raw = get(ts, 'raw_scaled');
    const out = preprocess3DArray(raw.data as Float32Array, raw.shape, affineOf(get(ts, 'affine')), modality, name);
    const want = get(ts, 'preprocessed');
    expect(out.shape).toEqual(want.shape.slice(2));
    expect(out.sourceAxcodes).toBe(axcodes);
    expect(bitDiffs(out.data, want.data as Float32Array)).toBe(0);
  });

  test.each([
    ['preprocess_3d_ct', 'ct.nii.gz', 'ct'],
    ['preprocess_3d_mri', 'mri.nii.gz', 'mri'],
  ] as const)('%s from the .nii.gz file (voxels, scaling and affine as nibabel reads them)', async (name, file, modality) => {
    const ts = tensors(name);
    const vol = await readNifti(join(dir, 'inputs', file));
    expect(vol.shape).toEqual(get(ts, 'raw_scaled').shape);
    const affine = affineOf(get(ts, 'affine'));
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(vol.affine[r]?.[c]).toBeCloseTo(affine[r]?.[c] as number, 12);
    const out = preprocess3D(vol, modality);
    expect(bitDiffs(out.data, get(ts, 'preprocessed').data as Float32Array)).toBe(0);
  });

  test('the box grows to multiples of 16 around the foreground and pads outside with zeros', () => {
    // 20 voxels of foreground starting at 5 on axis 0: grown to 32, shifted back by 6 → [-1, 31).
    const shape = [40, 3, 3] as const;
    const data = new Float32Array(40 * 9).fill(-1);
    for (let a = 5; a < 25; a++) data[a * 9 + 4] = 0.5;
    const box = foregroundBox(data, shape);
    expect(box).toEqual({ start: [-1, -6, -6], end: [31, 10, 10] });
  });

  test('CT intensities: clip((HU + 1000) / 2000, 0, 1) then (x - 0.5) / 0.5; MRI: global min-max', () => {
    const ct = normalizeIntensity(Float32Array.from([-2000, -1000, 0, 500, 1000, 3000]), 'ct');
    expect(Array.from(ct.data)).toEqual([-1, -1, 0, 0.5, 1, 1]);
    const mri = normalizeIntensity(Float32Array.from([10, 20, 30]), 'mri');
    expect(Array.from(mri.data)).toEqual([-1, 0, 1]);
    expect([mri.min, mri.max]).toEqual([10, 30]);
  });

  test('a volume without foreground is refused (the reference would crop to nothing)', () => {
    const eye = [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ];
    expect(() => preprocess3DArray(new Float32Array(8).fill(-1000), [2, 2, 2], eye, 'ct', 'empty.nii')).toThrow(
      /empty\.nii: no foreground/,
    );
  });
});
