import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runIoMemory } from '../../bench/io-memory.js';

// CI-sized version of bench/io-memory.ts (which measures a 3 GiB file): 320 MiB in 40 tensors of 8 MiB. Holding
// the file would add >= 320 MiB of RSS; streaming tensor by tensor must stay far below.
describe('safetensors streaming memory', () => {
  it('reading every tensor of a 320 MiB file adds well under 160 MiB of RSS (f32 and f16 reads)', async () => {
    for (const as of ['f32', 'f16'] as const) {
      const r = await runIoMemory({ gb: 0, as, dir: tmpdir(), sizes: new Array<number>(40).fill(2 * 1024 * 1024) });
      console.log(
        `${as}: ${(r.fileBytes / 2 ** 20).toFixed(0)} MiB file, extra RSS ${r.maxExtraRssMiB.toFixed(0)} MiB, ${r.mibPerSecond.toFixed(0)} MiB/s`,
      );
      expect(r.fileBytes).toBeGreaterThan(320 * 2 ** 20);
      expect(r.maxExtraRssMiB).toBeLessThan(160);
    }
  });
});
