import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { f32ArrayToF16Bits } from '../../src/io/tensor-data.js';
import { checkWeights, openWeights, WeightsMismatchError, weightSourceFromBytes, weightTotals } from '../../src/io/weights.js';
import { f32ToF16Bits } from '../../src/runtime/dtype.js';
import { CheckpointError } from '../../src/runtime/errors.js';

const fixtures = join(import.meta.dirname, '../fixtures');

/** Byte equality (vitest's deep equality is slow on large typed arrays). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('WeightSource', () => {
  it('opens every weight layout of the fixtures behind one interface (same names, shapes and values)', async () => {
    const st = await openWeights(join(fixtures, 'medvae/medvae_4_3_2d/model.safetensors'));
    const zip = await openWeights(join(fixtures, 'checkpoints/medvae_4_3_2d_zip.ckpt'));
    const legacy = await openWeights(join(fixtures, 'checkpoints/medvae_4_3_2d_legacy.ckpt'));
    expect([st.format, zip.format, legacy.format]).toEqual(['safetensors', 'torch-zip', 'torch-legacy']);
    expect(zip.keys().sort()).toEqual(st.keys().sort());
    expect(legacy.keys().sort()).toEqual(st.keys().sort());
    for (const k of st.keys()) {
      expect(zip.info(k), k).toEqual(st.info(k));
      const want = await st.read(k);
      expect(sameBytes(await zip.read(k), want), k).toBe(true);
      expect(sameBytes(await legacy.read(k), want), k).toBe(true);
    }
    const totals = weightTotals(st);
    expect(totals.tensors).toBe(224);
    expect(totals.bytes).toBe(totals.params * 4);
    expect(totals.dtypes).toEqual({ F32: 224 });
    for (const w of [st, zip, legacy]) await w.close();
  });

  it('converts for upload: every dtype to f32 and to f16 bits with round-to-nearest-even', async () => {
    const f32 = new Float32Array([
      0,
      -0,
      1,
      -2.5,
      65504,
      65520,
      1e-8,
      6.1e-5,
      5.96e-8,
      3.0e-8,
      Number.POSITIVE_INFINITY,
      Number.NaN,
      0.1,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ]);
    const bytes = encodeSafetensors({
      f32: { dtype: 'F32', shape: [f32.length], data: f32 },
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) },
      bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x4049, 0x8001]) },
      i32: { dtype: 'I32', shape: [2], data: new Int32Array([16777217, -3]) },
      i16: { dtype: 'I16', shape: [1], data: new Int16Array([-32768]) },
      u8: { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
      bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    });
    const w = await weightSourceFromBytes(bytes, 'dtypes.safetensors');
    const bits = (await w.read('f32', 'f16')) as Uint16Array;
    expect([...bits]).toEqual([...f32].map((x) => f32ToF16Bits(x)));
    expect(bits[5]).toBe(0x7c00); // 65520 rounds up to inf
    expect(bits[13]).toBe(0x3c00); // tie to even (down)
    expect(bits[14]).toBe(0x3c02); // tie to even (up)
    expect(await w.read('f32')).toEqual(f32);
    expect([...(await w.read('f64'))]).toEqual([Math.fround(0.1), Number.NEGATIVE_INFINITY]);
    expect([...(await w.read('bf16'))]).toEqual([3.140625, -(2 ** -133)]);
    expect([...(await w.read('i32'))]).toEqual([16777216, -3]);
    expect([...(await w.read('i16', 'f16'))]).toEqual([f32ToF16Bits(-32768)]);
    expect([...(await w.read('u8'))]).toEqual([0, 255]);
    expect([...(await w.read('bool'))]).toEqual([1, 0]);
    // The bulk converter agrees with the scalar one on every f16 boundary region.
    const sweep = new Float32Array(200_000).map((_, i) => (i - 100_000) * 0.7431 * 2 ** ((i % 60) - 30));
    expect(
      sameBytes(
        f32ArrayToF16Bits(sweep),
        Uint16Array.from(sweep, (x) => f32ToF16Bits(x)),
      ),
    ).toBe(true);
    await expect(w.read('nope')).rejects.toThrow(/dtypes\.safetensors: no tensor named nope \(the file has 7 tensors\)/);
  });

  it('checkWeights lists ALL missing, unexpected and mis-shaped keys with shapes and the file', async () => {
    const w = await openWeights(join(fixtures, 'medvae/medvae_4_3_2d/model.safetensors'));
    const expected = new Map<string, readonly number[]>();
    for (const k of w.keys()) expected.set(k, w.info(k)!.shape);
    expect(() => checkWeights(w, expected)).not.toThrow();
    const bad = new Map(expected);
    bad.delete('encoder.conv_in.bias');
    bad.delete('decoder.conv_out.bias');
    bad.set('encoder.extra.weight', [4, 4]);
    bad.set('quant_conv.weight', [1, 2, 3]);
    let err: unknown;
    try {
      checkWeights(w, bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err).toBeInstanceOf(WeightsMismatchError);
    const m = err as WeightsMismatchError;
    expect(m.code).toBe('CHECKPOINT_KEYS');
    expect(m.missing).toEqual([{ name: 'encoder.extra.weight', shape: [4, 4] }]);
    expect(m.unexpected.map((u) => u.name).sort()).toEqual(['decoder.conv_out.bias', 'encoder.conv_in.bias']);
    expect(m.misshaped).toEqual([{ name: 'quant_conv.weight', expected: [1, 2, 3], found: w.info('quant_conv.weight')!.shape }]);
    expect(m.message).toMatch(/model\.safetensors: the weights do not match the model: 1 missing, 2 unexpected, 1 with the wrong shape/);
    expect(m.message).toMatch(/missing \(1\):\n {2}encoder\.extra\.weight \[4, 4\]/);
    expect(m.message).toMatch(/wrong shape \(1\):\n {2}quant_conv\.weight: expected \[1, 2, 3\], found \[\d+, \d+, 1, 1\]/);
    expect(m.message).toMatch(/unexpected \(2\):\n {2}(decoder\.conv_out\.bias|encoder\.conv_in\.bias) \[/);
    expect(() => checkWeights(w, bad, { ignoreUnexpected: (k) => k.endsWith('.bias') })).toThrow(/0 unexpected/);
    await w.close();
  });
});
