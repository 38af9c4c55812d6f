import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, loadSafetensors, openSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { openWeights, weightSourceFromBytes } from '../../src/io/weights.js';
import { f32ToF16Bits, toF16Array } from '../../src/runtime/dtype.js';
import { FileFormatError, MedgpuError } from '../../src/runtime/errors.js';
import { expectTypedOutcome, FUZZ_RUNS, FuzzTally, mutate, mutationArb } from './fuzz.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const tally = new FuzzTally();
afterAll(() => console.log(`safetensors fuzz:\n${tally.report()}`));

async function findSafetensors(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findSafetensors(p)));
    else if (e.name.endsWith('.safetensors')) out.push(p);
  }
  return out.sort();
}

/** An independent reading of the format (header JSON + byte ranges), to compare the streamed reads with. */
function sliceByHeader(file: Uint8Array): {
  tensors: Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>;
  metadata: unknown;
} {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>();
  for (const [k, v] of Object.entries(header)) {
    if (k !== '__metadata__')
      out.set(k, { dtype: v.dtype, shape: v.shape, bytes: file.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]) });
  }
  return { tensors: out, metadata: header.__metadata__ ?? {} };
}

/** Byte equality of two typed arrays (fast; vitest's deep equality is slow on megabytes). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function header(obj: unknown, dataBytes = 16): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function expectBad(bytes: Uint8Array, pattern: RegExp) {
  const err = await openSafetensors(bytes, 'bad.safetensors').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FileFormatError);
  expect((err as Error).message).toMatch(/^bad\.safetensors: /);
  expect((err as Error).message).toMatch(pattern);
}

describe('safetensors reading', () => {
  it('streams every safetensors file in the fixtures: each tensor exactly the bytes its header range holds', async () => {
    const files = await findSafetensors(fixtures);
    expect(files.length).toBeGreaterThanOrEqual(10);
    let tensors = 0;
    for (const path of files) {
      const want = sliceByHeader(new Uint8Array(await readFile(path)));
      const f = await openSafetensors(path);
      try {
        expect([...f.tensors.keys()].sort(), relative(fixtures, path)).toEqual([...want.tensors.keys()].sort());
        expect(f.metadata, relative(fixtures, path)).toEqual(want.metadata);
        for (const [name, w] of want.tensors) {
          const raw = await f.readRaw(name);
          expect(raw.dtype).toBe(w.dtype);
          expect(raw.shape).toEqual(w.shape);
          const got = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
          expect(sameBytes(got, w.bytes), `${path}:${name}`).toBe(true);
          tensors++;
        }
      } finally {
        await f.close();
      }
    }
    expect(tensors).toBeGreaterThan(500);
  });

  it('the hub fp16 variant file is the F32 weights rounded to F16: our f32->f16 rounding and f16->f32 widening agree with torch exactly', async () => {
    const dir = join(fixtures, 'unet/unet_3lvl');
    const f32 = await openWeights(join(dir, 'diffusion_pytorch_model.safetensors'));
    const f16 = await openWeights(join(dir, 'diffusion_pytorch_model.fp16.safetensors'));
    expect(f16.keys()).toEqual(f32.keys());
    for (const k of f32.keys()) {
      expect(f16.info(k)?.dtype).toBe('F16');
      const bitsFromF32 = (await f32.read(k, 'f16')) as Uint16Array;
      const bitsInFile = (await f16.readRaw(k)).data as Uint16Array;
      expect(sameBytes(bitsFromF32, bitsInFile), k).toBe(true);
      const widened = (await f16.read(k, 'f32')) as Float32Array;
      const viaScalar = Float32Array.from(bitsInFile, (b) => {
        const sign = b & 0x8000 ? -1 : 1;
        const e = (b >> 10) & 31;
        const m = b & 1023;
        return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
      });
      expect(sameBytes(widened, viaScalar), k).toBe(true);
    }
    await f32.close();
    await f16.close();
  });

  it('reads only the tensor asked for (never the whole file)', async () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(1) },
      b: { dtype: 'F32', shape: [3], data: new Float32Array([7, 8, 9]) },
    });
    const reads: [number, number][] = [];
    const source = {
      name: 'spy.safetensors',
      size: bytes.length,
      read: async (o: number, l: number) => {
        reads.push([o, l]);
        return bytes.subarray(o, o + l);
      },
      close: async () => {},
    };
    const f = await openSafetensors(source);
    const headerReads = reads.length;
    expect([...(await f.read('b')).data]).toEqual([7, 8, 9]);
    expect(reads.slice(headerReads)).toEqual([[f.tensors.get('b')?.byteRange[0], 12]]);
    expect(reads.reduce((s, [, l]) => s + l, 0)).toBeLessThan(bytes.length - 3000);
  });
});

describe('safetensors writing', () => {
  const tmp = mkdtemp(join(tmpdir(), 'medgpu-st-'));
  afterAll(async () => rm(await tmp, { recursive: true, force: true }));

  it('round-trips every dtype with __metadata__, sorted names, 8-byte aligned data', async () => {
    const tensors = {
      h: { dtype: 'I32' as const, shape: [0], data: new Int32Array(0) },
      a: { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) },
      b: { dtype: 'F16' as const, shape: [3], data: toF16Array([0.5, -2, 65504]) },
      c: { dtype: 'BF16' as const, shape: [2], data: new Uint16Array([0x3f80, 0xc040]) },
      d: { dtype: 'I64' as const, shape: [2], data: new BigInt64Array([-1n, 1234567890123n]) },
      e: { dtype: 'U8' as const, shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
      f: { dtype: 'I16' as const, shape: [2], data: new Int16Array([-1024, 3071]) },
      g: { dtype: 'F64' as const, shape: [], data: new Float64Array([Math.PI]) },
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'héllo' });
    const m = await loadSafetensors(bytes);
    expect([...m.keys()]).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect([...m.get('a')!.data]).toEqual([1, 2, 3, 4, 5, -6.5]);
    expect([...m.get('b')!.data]).toEqual([0.5, -2, 65504]);
    expect([...m.get('c')!.data]).toEqual([1, -3]);
    expect([...m.get('d')!.data]).toEqual([-1n, 1234567890123n]);
    expect([...m.get('e')!.data]).toEqual([0, 128, 255]);
    expect([...m.get('f')!.data]).toEqual([-1024, 3071]);
    expect(m.get('g')!.shape).toEqual([]);
    expect([...m.get('g')!.data]).toEqual([Math.PI]);
    const f = await openSafetensors(bytes);
    expect(f.metadata).toEqual({ format: 'pt', note: 'héllo' });
    for (const t of f.tensors.values()) expect(t.byteRange[0] % 8 === 0 || t.dtype !== 'F32').toBe(true);
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    expect((await f.readRaw('b')).data).toBeInstanceOf(Uint16Array);
    // The same file through a WeightSource: every dtype converts for upload.
    const w = await weightSourceFromBytes(bytes, 'all.safetensors');
    expect([...(await w.read('d'))]).toEqual([-1, 1234567954432]); // I64 -> nearest f32
    expect([...(await w.read('c'))]).toEqual([1, -3]);
    expect([...(await w.read('e', 'f16'))]).toEqual([0, f32ToF16Bits(128), f32ToF16Bits(255)]);
    expect([...(await w.read('g'))]).toEqual([Math.fround(Math.PI)]);
  });

  it('writes to disk tensor by tensor (lazily produced data), refusing to overwrite unless asked', async () => {
    const path = join(await tmp, 'lazy.safetensors');
    let produced = 0;
    const lazy = (v: number) => () => {
      produced++;
      return new Float32Array(4).fill(v);
    };
    await writeSafetensors(
      path,
      { x: { dtype: 'F32', shape: [4], data: lazy(1) }, y: { dtype: 'F32', shape: [2, 2], data: lazy(2) } },
      { kind: 'latent' },
    );
    expect(produced).toBe(2);
    const w = await openWeights(path);
    expect(w.metadata).toEqual({ kind: 'latent' });
    expect([...(await w.read('y'))]).toEqual([2, 2, 2, 2]);
    await w.close();
    const err = await writeSafetensors(path, { x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MedgpuError);
    expect((err as MedgpuError).code).toBe('FILE_EXISTS');
    expect((err as Error).message).toContain(path);
    await writeSafetensors(path, { z: { dtype: 'F32', shape: [1], data: new Float32Array([5]) } }, undefined, { overwrite: true });
    const keysOf = async () => {
      const s = await openWeights(path);
      await s.close();
      return s.keys();
    };
    expect(await keysOf()).toEqual(['z']);
    // A data length that does not match the shape is refused (and the old file is left alone).
    await expect(
      writeSafetensors(path, { q: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, undefined, { overwrite: true }),
    ).rejects.toThrow(/tensor q: F32 \[3\] needs 12 bytes, the data has 8/);
    expect(await keysOf()).toEqual(['z']);
  });

  it('reads sharded files through the index, naming shard problems', async () => {
    const dir = await mkdtemp(join(await tmp, 'shard-'));
    await writeSafetensors(join(dir, 's1.safetensors'), { x: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    await writeSafetensors(join(dir, 's2.safetensors'), { y: { dtype: 'F16', shape: [1], data: toF16Array([3]) } });
    const idx = join(dir, 'model.safetensors.index.json');
    await writeFile(idx, JSON.stringify({ metadata: { total_size: 10 }, weight_map: { x: 's1.safetensors', y: 's2.safetensors' } }));
    const s = await openWeights(idx);
    expect(s.format).toBe('sharded');
    expect(s.keys()).toEqual(['x', 'y']);
    expect(s.info('y')).toEqual({ name: 'y', dtype: 'F16', shape: [1] });
    expect([...(await s.read('y'))]).toEqual([3]);
    expect([...(await s.read('x'))]).toEqual([1, 2]);
    await s.close();
    await writeFile(idx, JSON.stringify({ weight_map: { z: 's1.safetensors' } }));
    await expect(openWeights(idx)).rejects.toThrow(
      /model\.safetensors\.index\.json: tensor z is listed in shard s1\.safetensors but is not in it/,
    );
    await writeFile(idx, JSON.stringify({ weight_map: { x: '../s1.safetensors' } }));
    await expect(openWeights(idx)).rejects.toThrow(/tensor x maps to "\.\.\/s1\.safetensors", not a file name next to the index/);
    await writeFile(idx, JSON.stringify({ weight_map: { x: 'missing.safetensors' } }));
    await expect(openWeights(idx)).rejects.toThrow(/missing\.safetensors: no such file/);
  });
});

describe('safetensors validation', () => {
  it('rejects each kind of bad header with a FileFormatError naming the file and the tensor', async () => {
    await expectBad(new Uint8Array(4), /only 4 bytes; .*8-byte header length/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectBad(huge, /header length 9223372036854775808 exceeds the 100000000-byte limit/);
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 1000n, true);
    await expectBad(past, /header length 1000 runs past the end of the file \(16 bytes\)/);
    await expectBad(header({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }).subarray(0, 20), /runs past the end/);
    const notJson = header({ t: 1 });
    notJson[notJson.length - 17] = 0x2c; // '}' -> ','
    await expectBad(notJson, /header is not valid JSON/);
    const latin = header({ t: 1 });
    latin[10] = 0xff;
    await expectBad(latin, /not valid UTF-8/);
    await expectBad(header([1, 2]), /does not start with "\{"/);
    await expectBad(header({ t: { dtype: 'Q7', shape: [2], data_offsets: [0, 8] } }, 8), /tensor t: dtype "Q7" is not supported/);
    await expectBad(
      header({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8),
      /tensor t: shape \[-2\] is not a list of non-negative integers/,
    );
    await expectBad(header({ t: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 8), /tensor t: shape/);
    await expectBad(
      header({ t: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8),
      /tensor t: data_offsets \[0\] is not \[begin, end\]/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8),
      /tensor t: data_offsets \[8, 0\] end before they begin/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /tensor t: F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }),
      /tensor t: data_offsets \[0, 32\] run past the end of the data \(16 bytes/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, u: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      /tensor u: bytes \[4, 12\] overlap tensor t/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12),
      /tensor t: gap of 8 bytes after the start of the data/,
    );
    await expectBad(
      header({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 12),
      /8 bytes after the last tensor belong to no tensor/,
    );
    await expectBad(
      header({ __metadata__: { a: 1 }, t: { dtype: 'U8', shape: [0], data_offsets: [0, 0] } }, 0),
      /__metadata__\.a is 1, not a string/,
    );
    await expectBad(header({ t: [1] }, 0), /tensor t: header entry is not an object/);
    // Up to 7 bytes of alignment padding are fine, between tensors and at the end.
    const ok = await openSafetensors(
      header({ t: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, u: { dtype: 'U8', shape: [1], data_offsets: [8, 9] } }, 16),
    );
    expect([...ok.tensors.keys()]).toEqual(['t', 'u']);
  });

  test.prop([mutationArb], { numRuns: FUZZ_RUNS })(
    'fuzz: byte-level corruption of a valid file gives a typed error naming the file, or reads fine',
    async (m) => {
      const valid = encodeSafetensors(
        {
          w: { dtype: 'F32', shape: [3, 5], data: new Float32Array(15).map((_, i) => i) },
          b: { dtype: 'F16', shape: [5], data: toF16Array([1, 2, 3, 4, 5]) },
          i: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
        },
        { format: 'pt' },
      );
      const bytes = mutate(valid, m);
      const outcome = await expectTypedOutcome('fuzz.safetensors', async () => {
        const w = await weightSourceFromBytes(bytes, 'fuzz.safetensors');
        for (const k of w.keys()) {
          await w.read(k, 'f32');
          await w.read(k, 'f16');
        }
      });
      tally.record('byte mutations', outcome);
    },
  );

  const entryArb = fc.record({
    dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'F64', 'I16'), fc.string({ maxLength: 4 })),
    shape: fc.array(fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(2 ** 31, 2 ** 53, 1.5)), { maxLength: 4 }),
    data_offsets: fc.array(fc.oneof(fc.integer({ min: -4, max: 200 }), fc.constantFrom(2 ** 32, 2 ** 53 + 2, -1e300)), {
      minLength: 0,
      maxLength: 3,
    }),
  });
  test.prop([fc.dictionary(fc.constantFrom('a', 'b', 'c', '__metadata__'), entryArb, { maxKeys: 4 }), fc.integer({ min: 0, max: 200 })], {
    numRuns: FUZZ_RUNS,
  })(
    'fuzz: crafted headers (wrong dtypes, negative/huge shapes and offsets, overlaps) give typed errors or valid reads',
    async (entries, dataBytes) => {
      const bytes = header(entries, dataBytes);
      const outcome = await expectTypedOutcome('crafted.safetensors', async () => {
        const w = await weightSourceFromBytes(bytes, 'crafted.safetensors');
        for (const k of w.keys()) await w.read(k);
      });
      tally.record('crafted headers', outcome);
    },
  );
});
