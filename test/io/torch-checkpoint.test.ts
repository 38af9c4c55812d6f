import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/io/safetensors.js';
import type { HostTensor } from '../../src/io/tensor-data.js';
import { loadTorchCheckpoint, openTorchCheckpoint } from '../../src/io/torch-checkpoint.js';
import { roundToF16 } from '../../src/runtime/dtype.js';
import { FileFormatError } from '../../src/runtime/errors.js';

const dir = join(import.meta.dirname, '../fixtures/checkpoints');
const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
  cases: { file: string; format: string; dtype: string; tensor_count?: number; expected?: string }[];
};

function expectSame(got: Map<string, HostTensor>, want: Map<string, HostTensor>, f16: boolean) {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect(g.shape, k).toEqual(w.shape);
    const wd = f16 ? roundToF16(w.data as Float32Array) : w.data;
    expect(g.data, k).toEqual(wd);
  }
}

describe('PyTorch checkpoints', () => {
  const expected = loadSafetensors(join(dir, 'medvae_4_3_2d_expected.safetensors'));
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
        expectSame(got, await expected, c.dtype === 'F16');
      }
    });
  }

  it('keeps the non-tensor entries of a Lightning checkpoint', async () => {
    const ck = await openTorchCheckpoint(join(dir, 'medvae_4_3_2d_zip.ckpt'));
    const root = ck.root as Map<string, unknown>;
    expect(root.get('epoch')).toBe(3);
    expect(root.get('global_step')).toBe(1234);
    await ck.close();
  });

  it('refuses a pickle that REDUCEs os.system, naming the global', async () => {
    // protocol 2: GLOBAL 'posix system', MARK, 'echo pwned', TUPLE, REDUCE, STOP
    const enc = new TextEncoder();
    const evil = new Uint8Array([
      0x80,
      0x02,
      0x63,
      ...enc.encode('posix\nsystem\n'),
      0x28,
      0x55,
      10,
      ...enc.encode('echo pwned'),
      0x74,
      0x52,
      0x2e,
    ]);
    const err = await openTorchCheckpoint(evil, 'evil.pt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as FileFormatError).code).toBe('UNSAFE_PICKLE');
    expect((err as Error).message).toMatch(/evil\.pt: refusing pickle global posix\.system/);
  });
});
