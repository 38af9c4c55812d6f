import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { bufferSource } from '../../src/io/source.js';
import type { HostTensor } from '../../src/io/tensor-data.js';
import { loadTorchCheckpoint, openTorchCheckpoint } from '../../src/io/torch-checkpoint.js';
import { openWeights, weightSourceFromByteSource, weightSourceFromBytes } from '../../src/io/weights.js';
import { roundToF16, toF16Array } from '../../src/runtime/dtype.js';
import { CheckpointError, FileFormatError, MedgpuError } from '../../src/runtime/errors.js';
import { expectTypedOutcome, FUZZ_RUNS, FuzzTally, mutate, mutationArb } from './fuzz.js';
import { f32Bytes, op, pickle, stateDictOps, type TensorSpec, torchLegacy, torchZip } from './pickle-builder.js';

const fixtures = join(import.meta.dirname, '../fixtures');
const dir = join(fixtures, 'checkpoints');
const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
  cases: { file: string; format: string; dtype: string; tensor_count?: number; expected?: string; same_tensors_as?: string }[];
};
const tally = new FuzzTally();
afterAll(() => console.log(`torch checkpoint fuzz:\n${tally.report()}`));

function expectSame(got: Map<string, HostTensor>, want: Map<string, HostTensor>, f16: boolean) {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect(g.shape, k).toEqual(w.shape);
    const wd = f16 ? roundToF16(w.data as Float32Array) : (w.data as Float32Array);
    expect(
      Buffer.compare(
        Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength),
        Buffer.from(wd.buffer, wd.byteOffset, wd.byteLength),
      ),
      k,
    ).toBe(0);
  }
}

async function errorOf(p: Promise<unknown>): Promise<MedgpuError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MedgpuError);
  return e as MedgpuError;
}

/** One F32 2x2 tensor `w` in a zip checkpoint. */
function simpleZip(spec: Partial<TensorSpec> = {}, values = [1, 2, 3, 4]) {
  const t: TensorSpec = {
    name: 'w',
    storageType: 'FloatStorage',
    key: '0',
    numel: values.length,
    offset: 0,
    shape: [2, 2],
    stride: [2, 1],
    ...spec,
  };
  return torchZip(pickle(op.proto(2), stateDictOps([t]), op.stop), { [t.key]: f32Bytes(values) });
}

describe('PyTorch checkpoint fixtures', () => {
  for (const c of manifest.cases) {
    it(`${c.file} (${c.format}, ${c.dtype}) yields exactly the expected tensors`, async () => {
      const path = join(dir, c.file);
      const ck = await openTorchCheckpoint(path);
      expect(ck.format).toBe(c.format);
      await ck.close();
      const got = await loadTorchCheckpoint(path);
      if (c.expected) expectSame(got, await loadSafetensors(join(dir, c.expected)), false);
      else {
        expect(got.size).toBe(c.tensor_count);
        for (const t of got.values()) expect(t.dtype).toBe(c.dtype);
        const same = (c.same_tensors_as as string).split(' ')[0] as string;
        expectSame(got, await loadSafetensors(join(fixtures, same)), c.dtype === 'F16');
      }
    });
  }

  it('views_zip.pt: views of one shared storage (offset row, transposed strides, column) through a WeightSource', async () => {
    const w = await openWeights(join(dir, 'views_zip.pt'));
    const want = await loadSafetensors(join(dir, 'views_expected.safetensors'));
    expect(w.format).toBe('torch-zip');
    expect(w.keys().sort()).toEqual([...want.keys()].sort());
    for (const [k, t] of want) {
      expect(w.info(k)).toEqual({ name: k, dtype: 'F32', shape: t.shape });
      expect(await w.read(k), k).toEqual(t.data);
    }
    await w.close();
  });

  it('the F16 checkpoint reads as f16 bits unchanged and widens to f32 exactly', async () => {
    const w16 = await openWeights(join(dir, 'medvae_4_3_2d_zip_f16.ckpt'));
    const w32 = await openWeights(join(dir, 'medvae_4_3_2d_zip.ckpt'));
    for (const k of w16.keys().slice(0, 40)) {
      const bits = (await w16.readRaw(k)).data as Uint16Array;
      expect(await w16.read(k, 'f16'), k).toEqual(bits);
      expect(await w32.read(k, 'f16'), k).toEqual(bits); // our f32->f16 rounding == torch .half()
      expect(await w16.read(k, 'f32'), k).toEqual(roundToF16((await w32.read(k)) as Float32Array));
    }
    await w16.close();
    await w32.close();
  });

  it('keeps the non-tensor entries of a Lightning checkpoint; the WeightSource unwraps state_dict', async () => {
    const ck = await openTorchCheckpoint(join(dir, 'medvae_4_3_2d_zip.ckpt'));
    const root = ck.root as Map<string, unknown>;
    expect(root.get('epoch')).toBe(3);
    expect(root.get('global_step')).toBe(1234);
    await ck.close();
    const w = await openWeights(join(dir, 'medvae_4_3_2d_legacy.ckpt'));
    expect(w.format).toBe('torch-legacy');
    expect(w.keys()).toHaveLength(224);
    expect(w.keys()).toContain('encoder.conv_in.weight');
    await w.close();
    const explicit = await openWeights(join(dir, 'medvae_4_3_2d_zip.ckpt'), { stateDictKey: 'state_dict' });
    expect(explicit.keys()).toHaveLength(224);
    await explicit.close();
    const e = await errorOf(openWeights(join(dir, 'medvae_4_3_2d_zip.ckpt'), { stateDictKey: 'model' }));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/medvae_4_3_2d_zip\.ckpt: no dict under key "model"; the top-level keys are state_dict, epoch, global_step/);
  });

  it('opening reads only the pickle; a tensor read fetches only its own bytes (zip and legacy)', async () => {
    for (const file of ['medvae_4_3_2d_zip.ckpt', 'medvae_4_3_2d_legacy.ckpt']) {
      const bytes = new Uint8Array(await readFile(join(dir, file)));
      let read = 0;
      const spy = bufferSource(bytes, file);
      const counting = {
        ...spy,
        read: (o: number, l: number) => {
          read += l;
          return spy.read(o, l);
        },
      };
      const w = await weightSourceFromByteSource(counting);
      expect(read, `${file} open`).toBeLessThan(bytes.length / 10);
      const before = read;
      const k = 'decoder.conv_out.weight';
      const t = w.info(k)!;
      await w.read(k);
      expect(read - before, `${file} one tensor`).toBeLessThanOrEqual(t.shape.reduce((a, b) => a * b, 1) * 4 + 64);
      await w.close();
    }
  });
});

