/**
 * BufferPool's memory policy on a recording fake device (the pool only creates and destroys buffers, so
 * the accounting is checked exactly, against the buffers the device still holds): exact-size allocation
 * for weights, reclaiming idle buffers before growing, trim, and the budget.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { BufferPool, EXACT_ALIGN, sizeClass } from '../../src/runtime/buffer-pool.js';
import { LimitError } from '../../src/runtime/errors.js';

const RUNS = Number(process.env.FC_RUNS ?? 200);

interface FakeBuffer {
  size: number;
  destroyed: boolean;
  destroy(): void;
}

/**
 * A device whose buffers record their size and whether they were destroyed. Every buffer handed out counts
 * as used by recorded, unsubmitted work (as a dispatch would) until `flush`: destroying one before that is
 * what WebGPU rejects at submit, so it throws here.
 */
function fakeDevice() {
  const buffers: FakeBuffer[] = [];
  let unsubmitted = false;
  const device = {
    createBuffer({ size }: { size: number }) {
      unsubmitted = true;
      const b: FakeBuffer = {
        size,
        destroyed: false,
        destroy() {
          if (this.destroyed) throw new Error('buffer destroyed twice');
          if (unsubmitted) throw new Error('buffer destroyed while recorded work may use it (no flush before destroy)');
          this.destroyed = true;
        },
      };
      buffers.push(b);
      return b;
    },
  };
  /** Bytes the device still holds. */
  const held = () => buffers.filter((b) => !b.destroyed).reduce((s, b) => s + b.size, 0);
  const flush = () => {
    unsubmitted = false;
  };
  const use = () => {
    unsubmitted = true;
  };
  return { device: device as unknown as GPUDevice, buffers, held, flush, use };
}

type Op = { kind: 'acquire'; bytes: number; exact: boolean } | { kind: 'release'; pick: number } | { kind: 'trim' };

// Sizes from 1 byte to 4 MiB, biased to a few recurring sizes (as a network's activations recur) and primes.
const bytesArb = fc.oneof(
  fc.integer({ min: 1, max: 4 << 20 }),
  fc.constantFrom(4, 256, 257, 1000, 4096, 65_537, 1 << 20, 3 * (1 << 20) + 7),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('acquire' as const), bytes: bytesArb, exact: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim' as const) }) },
);

/** Runs `ops`, checking after each that the accounting matches the device and no live buffer was destroyed. */
function replay(pool: BufferPool, fake: ReturnType<typeof fakeDevice>, ops: Op[], check: (p: BufferPool, op: Op) => void = () => {}) {
  const live: { buffer: GPUBuffer; size: number; exact: boolean; bytes: number }[] = [];
  for (const op of ops) {
    if (op.kind === 'acquire') {
      const got = op.exact ? acquireExact(pool, op.bytes) : pool.acquire(op.bytes);
      expect(got.size).toBe(op.exact ? Math.max(EXACT_ALIGN, Math.ceil(op.bytes / EXACT_ALIGN) * EXACT_ALIGN) : sizeClass(op.bytes));
      expect((got.buffer as unknown as FakeBuffer).destroyed).toBe(false);
      expect(live.some((l) => l.buffer === got.buffer)).toBe(false);
      fake.use(); // a dispatch records a use of it
      live.push({ ...got, exact: op.exact, bytes: op.bytes });
    } else if (op.kind === 'release') {
      if (live.length === 0) continue;
      const [l] = live.splice(op.pick % live.length, 1);
      if (!l) continue;
      pool.release(l.buffer, l.size);
      // an exact-size buffer that no size class matches is given back at once
      expect((l.buffer as unknown as FakeBuffer).destroyed).toBe(sizeClass(l.size) !== l.size);
    } else {
      pool.trim();
      expect(pool.stats().pooledBytes).toBe(0);
    }
    const s = pool.stats();
    expect(s.liveBytes).toBe(live.reduce((a, l) => a + l.size, 0));
    expect(s.allocatedBytes).toBe(fake.held());
    expect(s.allocatedBytes).toBe(s.liveBytes + s.pooledBytes);
    expect(s.peakAllocatedBytes).toBeGreaterThanOrEqual(s.allocatedBytes);
    for (const l of live) expect((l.buffer as unknown as FakeBuffer).destroyed).toBe(false);
    check(pool, op);
  }
  return live;
}

/** `acquire` inside a synchronous `exactSizes`. */
const acquireExact = (pool: BufferPool, bytes: number) => pool.exactSizes(() => pool.acquire(bytes));

