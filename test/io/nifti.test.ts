import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { gunzipSync, gzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNifti, niftiToFloat32, niftiToRAS, readNifti, writeNifti } from '../../src/io/nifti.js';
import { type Affine, applyOrientation, axcodes, ioOrientation } from '../../src/io/orientation.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { MedgpuError } from '../../src/runtime/errors.js';
import { expectTypedOutcome, FUZZ_RUNS, FuzzTally, mutate, mutationArb } from './fuzz.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const niftiDir = join(fixtures, 'io/nifti');
const nib = JSON.parse(await readFile(join(niftiDir, 'expected.json'), 'utf8')) as {
  cases: Record<
    string,
    {
      shape: number[];
      dtype: string;
      affine: Affine;
      axcodes: string;
      stored: number[];
      scaled_f32: number[];
      ras_shape: number[];
      ras_f32: number[];
      ras_affine: Affine;
      ras_axcodes: string;
    }
  >;
};
const tally = new FuzzTally();
const tmp = mkdtemp(join(tmpdir(), 'medgpu-nii-'));
afterAll(async () => {
  console.log(`nifti fuzz:\n${tally.report()}`);
  await rm(await tmp, { recursive: true, force: true });
});

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

describe('NIfTI against the MedVAE fixtures', () => {
  for (const [file, kase, from] of [
    ['ct.nii.gz', 'preprocess_3d_ct', 'LPS'],
    ['mri.nii.gz', 'preprocess_3d_mri', 'PIR'],
  ] as const) {
    it(`${file}: stored voxels, scaled float32 voxels and the affine equal the fixture's raw tensors exactly`, async () => {
      const vol = await readNifti(join(fixtures, 'medvae/inputs', file));
      const ref = await loadSafetensors(join(fixtures, 'medvae/cases', `${kase}.safetensors`));
      const stored = ref.get('raw_stored')!;
      expect(vol.shape).toEqual(stored.shape);
      expect(vol.dtype).toBe(stored.dtype);
      expect(same(vol.data as ArrayLike<number>, stored.data as ArrayLike<number>)).toBe(true);
      expect(same(niftiToFloat32(vol), ref.get('raw_scaled')!.data as Float32Array)).toBe(true);
      expect(same(vol.affine.flat(), ref.get('affine')!.data as Float64Array)).toBe(true);
      expect(vol.affineSource).toBe('sform');
      expect(axcodes(vol.affine)).toBe(from);
      if (file === 'ct.nii.gz') expect(vol.scaling).toEqual({ slope: 1, inter: -1024 });
      else expect(vol.scaling).toBeNull();
    });
  }

  it('orientation to RAS feeds the reference 3D preprocessing: CT intensity window + CropForeground(k=16) reproduces the fixture', async () => {
    // A compact restatement of MedVAE's load_ct_3d after Orientation (tested here because the orientation is ours):
    // clip((HU+1000)/2000, 0, 1), (x-0.5)/0.5, bounding box of x > 0, sides rounded up to 16, centred, zero-padded.
    const ras = niftiToRAS(await readNifti(join(fixtures, 'medvae/inputs/ct.nii.gz')));
    expect(ras.fromAxcodes).toBe('LPS');
    expect(axcodes(ras.affine)).toBe('RAS');
    const x = Float32Array.from(niftiToFloat32(ras), (hu) => {
      const v = Math.fround(Math.fround(hu + 1000) / 2000);
      return Math.fround((Math.min(Math.max(v, 0), 1) - 0.5) / 0.5);
    });
    const [X, Y, Z] = ras.shape as [number, number, number];
    const lo = [X, Y, Z];
    const hi = [-1, -1, -1];
    for (let i = 0; i < X; i++)
      for (let j = 0; j < Y; j++)
        for (let k = 0; k < Z; k++)
          if ((x[(i * Y + j) * Z + k] as number) > 0)
            [i, j, k].forEach((c, a) => {
              lo[a] = Math.min(lo[a] as number, c);
              hi[a] = Math.max(hi[a] as number, c + 1);
            });
    const start = lo.map((l, a) => {
      const size = (hi[a] as number) - l;
      const want = Math.ceil(size / 16) * 16;
      return l - Math.floor((want - size) / 2);
    });
    const size = lo.map((l, a) => Math.ceil(((hi[a] as number) - l) / 16) * 16);
    const ref = await loadSafetensors(join(fixtures, 'medvae/cases/preprocess_3d_ct.safetensors'));
    const want = ref.get('preprocessed')!;
    expect(want.shape).toEqual([1, 1, ...size]);
    const got = new Float32Array(want.data.length);
    let o = 0;
    for (let i = 0; i < size[0]!; i++)
      for (let j = 0; j < size[1]!; j++)
        for (let k = 0; k < size[2]!; k++) {
          const [a, b, c] = [start[0]! + i, start[1]! + j, start[2]! + k];
          got[o++] = a >= 0 && a < X && b >= 0 && b < Y && c >= 0 && c < Z ? (x[(a * Y + b) * Z + c] as number) : 0;
        }
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs((got[i] as number) - (want.data[i] as number)));
    expect(maxErr).toBeLessThanOrEqual(1e-6); // the fixture's tolerance
  });
});

