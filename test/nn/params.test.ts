import { describe, expect, test } from 'vitest';
import { Linear } from '../../src/nn/linear.js';
import { ParamScope, type WeightReader, expectedKeys, loadParams } from '../../src/nn/params.js';
import { roundToF16, toF16Array } from '../../src/runtime/dtype.js';
import { CheckpointError } from '../../src/runtime/errors.js';
import { getGpu } from '../helpers/gpu.js';

/** An in-memory weight file. */
function memory(path: string, tensors: Record<string, { shape: number[]; data: number[] }>): WeightReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    path,
    reads,
    keys: () => Object.keys(tensors),
    info: (name) => tensors[name] && { shape: tensors[name].shape },
    read: async (name, as) => {
      reads.push(`${name}:${as ?? 'f32'}`);
      const values = Float32Array.from(tensors[name]?.data ?? []);
      return as === 'f16' ? toF16Array(values) : values;
    },
  };
}

describe('params', () => {
  test('scopes build upstream key names; loading uploads every param once, in declaration order', async () => {
    const gpu = await getGpu();
    const root = new ParamScope();
    const lin = new Linear(root.child('blocks').child(0).child('proj'), 3, 2);
    const scaled = root.custom([['scale', [2]]], ([h]) => Array.from(h as Float32Array, (x) => x * 10));
    expect([...expectedKeys(root.registry).keys()]).toEqual(['blocks.0.proj.weight', 'blocks.0.proj.bias', 'scale']);
    const src = memory('m.safetensors', {
      'blocks.0.proj.weight': { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      'blocks.0.proj.bias': { shape: [2], data: [0.5, -0.5] },
      scale: { shape: [2], data: [1, 2] },
    });
    await gpu.scopeAsync(async () => {
      await loadParams(gpu, root.registry, src);
    });
    expect(src.reads).toEqual(['blocks.0.proj.weight:f32', 'blocks.0.proj.bias:f32', 'scale:f32']);
    expect(scaled.value).toEqual([10, 20]);
    // Params survive the scope they were loaded in; a forward pass uses them.
    const y = await gpu.scopeAsync(async () => gpu.read(lin.forward(gpu, gpu.upload([1, 1, 1], [1, 3]))));
    expect(Array.from(y)).toEqual([6.5, 14.5]);
  });

  test('a mismatched checkpoint lists every missing, mis-shaped and unexpected key before reading anything', async () => {
    const gpu = await getGpu();
    const root = new ParamScope();
    new Linear(root.child('proj'), 3, 2);
    root.tensor('norm.weight', [4]);
    const src = memory('unet/diffusion_pytorch_model.safetensors', {
      'proj.weight': { shape: [3, 2], data: [0, 0, 0, 0, 0, 0] },
      'norm.bias': { shape: [4], data: [0, 0, 0, 0] },
      'extra.running_mean': { shape: [1], data: [0] },
    });
    const err = await loadParams(gpu, root.registry, src).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    const msg = (err as Error).message;
    expect(msg).toMatch(
      /unet\/diffusion_pytorch_model.safetensors: the weights do not match the model: 2 missing, 2 unexpected, 1 with the wrong shape/,
    );
    expect(msg).toMatch(/missing \(2\):\n {2}proj.bias \[2\]\n {2}norm.weight \[4\]/);
    expect(msg).toMatch(/wrong shape \(1\):\n {2}proj.weight: expected \[2, 3\], found \[3, 2\]/);
    expect(msg).toMatch(/unexpected \(2\):\n {2}norm.bias \[4\]\n {2}extra.running_mean \[1\]/);
    expect(src.reads).toEqual([]);
    // Known-harmless extras can be ignored by the caller.
    const ok = memory('x', {
      'proj.weight': { shape: [2, 3], data: [0, 0, 0, 0, 0, 0] },
      'proj.bias': { shape: [2], data: [0, 0] },
      'norm.weight': { shape: [4], data: [1, 1, 1, 1] },
      junk: { shape: [1], data: [0] },
    });
    await gpu.scopeAsync(() => loadParams(gpu, root.registry, ok, { ignoreUnexpected: (k) => k === 'junk' }));
  });

  test('an f16 model reads plain tensors as f16 bits from the file and custom params as f32', async () => {
    const gpu = await getGpu();
    if (!gpu.hasF16) return;
    const root = new ParamScope();
    const w = root.tensor('w', [3]);
    const doubled = root.custom([['v', [2]]], ([h]) => Array.from(h as Float32Array, (x) => 2 * x));
    const src = memory('half.safetensors', { w: { shape: [3], data: [0.1, 1, 65519] }, v: { shape: [2], data: [0.5, 1.5] } });
    await gpu.scopeAsync(() => loadParams(gpu, root.registry, src, { dtype: 'f16' }));
    expect(src.reads).toEqual(['w:f16', 'v:f32']);
    expect(w.value.dtype).toBe('f16');
    expect(Array.from(await gpu.read(w.value))).toEqual(Array.from(roundToF16([0.1, 1, 65519])));
    expect(doubled.value).toEqual([1, 3]);
  });

  test('using a param before loading is a clear error', () => {
    const p = new ParamScope().tensor('w', [1]);
    expect(() => p.value).toThrow(/parameter w used before the weights were loaded/);
  });
});