describe('BufferPool memory policy', () => {
  test.prop([fc.array(opArb, { maxLength: 80 })], { numRuns: RUNS })(
    'accounting equals the bytes the device holds (and destroyedBytes those it destroyed); reclaiming keeps allocated ≤ peak live bytes',
    (ops) => {
      const fake = fakeDevice();
      const pool = new BufferPool(fake.device, 1 << 30, Number.POSITIVE_INFINITY, fake.flush);
      pool.reclaimMinBytes = 0;
      replay(pool, fake, ops, (p) => {
        const s = p.stats();
        expect(p.destroyedBytes).toBe(fake.buffers.filter((b) => b.destroyed).reduce((sum, b) => sum + b.size, 0));
        // the pool never grew while idle memory could have paid for a new buffer
        expect(s.allocatedBytes).toBeLessThanOrEqual(s.peakLiveBytes);
        expect(s.peakAllocatedBytes).toBe(s.peakLiveBytes);
      });
    },
  );

  test.prop([fc.array(opArb, { maxLength: 80 })], { numRuns: RUNS })('without reclaiming, idle buffers are kept until trim', (ops) => {
    const fake = fakeDevice();
    const pool = new BufferPool(fake.device, 1 << 30, Number.POSITIVE_INFINITY, fake.flush);
    pool.reclaimIdle = false;
    const evictable = () => fake.buffers.filter((b) => b.destroyed && sizeClass(b.size) === b.size).length;
    let before = 0;
    replay(pool, fake, ops, (p, op) => {
      // size-class buffers are destroyed only by trim: idle memory piles up (what reclaiming prevents)
      if (op.kind !== 'trim') expect(evictable()).toBe(before);
      else expect(p.stats().pooledBytes).toBe(0);
      before = evictable();
    });
  });

  test.prop([fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1 << 20, max: 32 << 20 })], { numRuns: RUNS })(
    'a budgeted pool never holds more than its budget; over it, acquire throws a LimitError',
    (ops, budget) => {
      const fake = fakeDevice();
      const pool = new BufferPool(fake.device, 1 << 30, budget, fake.flush);
      pool.reclaimIdle = false; // the budget alone must hold the line
      const live: { buffer: GPUBuffer; size: number }[] = [];
      for (const op of ops) {
        if (op.kind === 'acquire') {
          try {
            live.push(op.exact ? acquireExact(pool, op.bytes) : pool.acquire(op.bytes));
          } catch (e) {
            expect(e).toBeInstanceOf(LimitError);
            const size = op.exact ? Math.ceil(op.bytes / EXACT_ALIGN) * EXACT_ALIGN : sizeClass(op.bytes);
            expect(pool.stats().liveBytes + size).toBeGreaterThan(budget);
          }
        } else if (op.kind === 'release' && live.length) {
          const [l] = live.splice(op.pick % live.length, 1);
          if (l) pool.release(l.buffer, l.size);
        } else if (op.kind === 'trim') pool.trim();
        expect(fake.held()).toBeLessThanOrEqual(budget);
        expect(pool.stats().allocatedBytes).toBe(fake.held());
      }
    },
  );

  it('reclaims the oldest idle buffers first and reuses a matching one without creating', () => {
    const fake = fakeDevice();
    const pool = new BufferPool(fake.device, 1 << 30, Number.POSITIVE_INFINITY, fake.flush);
    const a = pool.acquire(1 << 20);
    const b = pool.acquire(2 << 20);
    pool.release(a.buffer, a.size);
    pool.release(b.buffer, b.size);
    // a hit: no new buffer, nothing evicted
    const b2 = pool.acquire(2 << 20);
    expect(b2.buffer).toBe(b.buffer);
    expect(fake.buffers.length).toBe(2);
    pool.release(b2.buffer, b2.size);
    // a miss of 1.5 MiB: the 1 MiB buffer (released first) goes, then the 2 MiB one, to pay for it
    pool.acquire(1.5 * (1 << 20));
    expect((a.buffer as unknown as FakeBuffer).destroyed).toBe(true);
    expect((b.buffer as unknown as FakeBuffer).destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ pooledBytes: 0, liveBytes: 1.5 * (1 << 20), buffersCreated: 3 });
  });

  it('misses below reclaimMinBytes neither reclaim nor submit', () => {
    const fake = fakeDevice();
    let flushes = 0;
    const pool = new BufferPool(fake.device, 1 << 30, Number.POSITIVE_INFINITY, () => {
      flushes++;
      fake.flush();
    });
    const big = pool.acquire(2 << 20);
    pool.release(big.buffer, big.size);
    const small = pool.acquire(4096); // a miss: kept apart from the idle 2 MiB buffer
    expect(flushes).toBe(0);
    expect(pool.stats()).toMatchObject({ pooledBytes: 2 << 20, liveBytes: sizeClass(4096) });
    pool.release(small.buffer, small.size);
    pool.acquire(1 << 20); // a miss at the threshold: reclaims (one submit), oldest first
    expect(flushes).toBe(1);
    expect((big.buffer as unknown as FakeBuffer).destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ pooledBytes: sizeClass(4096), liveBytes: 1 << 20 });
  });

  it('gives weights exact-size buffers (a 6.25 MiB weight takes 6.25 MiB, not its 7 MiB size class)', async () => {
    const fake = fakeDevice();
    const pool = new BufferPool(fake.device, 1 << 30, Number.POSITIVE_INFINITY, fake.flush);
    const bytes = 1280 * 1280 * 4;
    const w = await pool.exactSizes(async () => {
      await Promise.resolve();
      return pool.acquire(bytes);
    });
    expect(w.size).toBe(bytes);
    expect(sizeClass(bytes)).toBe(7 << 20);
    expect(pool.acquire(bytes).size).toBe(7 << 20); // outside exactSizes: size classes again
    pool.release(w.buffer, w.size);
    expect((w.buffer as unknown as FakeBuffer).destroyed).toBe(true);
    expect(pool.stats().pooledBytes).toBe(0);
  });
});
