import { fc } from '@fast-check/vitest';
import { expect, vi } from 'vitest';
import { MedgpuError } from '../../src/runtime/errors.js';

/** Cases per fuzz property: small in CI, `npm run fuzz` sets FUZZ_RUNS=5000. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 120);
// Large fuzz runs take minutes per property: give every test of a file that fuzzes room for them.
vi.setConfig({ testTimeout: Math.max(120_000, FUZZ_RUNS * 200) });

/** A mutation of a valid file: what real corruption and crafted files look like. */
export type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; flips: [number, number][] }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'u64'; at: number; value: bigint }
  | { kind: 'splice'; at: number; bytes: Uint8Array };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('flip' as const),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat()),
  }),
  fc.record({
    kind: fc.constant('u64' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
);

/** Applies a mutation to a copy of `bytes`; positions wrap around the file (or `region` of it). */
export function mutate(bytes: Uint8Array, m: Mutation, region: [number, number] = [0, bytes.length]): Uint8Array {
  const [lo, hi] = region;
  const span = Math.max(1, hi - lo);
  const at = (p: number) => lo + (p % span);
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  switch (m.kind) {
    case 'truncate':
      return out.subarray(0, at(m.at));
    case 'flip':
      for (const [p, x] of m.flips) out[at(p)] = (out[at(p)] as number) ^ x;
      return out;
    case 'u32': {
      const p = Math.min(at(m.at), out.length - 4);
      if (p >= 0) dv.setUint32(p, m.value, true);
      return out;
    }
    case 'u64': {
      const p = Math.min(at(m.at), out.length - 8);
      if (p >= 0) dv.setBigUint64(p, m.value, true);
      return out;
    }
    case 'splice': {
      const p = at(m.at);
      const r = new Uint8Array(out.length + m.bytes.length);
      r.set(out.subarray(0, p));
      r.set(m.bytes, p);
      r.set(out.subarray(p), p + m.bytes.length);
      return r;
    }
  }
}

/** Outcomes of fuzz cases, printed at the end of a file so the counts can be reported. */
export class FuzzTally {
  readonly counts = new Map<string, { ok: number; typedError: number }>();
  record(label: string, outcome: 'ok' | 'typedError'): void {
    const c = this.counts.get(label) ?? { ok: 0, typedError: 0 };
    c[outcome]++;
    this.counts.set(label, c);
  }
  report(): string {
    return [...this.counts]
      .map(([k, c]) => `${k}: ${c.ok + c.typedError} cases (${c.ok} read fine, ${c.typedError} typed errors)`)
      .join('\n');
  }
}

/**
 * Runs `fn` on a mutated file: it must either succeed or throw a `MedgpuError` whose message names the file.
 * Anything else (TypeError, RangeError, a hang caught by the test timeout) fails the property.
 */
export async function expectTypedOutcome(name: string, fn: () => Promise<unknown>): Promise<'ok' | 'typedError'> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof MedgpuError)) throw new Error(`untyped failure on ${name}: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message, `error message should name the file: ${e.message}`).toContain(name);
    return 'typedError';
  }
}