describe('NIfTI against nibabel (test/fixtures/io/nifti/make_cases.py)', () => {
  for (const [file, e] of Object.entries(nib.cases)) {
    it(`${file}: shape, dtype, stored and scaled voxels, affine (sform/qform/base rules), axcodes and MONAI RAS orientation`, async () => {
      const vol = await readNifti(join(niftiDir, file));
      expect(vol.shape).toEqual(e.shape);
      expect(vol.dtype).toBe({ int16: 'I16', float32: 'F32', uint8: 'U8', '>f8': 'F64', uint16: 'U16', int32: 'I32', int8: 'I8' }[e.dtype]);
      expect(same(vol.data as ArrayLike<number>, e.stored)).toBe(true);
      expect(same(niftiToFloat32(vol), Float32Array.from(e.scaled_f32))).toBe(true);
      // nibabel builds qform affines in extended precision; ours are float64: equal to 1e-14.
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(vol.affine[i]![j]).toBeCloseTo(e.affine[i]![j]!, 13);
      if (vol.affineSource !== 'qform') expect(same(vol.affine.flat(), e.affine.flat())).toBe(true);
      expect(axcodes(vol.affine)).toBe(e.axcodes);
      const ras = niftiToRAS(vol);
      expect(ras.shape).toEqual(e.ras_shape);
      expect(same(niftiToFloat32(ras), Float32Array.from(e.ras_f32))).toBe(true);
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(ras.affine[i]![j]).toBeCloseTo(e.ras_affine[i]![j]!, 12);
      expect(axcodes(ras.affine)).toBe(e.ras_axcodes);
    });
  }

  it('io_orientation: permutations and flips of every axis order, with shear and small obliquity', () => {
    const perms = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const p of perms) {
      for (let flips = 0; flips < 8; flips++) {
        const a: Affine = [
          [0, 0, 0, 5],
          [0, 0, 0, -3],
          [0, 0, 0, 2],
          [0, 0, 0, 1],
        ];
        p.forEach((out, inAx) => {
          a[out]![inAx] = (flips >> inAx) & 1 ? -(inAx + 1) * 0.7 : (inAx + 1) * 0.7;
          a[(out + 1) % 3]![inAx] = 0.05; // shear / obliquity
        });
        const ornt = ioOrientation(a);
        for (const [inAx, out] of p.entries()) expect(ornt[inAx]).toEqual([out, (flips >> inAx) & 1 ? -1 : 1]);
      }
    }
    expect(() =>
      ioOrientation(
        [
          [1, 0, 0, 0],
          [0, 1, 0, 0],
          [0, 0, 0, 0],
          [0, 0, 0, 1],
        ],
        'flat.nii',
      ),
    ).toThrow(/flat\.nii: voxel axis 2 has no direction/);
  });

  test.prop(
    [
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 4 }),
      fc.constantFrom(...[0, 1, 2, 3, 4, 5]),
      fc.integer({ min: 0, max: 7 }),
    ],
    { numRuns: 60 },
  )('applyOrientation moves each voxel to its permuted/flipped index exactly (nibabel apply_orientation)', (shape, permIdx, flips) => {
    const perm = (
      [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
      ] as const
    )[permIdx]!;
    const ornt = perm.map((out, i) => [out, (flips >> i) & 1 ? -1 : 1] as [number, 1 | -1]);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Int32Array.from({ length: n }, (_, i) => i);
    const r = applyOrientation(data, shape, ornt);
    const outShape = [...shape];
    perm.forEach((out, i) => {
      outShape[out] = shape[i]!;
    });
    expect(r.shape).toEqual(outShape);
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const outStrides = outShape.map((_, d) => outShape.slice(d + 1).reduce((a, b) => a * b, 1));
    for (let i = 0; i < n; i++) {
      const idx = shape.map((s, d) => Math.floor(i / strides[d]!) % s);
      const o = idx.map((c, d) => (d < 3 ? 0 : c));
      for (let d = 0; d < 3; d++) o[perm[d]!] = (flips >> d) & 1 ? shape[d]! - 1 - idx[d]! : idx[d]!;
      expect(r.data[o.reduce((s, c, d) => s + c * outStrides[d]!, 0)]).toBe(i);
    }
  });
});