describe('PyTorch checkpoint construction', () => {
  it('strided views, storage offsets, zero strides, F16/BF16/I64 storages, legacy storage views', async () => {
    const storage = f32Bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const specs: TensorSpec[] = [
      { name: 'rows', storageType: 'FloatStorage', key: 's', numel: 12, offset: 4, shape: [2, 4], stride: [4, 1] },
      { name: 'transposed', storageType: 'FloatStorage', key: 's', numel: 12, offset: 0, shape: [4, 3], stride: [1, 4] },
      { name: 'column', storageType: 'FloatStorage', key: 's', numel: 12, offset: 1, shape: [3], stride: [4] },
      { name: 'expanded', storageType: 'FloatStorage', key: 's', numel: 12, offset: 2, shape: [2, 3], stride: [0, 1] },
      { name: 'scalar', storageType: 'FloatStorage', key: 's', numel: 12, offset: 11, shape: [], stride: [] },
      { name: 'half', storageType: 'HalfStorage', key: 'h', numel: 2, offset: 0, shape: [2], stride: [1] },
      { name: 'bf', storageType: 'BFloat16Storage', key: 'b', numel: 2, offset: 0, shape: [2], stride: [1] },
      { name: 'ids', storageType: 'LongStorage', key: 'l', numel: 2, offset: 0, shape: [1, 2], stride: [2, 1] },
    ];
    const storages = {
      s: storage,
      h: new Uint8Array(toF16Array([0.5, -1.5]).buffer),
      b: new Uint8Array(new Uint16Array([0x3f80, 0xc000]).buffer),
      l: new Uint8Array(new BigInt64Array([7n, -9n]).buffer),
    };
    const want: Record<string, number[]> = {
      rows: [4, 5, 6, 7, 8, 9, 10, 11],
      transposed: [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
      column: [1, 5, 9],
      expanded: [2, 3, 4, 2, 3, 4],
      scalar: [11],
      half: [0.5, -1.5],
      bf: [1, -2],
      ids: [7, -9],
    };
    const zip = await weightSourceFromBytes(torchZip(pickle(op.proto(2), stateDictOps(specs), op.stop), storages), 'built.pt');
    for (const [k, v] of Object.entries(want)) expect([...(await zip.read(k))], k).toEqual(v);
    expect((await zip.readRaw('ids')).data).toEqual(new BigInt64Array([7n, -9n]));
    // Legacy: the same tensors, plus one whose storage is a view (offset 6, 4 elements) of storage s.
    const legacySpecs: TensorSpec[] = [
      ...specs,
      { name: 'sub', storageType: 'FloatStorage', key: 's', numel: 12, offset: 1, shape: [2], stride: [2], view: ['v', 6, 4] },
    ];
    const legacy = torchLegacy(stateDictOps(legacySpecs, true), [
      ['s', storages.s, 12],
      ['h', storages.h, 2],
      ['b', storages.b, 2],
      ['l', storages.l, 2],
    ]);
    const lw = await weightSourceFromBytes(legacy, 'built_legacy.pt');
    expect(lw.format).toBe('torch-legacy');
    for (const [k, v] of Object.entries({ ...want, sub: [7, 9] })) expect([...(await lw.read(k))], k).toEqual(v);
  });

  it('Lightning-style extras (callback class keys, numpy scalars, argparse hyper-parameters) load as inert data around the weights', async () => {
    const weights = stateDictOps([{ name: 'w', storageType: 'FloatStorage', key: '0', numel: 2, offset: 0, shape: [2], stride: [1] }]);
    const pkl = pickle(
      op.proto(2),
      op.emptyDict,
      op.str('state_dict'),
      weights,
      // A state dict carries `_metadata` as an attribute (BUILD), not as an item.
      op.emptyDict,
      op.str('_metadata'),
      op.emptyDict,
      op.setitem,
      op.build,
      op.setitem,
      op.str('global_step'),
      op.global('numpy.core.multiarray', 'scalar'),
      op.global('numpy', 'dtype'),
      op.str('i8'),
      op.tuple1,
      op.reduce,
      op.str('\x01\x00\x00\x00\x00\x00\x00\x00'),
      op.tuple2,
      op.reduce,
      op.setitem,
      op.str('callbacks'),
      op.emptyDict,
      op.global('pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint'),
      op.emptyDict,
      op.setitem,
      op.setitem,
      op.str('hyper_parameters'),
      op.global('argparse', 'Namespace'),
      op.emptyTuple,
      [0x81], // NEWOBJ
      op.emptyDict,
      op.str('lr'),
      op.int(3),
      op.setitem,
      op.build,
      op.setitem,
      op.stop,
    );
    const bytes = torchZip(pkl, { 0: f32Bytes([5, 6]) });
    const w = await weightSourceFromBytes(bytes, 'lightning.ckpt');
    expect(w.keys()).toEqual(['w']);
    expect([...(await w.read('w'))]).toEqual([5, 6]);
    const ck = await openTorchCheckpoint(bytes, 'lightning.ckpt');
    const root = ck.root as Map<string, unknown>;
    expect([...(root.get('state_dict') as Map<string, unknown>).keys()]).toEqual(['w']);
    expect(root.get('hyper_parameters')).toMatchObject({ qualname: 'argparse.Namespace', state: new Map([['lr', 3]]) });
    expect(root.get('global_step')).toMatchObject({ qualname: 'numpy.core.multiarray.scalar' });
  });

  it('refuses globals that are not on the allow-list, naming them, and never calls anything', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'GLOBAL posix.system + REDUCE',
        pickle(op.proto(2), op.global('posix', 'system'), op.mark, op.str('echo pwned'), op.tuple, op.reduce, op.stop),
        /refusing pickle global posix\.system/,
      ],
      [
        'STACK_GLOBAL os.system',
        pickle(op.proto(4), op.str('os'), op.str('system'), op.stackGlobal, op.str('id'), op.tuple1, op.reduce, op.stop),
        /refusing pickle global os\.system/,
      ],
      [
        'builtins.eval',
        pickle(op.proto(2), op.global('builtins', 'eval'), op.str('1+1'), op.tuple1, op.reduce, op.stop),
        /refusing pickle global builtins\.eval/,
      ],
      [
        'subprocess.Popen in a state dict',
        pickle(op.proto(2), op.emptyDict, op.str('x'), op.global('subprocess', 'Popen'), op.setitem, op.stop),
        /refusing pickle global subprocess\.Popen/,
      ],
      ['torch.load itself', pickle(op.proto(2), op.global('torch', 'load'), op.stop), /refusing pickle global torch\.load/],
    ];
    for (const [what, pkl, pattern] of cases) {
      for (const [file, bytes] of [
        ['evil.pt', torchZip(pkl, {})],
        ['evil_legacy.pt', torchLegacy([...pkl.subarray(2, pkl.length - 1)], [])],
      ] as const) {
        const e = await errorOf(weightSourceFromBytes(bytes, file));
        expect(e.code, `${what} ${file}`).toBe('UNSAFE_PICKLE');
        expect(e.message, what).toMatch(new RegExp(`^${file.replace('.', '\\.')}: `));
        expect(e.message, what).toMatch(pattern);
      }
    }
    // An allowed storage class may be referenced but not called.
    const e = await errorOf(
      weightSourceFromBytes(
        torchZip(pickle(op.proto(2), op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop), {}),
        'call.pt',
      ),
    );
    expect(e.message).toMatch(/call\.pt: refusing to call torch\.FloatStorage/);
  });

  it('gives clear typed errors for malformed pickles, deep nesting, huge lengths and lying storages', async () => {
    const deepTuples = pickle(
      op.proto(2),
      op.emptyDict,
      op.str('k'),
      op.int(0),
      new Array<number>(200_000).fill(op.tuple1[0] as number),
      op.setitem,
      op.stop,
    );
    const cases: [string, Uint8Array, RegExp][] = [
      [
        '10001 MARKs',
        torchZip(pickle(op.proto(2), new Array<number>(10_001).fill(op.mark[0] as number), op.stop), {}),
        /nesting deeper than 10000 marks/,
      ],
      [
        'BINUNICODE8 of 2^60 bytes',
        torchZip(pickle(op.proto(4), [0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10], op.stop), {}),
        /pickle needs \d+ bytes at byte \d+ but the data ends/,
      ],
      ['LONG4 of 2^31 bytes', torchZip(pickle(op.proto(2), [0x8b, 0, 0, 0, 0x80], op.stop), {}), /integer of 2147483648 bytes is too long/],
      ['missing memo', torchZip(pickle(op.proto(2), op.binget(7), op.stop), {}), /memo key 7 missing/],
      ['unknown opcode (INST)', torchZip(pickle(op.proto(2), [0x69], op.stop), {}), /unsupported opcode 0x69/],
      ['stack underflow', torchZip(pickle(op.proto(2), op.reduce, op.stop), {}), /stack underflow/],
      ['no STOP', torchZip(pickle(op.proto(2), op.emptyDict), {}), /the data ends/],
      ['deeply nested tuple as a value', torchZip(deepTuples, {}), /no tensors at the top level/],
      ['storage bigger than its data', simpleZip({ numel: 1000 }), /storage 0 claims 1000 F32 elements but holds 16 bytes/],
      [
        'view past its storage',
        simpleZip({ offset: 2 }),
        /tensor view \(offset 2, shape \[2,2\], stride \[2,1\]\) of storage 0 \(4 elements\) reaches past its storage/,
      ],
      ['shape/stride ranks differ', simpleZip({ stride: [1] }), /tensor shape \[2,2\] and stride \[1\] have different ranks/],
      [
        'huge expanded view',
        simpleZip({ shape: [1 << 20, 1 << 10], stride: [0, 0] }),
        /expands to 4294967296 bytes, over the 67108864-byte limit/,
      ],
      ['unknown storage type', simpleZip({ storageType: 'ComplexFloatStorage' }), /refusing pickle global torch\.ComplexFloatStorage/],
      [
        'a tar checkpoint',
        (() => {
          const t = new Uint8Array(1024);
          t.set(new TextEncoder().encode('ustar'), 257);
          return t;
        })(),
        /neither a safetensors file nor a PyTorch checkpoint/,
      ],
    ];
    for (const [what, bytes, pattern] of cases) {
      const e = await errorOf(
        weightSourceFromBytes(bytes, 'bad.pt').then(async (w) => {
          for (const k of w.keys()) await w.read(k);
        }),
      );
      expect(e.message, what).toMatch(/^bad\.pt: /);
      expect(e.message, what).toMatch(pattern);
    }
  });

  it('zip bombs and odd archives fail fast with typed errors', async () => {
    // data.pkl deflated; then the central directory's sizes are made to lie.
    const pkl = pickle(op.proto(2), op.emptyDict, op.str('pad'), op.str('x'.repeat(100_000)), op.setitem, op.stop);
    const deflated = torchZip(pkl, {}, { deflatePickle: true });
    const good = await openTorchCheckpoint(deflated, 'deflated.pt');
    expect(((good.root as Map<string, string>).get('pad') as string).length).toBe(100_000);
    const patchEntry = (bytes: Uint8Array, field: 'size' | 'method', value: number) => {
      const out = bytes.slice();
      const dv = new DataView(out.buffer);
      for (let p = out.length - 22; p >= 0; p--) {
        if (dv.getUint32(p, true) !== 0x02014b50) continue;
        const nameLen = dv.getUint16(p + 28, true);
        const name = new TextDecoder().decode(out.subarray(p + 46, p + 46 + nameLen));
        if (name !== 'archive/data.pkl') continue;
        if (field === 'size') dv.setUint32(p + 24, value, true);
        else dv.setUint16(p + 10, value, true);
      }
      return out;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'inflates past its declared size',
        patchEntry(deflated, 'size', 1000),
        /zip entry archive\/data\.pkl: inflates to more than the declared 1000 bytes/,
      ],
      [
        'declares more than deflate can hold',
        patchEntry(deflated, 'size', 900_000_000),
        /declares 900000000 bytes from \d+ compressed bytes, more than deflate can encode/,
      ],
      [
        'declares more than the limit',
        patchEntry(deflated, 'size', 0xfffffff0),
        /declares 4294967280 bytes uncompressed, over the 1073741824-byte limit/,
      ],
      ['inflates to less', patchEntry(deflated, 'size', 100_500), /inflates to 100\d+ bytes, not the declared 100500/],
      ['unknown compression method', patchEntry(deflated, 'method', 12), /uses compression method 12; only stored and deflate/],
      [
        'no data.pkl',
        torchZip(new Uint8Array(0), {}).map((b, i, a) => (i > a.length - 200 && b === 0x2e ? 0x5f : b)),
        /no <name>\/data\.pkl/,
      ],
    ];
    for (const [what, bytes, pattern] of cases) {
      const t0 = performance.now();
      const e = await errorOf(openTorchCheckpoint(bytes, 'bomb.pt'));
      expect(e.message, what).toMatch(/^bomb\.pt: /);
      expect(e.message, what).toMatch(pattern);
      expect(performance.now() - t0, what).toBeLessThan(2000);
    }
  });
});

