import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, loadSafetensors, openSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { FileFormatError } from '../../src/runtime/errors.js';
import { toF16Array } from '../../src/runtime/dtype.js';
import { openWeights } from '../../src/io/weights.js';

const fixtures = join(import.meta.dirname, '../fixtures');

async function findSafetensors(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findSafetensors(p)));
    else if (e.name.endsWith('.safetensors')) out.push(p);
  }
  return out;
}

function header(obj: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const out = new Uint8Array(8 + json.length + 64);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out.subarray(0, 8 + json.length + 16);
}

async function expectBad(bytes: Uint8Array, pattern: RegExp) {
  const err = await openSafetensors(bytes, 'bad.safetensors').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FileFormatError);
  expect((err as Error).message).toMatch(/bad\.safetensors/);
  expect((err as Error).message).toMatch(pattern);
}

describe('safetensors', () => {
  it('loads every safetensors file in the fixtures, each tensor with the bytes its header promises', async () => {
    const files = await findSafetensors(fixtures);
    expect(files.length).toBeGreaterThanOrEqual(1);
    for (const path of files) {
      const f = await openSafetensors(path);
      try {
        expect(typeof f.metadata).toBe('object');
        for (const [name, info] of f.tensors) {
          const t = await f.read(name);
          const n = info.shape.reduce((a, b) => a * b, 1);
          expect(t.data.length, `${path}:${name}`).toBe(n);
        }
      } finally {
        await f.close();
      }
    }
  });

  it('round-trips every dtype through the writer, with metadata and F16/BF16 conversion', async () => {
    const bytes = encodeSafetensors(
      {
        a: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) },
        b: { dtype: 'F16', shape: [3], data: toF16Array([0.5, -2, 65504]) },
        c: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) },
        d: { dtype: 'I64', shape: [2], data: new BigInt64Array([-1n, 1234567890123n]) },
        e: { dtype: 'U8', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
        f: { dtype: 'I16', shape: [2], data: new Int16Array([-1024, 3071]) },
        g: { dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
        h: { dtype: 'I32', shape: [0], data: new Int32Array(0) },
      },
      { format: 'pt', note: 'héllo' },
    );
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
    expect(f.tensors.get('a')!.byteRange[0] % 8).toBe(0);
    const raw = await f.read('b', { raw16: true });
    expect(raw.data).toBeInstanceOf(Uint16Array);
  });

  it('reads sharded files through the index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'medgpu-shard-'));
    await writeSafetensors(join(dir, 's1.safetensors'), { x: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    await writeSafetensors(join(dir, 's2.safetensors'), { y: { dtype: 'F32', shape: [1], data: new Float32Array([3]) } });
    const idx = join(dir, 'model.safetensors.index.json');
    await writeFile(idx, JSON.stringify({ metadata: {}, weight_map: { x: 's1.safetensors', y: 's2.safetensors' } }));
    const s = await openWeights(idx);
    expect([...(await s.read('y'))]).toEqual([3]);
    expect([...(await s.read('x'))]).toEqual([1, 2]);
    await s.close();
    await writeFile(idx, JSON.stringify({ weight_map: { z: 's1.safetensors' } }));
    await expect(openWeights(idx)).rejects.toThrow(/tensor z .* not in it/);
  });

  it('rejects corrupt files with a FileFormatError naming the file and tensor', async () => {
    await expectBad(new Uint8Array(4), /8-byte header length/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectBad(huge, /exceeds/);
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 1000n, true);
    await expectBad(past, /truncated/);
    await expectBad(header({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }).subarray(0, 20), /truncated|JSON/);
    await expectBad(header({ t: { dtype: 'Q7', shape: [2], data_offsets: [0, 8] } }), /tensor t: dtype "Q7" is not supported/);
    await expectBad(header({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }), /tensor t: shape/);
    await expectBad(header({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), /tensor t: .*needs 12 bytes/);
    await expectBad(header({ t: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), /tensor t: .*past the end/);
    await expectBad(
      header({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, u: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }),
      /tensor u: .*overlap tensor t/,
    );
    await expectBad(header({ t: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }), /tensor t: gap/);
    await expectBad(header([1, 2]), /does not start with "{"/);
  });
});
