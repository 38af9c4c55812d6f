/**
 * Bit-exact replica of PyTorch's CPU generator (`torch.Generator('cpu').manual_seed(s)`), so a seed gives the
 * same initial latents as diffusers' `randn_tensor` on a CPU generator.
 *
 * Engine: mt19937 (32-bit), seeded with the low 32 bits of the seed as `at::mt19937` does.
 * `rand`: 24 random bits of one 32-bit draw / 2^24 (`uniform_real_distribution<float>`).
 * `randn` (float32): numel >= 16 takes `normal_fill`: fill with uniform floats, then Box–Muller over 16-element
 * chunks (u1 = 1 - data[j], u2 = data[j+8]) in float32, recomputing the last 16 from fresh uniforms when numel
 * is not a multiple of 16. Smaller tensors take the scalar `normal_distribution<double>` path (53-bit doubles,
 * caching the second value of each pair in the generator).
 */
import { MedgpuError } from '../runtime/errors.js';

const N = 624;
const M = 397;

export class TorchGenerator {
  private readonly mt = new Uint32Array(N);
  private index = N;
  private nextDoubleNormal: number | undefined;

  constructor(seed: number | bigint = 67280421310721n) {
    this.manualSeed(seed);
  }

  /** `Generator.manual_seed`: any non-negative integer; only its low 32 bits reach the engine (as in torch). */
  manualSeed(seed: number | bigint): this {
    const s = BigInt(seed);
    if (s < 0n || s >= 1n << 64n) {
      throw new MedgpuError('BAD_ARGUMENT', `seed ${s} is outside [0, 2^64): pass a non-negative 64-bit integer`);
    }
    const mt = this.mt;
    mt[0] = Number(s & 0xffffffffn);
    for (let j = 1; j < N; j++) {
      const prev = mt[j - 1] as number;
      const x = (prev ^ (prev >>> 30)) >>> 0;
      mt[j] = (Math.imul(1812433253, x) + j) >>> 0;
    }
    this.index = N;
    this.nextDoubleNormal = undefined;
    return this;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = ((mt[i] as number) & 0x80000000) | ((mt[(i + 1) % N] as number) & 0x7fffffff);
      let v = (mt[(i + M) % N] as number) ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }

  /** One 32-bit draw (`generator->random()`). */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform float32 in [0, 1) from 24 bits. */
  private uniformFloat(): number {
    return (this.nextUint32() & 0xffffff) / 16777216;
  }

  /** Uniform double in [0, 1) from 53 bits of `random64()` (first draw is the high word). */
  private uniformDouble(): number {
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    // (hi << 32 | lo) & (2^53 - 1) = (hi & 0x1fffff) * 2^32 + lo, exact in a double.
    return ((hi & 0x1fffff) * 4294967296 + lo) / 9007199254740992;
  }

  /** Scalar `normal_distribution<double>` with the generator's cached second sample. */
  private normalDouble(): number {
    if (this.nextDoubleNormal !== undefined) {
      const v = this.nextDoubleNormal;
      this.nextDoubleNormal = undefined;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `torch.rand(n, generator=g)` as float32. */
  rand(n: number): Float32Array {
    checkCount(n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    return out;
  }

  /** `torch.randn(n, generator=g)` as float32 (contiguous, so the chunked path applies at n >= 16). */
  randn(n: number): Float32Array {
    checkCount(n);
    const out = new Float32Array(n);
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      normalFill16(out, start);
    }
    return out;
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MedgpuError('BAD_ARGUMENT', `element count ${n} must be a non-negative integer`);
  }
}

const f = Math.fround;
const TWO_PI = f(2 * Math.PI);
/** float32 fused multiply-add: the product of two float32 values is exact in a double. */
function fma(a: number, b: number, c: number): number {
  return f(a * b + c);
}

/**
 * torch `normal_fill_16_AVX2` in float32: Box–Muller pairs (j, j+8) inside a 16-element chunk. x86 builds of
 * torch take this AVX2 path, which uses the Cephes-style polynomials of avx_mathfun (`log256_ps`,
 * `sincos256_ps`), not libm, so they are replayed here operation by operation with float32 rounding. torch is
 * built with -mfma and GCC contracts the intrinsics' mul+add pairs into FMAs; the fusions below are the ones
 * that reproduce the fixtures bit for bit (other pairings differ in ~1 element in 1000).
 */
function normalFill16(data: Float32Array, at: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - (data[at + j] as number));
    const u2 = data[at + j + 8] as number;
    const radius = f(Math.sqrt(f(-2 * log256(u1))));
    const theta = f(TWO_PI * u2);
    sincos256(theta);
    data[at + j] = f(radius * sc[1]);
    data[at + j + 8] = f(radius * sc[0]);
  }
}

const bits = new Float32Array(1);
const bitsU = new Uint32Array(bits.buffer);

/** avx_mathfun `log256_ps` for one positive float32 lane. */
function log256(x0: number): number {
  if (x0 <= 0) return Number.NaN;
  bits[0] = Math.max(x0, 1.17549435e-38);
  const u = bitsU[0] as number;
  let e = f((u >>> 23) - 0x7f + 1);
  bitsU[0] = (u & ~0x7f800000) | 0x3f000000; // mantissa with exponent of 0.5: x in [0.5, 1)
  let x = bits[0] as number;
  const lt = x < 0.70710677;
  const tmp = lt ? x : 0;
  x = f(x - 1);
  if (lt) e = f(e - 1);
  x = f(x + tmp);
  const z = f(x * x);
  let y = f(7.0376836292e-2);
  for (const p of LOG_P) y = fma(y, x, p);
  y = f(y * x);
  y = fma(y, z, f(e * -2.1219444e-4));
  y = fma(-z, 0.5, y);
  x = f(x + y);
  return fma(e, 0.693359375, x);
}
const LOG_P = [
  -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);

/** Output of `sincos256`: [sin, cos]. */
const sc: [number, number] = [0, 0];
const C = {
  fopi: f(1.27323954473516),
  dp1: f(-0.78515625),
  dp2: f(-2.4187564849853516e-4),
  dp3: f(-3.774894977445941e-8),
  s0: f(-1.9515295891e-4),
  s1: f(8.3321608736e-3),
  s2: f(-1.6666654611e-1),
  c0: f(2.443315711809948e-5),
  c1: f(-1.388731625493765e-3),
  c2: f(4.166664568298827e-2),
};

/** avx_mathfun `sincos256_ps` for one float32 lane (theta >= 0 here). */
function sincos256(x0: number): void {
  const neg = x0 < 0;
  let x = Math.abs(x0);
  let j = Math.trunc(f(x * C.fopi));
  j = (j + 1) & ~1;
  const y = j;
  const sinSwap = (j & 4) !== 0;
  const polyMask = (j & 2) === 0;
  x = fma(y, C.dp1, x);
  x = fma(y, C.dp2, x);
  x = fma(y, C.dp3, x);
  const cosNeg = (~(j - 2) & 4) !== 0;
  const sinNeg = neg !== sinSwap;
  const z = f(x * x);
  let yc = fma(C.c0, z, C.c1);
  yc = fma(yc, z, C.c2);
  yc = f(yc * z);
  yc = fma(yc, z, -f(z * 0.5));
  yc = f(yc + 1);
  let ys = fma(C.s0, z, C.s1);
  ys = fma(ys, z, C.s2);
  ys = f(ys * z);
  ys = fma(ys, x, x);
  const s = polyMask ? ys : yc;
  const c = polyMask ? yc : ys;
  sc[0] = sinNeg ? -s : s;
  sc[1] = cosNeg ? -c : c;
}