describe('PyTorch checkpoint fuzzing', () => {
  const readAll = (bytes: Uint8Array, name: string) => async () => {
    const w = await weightSourceFromBytes(bytes, name);
    for (const k of w.keys()) {
      await w.read(k);
      await w.read(k, 'f16');
    }
  };

  test.prop([mutationArb], { numRuns: FUZZ_RUNS })('fuzz: mutated views_zip.pt (pickle, storages, zip directory)', async (m) => {
    const valid = new Uint8Array(await readFile(join(dir, 'views_zip.pt')));
    tally.record('views_zip.pt, anywhere', await expectTypedOutcome('fuzz_views.pt', readAll(mutate(valid, m), 'fuzz_views.pt')));
  });

  test.prop([mutationArb, fc.boolean()], { numRuns: FUZZ_RUNS })(
    'fuzz: mutated legacy checkpoint (pickle region or anywhere)',
    async (m, inPickle) => {
      const valid = new Uint8Array(await readFile(join(dir, 'medvae_4_3_2d_legacy.ckpt')));
      const bytes = mutate(valid, m, inPickle ? [0, 32_700] : [0, valid.length]);
      tally.record(
        `legacy ckpt, ${inPickle ? 'pickle region' : 'anywhere'}`,
        await expectTypedOutcome('fuzz_legacy.ckpt', readAll(bytes, 'fuzz_legacy.ckpt')),
      );
    },
  );

  test.prop([mutationArb, fc.boolean()], { numRuns: FUZZ_RUNS })(
    'fuzz: mutated zip checkpoint (data.pkl or the central directory)',
    async (m, pkl) => {
      const valid = new Uint8Array(await readFile(join(dir, 'medvae_4_3_2d_zip_f16.ckpt')));
      const bytes = mutate(valid, m, pkl ? [0, 27_300] : [valid.length - 20_000, valid.length]);
      tally.record(
        `zip ckpt, ${pkl ? 'data.pkl' : 'central directory'}`,
        await expectTypedOutcome('fuzz_zip.ckpt', readAll(bytes, 'fuzz_zip.ckpt')),
      );
    },
  );

  test.prop([fc.array(fc.constantFrom(...Object.values(op).filter((v): v is number[] => Array.isArray(v))), { maxLength: 60 })], {
    numRuns: FUZZ_RUNS,
  })('fuzz: random opcode sequences never escape as untyped errors', async (ops) => {
    const pkl = pickle(op.proto(2), ...ops, op.stop);
    tally.record('random opcode streams', await expectTypedOutcome('ops.pt', readAll(torchZip(pkl, {}), 'ops.pt')));
  });

  it('file-level errors are FileFormatErrors', async () => {
    const e = await errorOf(weightSourceFromBytes(new Uint8Array([1, 2]), 'tiny.bin'));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/tiny\.bin: neither a safetensors file nor a PyTorch checkpoint/);
  });
});
