import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../src/pipeline/rng.js';
import { f32, readSafetensors } from '../helpers/read-safetensors.js';

const dir = join(import.meta.dirname, '../fixtures/rng');
interface RngCase {
  name: string;
  file: string;
  seed: number;
  shape: number[];
  randn: string;
  rand_after: string;
  randn_after: string;
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { cases: RngCase[] };
const tensors = readSafetensors(join(dir, 'torch_cpu_randn.safetensors'));

/** Bitwise float32 equality, reporting the first differing element. */
function expectBitwise(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) {
      bad++;
      if (first < 0) first = i;
    }
  }
  expect(bad, `${what}: ${bad} differing elements, first at ${first}: ${got[first]} vs ${want[first]}`).toBe(0);
}

describe('torch CPU generator', () => {
  it.each(manifest.cases.map((c) => [c.name, c] as const))('%s matches torch bit for bit', (_name, c) => {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const g = new TorchGenerator(BigInt(c.seed));
    expectBitwise(g.randn(n), f32(tensors, c.randn), `${c.name} randn`);
    expectBitwise(g.rand(5), f32(tensors, c.rand_after), `${c.name} rand_after`);
    expectBitwise(g.randn(n), f32(tensors, c.randn_after), `${c.name} randn_after`);
  });

  it('manual_seed resets the stream and the cached normal sample', () => {
    const g = new TorchGenerator(7);
    const a = g.randn(3);
    g.randn(1);
    g.manualSeed(7);
    expect(Array.from(g.randn(3))).toEqual(Array.from(a));
  });

  it('rejects negative seeds with a typed error', () => {
    expect(() => new TorchGenerator(-1)).toThrow(/seed -1/);
  });
});