describe('NIfTI writing', () => {
  it('round-trips every datatype through .nii and .nii.gz (data, shape, affine, scaling); nibabel-style header', async () => {
    const affine: Affine = [
      [0, 0, 1.2, -10],
      [-0.8, 0, 0, 20],
      [0, -2, 0, 5],
      [0, 0, 0, 1],
    ];
    const shape = [3, 4, 5];
    const n = 60;
    const arrays = [
      Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256),
      Int8Array.from({ length: n }, (_, i) => ((i * 37) % 256) - 128),
      Int16Array.from({ length: n }, (_, i) => i * 1000 - 30000),
      Uint16Array.from({ length: n }, (_, i) => i * 1000),
      Int32Array.from({ length: n }, (_, i) => (i - 30) * 70_000_000),
      Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i) * 1e3)),
      Float64Array.from({ length: n }, (_, i) => Math.cos(i) / 3),
    ];
    for (const data of arrays) {
      for (const ext of ['.nii', '.nii.gz']) {
        const path = join(await tmp, `${data.constructor.name}${ext}`);
        await writeNifti(path, {
          shape,
          data,
          affine,
          scaling: data instanceof Int16Array ? { slope: 0.5, inter: -3 } : null,
          description: 'medgpu test',
        });
        const back = await readNifti(path);
        expect(back.shape).toEqual(shape);
        expect(back.data, path).toEqual(data);
        expect(back.affine).toEqual(affine.map((r) => r.map(Math.fround)));
        expect(back.header.descrip).toBe('medgpu test');
        expect(back.header.sformCode).toBe(2);
        expect(back.zooms.map((z) => +z.toFixed(5))).toEqual([0.8, 2, 1.2]);
        if (data instanceof Int16Array) expect(niftiToFloat32(back)[0]).toBe(-30000 * 0.5 - 3);
        // The qform written alongside describes the same rotation (qform_code 0, as nibabel writes).
        const q = await readNifti(setCodes(new Uint8Array(await readFile(path)), { qform: 1, sform: 0 }), 'q.nii');
        for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) expect(q.affine[i]![j]).toBeCloseTo(affine[i]![j]!, 5);
      }
    }
  });

  it('never overwrites an existing file unless asked', async () => {
    const path = join(await tmp, 'keep.nii.gz');
    const vol = {
      shape: [2, 2, 2],
      data: new Float32Array(8).fill(1),
      affine: [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
    };
    await writeNifti(path, vol);
    const e = await writeNifti(path, { ...vol, data: new Float32Array(8) }).catch((x: unknown) => x as MedgpuError);
    expect((e as MedgpuError).code).toBe('FILE_EXISTS');
    expect((e as Error).message).toMatch(/keep\.nii\.gz already exists; refusing to overwrite it/);
    expect((await readNifti(path)).data).toEqual(new Float32Array(8).fill(1));
    await writeNifti(path, { ...vol, data: new Float32Array(8).fill(2) }, { overwrite: true });
    expect((await readNifti(path)).data).toEqual(new Float32Array(8).fill(2));
  });
});

/** Sets qform/sform codes in an (uncompressed or gzipped) file's header. */
function setCodes(bytes: Uint8Array, codes: { qform: number; sform: number }): Uint8Array {
  const gz = bytes[0] === 0x1f;
  const raw = gz ? gunzipSync(bytes) : bytes.slice();
  const dv = new DataView(raw.buffer, raw.byteOffset);
  dv.setInt16(252, codes.qform, true);
  dv.setInt16(254, codes.sform, true);
  return raw;
}

describe('bad NIfTI files', () => {
  const base = encodeNifti({
    shape: [4, 3, 2],
    data: new Int16Array(24).map((_, i) => i),
    affine: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
  });
  const patch = (f: (dv: DataView, b: Uint8Array) => void, gzip = false) => {
    const b = base.slice();
    f(new DataView(b.buffer), b);
    return gzip ? gzipSync(b) : b;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['wrong sizeof_hdr', patch((dv) => dv.setInt32(0, 300, true)), /sizeof_hdr is 300, not 348: not a NIfTI-1 file/],
    ['NIfTI-2', patch((dv) => dv.setInt32(0, 540, true)), /a NIfTI-2 file; only NIfTI-1 is supported/],
    ['bad magic', patch((_, b) => b.set([0x41, 0x42, 0x43, 0], 344)), /magic is "ABC", not "n\+1"/],
    ['pair header', patch((_, b) => b.set([0x6e, 0x69, 0x31, 0], 344)), /the header of a \.hdr\/\.img pair/],
    ['dim[0] = 0', patch((dv) => dv.setInt16(40, 0, true)), /dim\[0\] is 0; it must be 1 to 7/],
    ['dim[0] = 9', patch((dv) => dv.setInt16(40, 9, true)), /dim\[0\] is 9; it must be 1 to 7/],
    ['negative dim', patch((dv) => dv.setInt16(44, -3, true)), /dim\[2\] is -3; every dimension must be at least 1/],
    [
      'complex datatype',
      patch((dv) => dv.setInt16(70, 32, true)),
      /NIfTI datatype 32 \(complex64\) is not supported; supported: uint8, int16/,
    ],
    ['unknown datatype', patch((dv) => dv.setInt16(70, 99, true)), /NIfTI datatype 99 is not supported/],
    ['vox_offset inside the header', patch((dv) => dv.setFloat32(108, 100, true)), /vox_offset 100 points inside the header/],
    ['fractional vox_offset', patch((dv) => dv.setFloat32(108, 352.5, true)), /vox_offset 352\.5 is not a non-negative integer/],
    [
      'truncated data',
      base.subarray(0, base.length - 10),
      /truncated: the header promises 48 bytes of voxel data from offset 352, the file holds 38/,
    ],
    [
      'truncated gzip data',
      gzipSync(base.subarray(0, base.length - 10)),
      /truncated: the header promises 48 bytes of voxel data from offset 352, the file holds 38/,
    ],
    ['truncated header', base.subarray(0, 200), /only 200 bytes; a NIfTI-1 header has 348/],
    ['gzip of a short stream', gzipSync(base.subarray(0, 100)), /the gzip stream holds fewer than 348 bytes/],
    [
      'corrupt gzip',
      (() => {
        const g = gzipSync(base);
        g[20] = (g[20] as number) ^ 0xff;
        g[21] = (g[21] as number) ^ 0x5a;
        return g;
      })(),
      /bad\.nii: gzip data is corrupt or truncated \(invalid distance\)/,
    ],
    [
      'huge dims (limit)',
      patch((dv) => {
        for (const o of [42, 44, 46]) dv.setInt16(o, 32767, true);
      }),
      /the volume \[32767,32767,32767\] holds 70362301923326 bytes, over the 2147483648-byte limit/,
    ],
    [
      'huge dims in a small gzip',
      patch((dv) => {
        dv.setInt16(42, 32767, true);
        dv.setInt16(44, 300, true);
      }, true),
      /the header claims \d+ bytes but \d+ gzip bytes cannot hold that much/,
    ],
    [
      'scaling with a bad intercept',
      patch((dv) => dv.setFloat32(116, Number.POSITIVE_INFINITY, true)),
      /scl_slope is 1 but scl_inter is Infinity/,
    ],
  ];
  for (const [what, bytes, pattern] of cases) {
    it(`${what}: a typed error naming the file`, async () => {
      const e = await readNifti(bytes, 'bad.nii').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MedgpuError);
      expect((e as Error).message).toMatch(/^bad\.nii: /);
      expect((e as Error).message).toMatch(pattern);
    });
  }

  test.prop([mutationArb, fc.boolean()], { numRuns: FUZZ_RUNS })(
    'fuzz: mutated .nii / .nii.gz files read or fail with a typed error naming the file',
    async (m, gz) => {
      const valid = gz
        ? new Uint8Array(await readFile(join(niftiDir, 'sform_permuted_f32.nii.gz')))
        : new Uint8Array(await readFile(join(niftiDir, 'qform_oblique_i16.nii')));
      const bytes = mutate(valid, m, gz ? [0, valid.length] : [0, 400]);
      tally.record(
        gz ? '.nii.gz mutations' : '.nii header mutations',
        await expectTypedOutcome('fuzz.nii', async () => {
          const v = await readNifti(bytes, 'fuzz.nii');
          niftiToRAS(v);
          niftiToFloat32(v);
        }),
      );
    },
  );
});
