/** Element types a GPU tensor can hold. Accumulation is always f32. */
export type DType = 'f32' | 'f16';

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f32' ? 4 : 2;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits from a number, round-to-nearest-even (as PyTorch's `.half()`). */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r += 1;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) {
    r += 1;
    if (r === 0x400) {
      r = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** Number from IEEE binary16 bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits (upper half of an f32) to a number. */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0] as number;
}

/**
 * f16 bits of many values (round to nearest even). Values whose f16 result is normal take a branch-light
 * path on the f32 bits (most weights and activations); the rest go through `f32ToF16Bits`.
 */
export function toF16Array(data: ArrayLike<number>): Uint16Array {
  const n = data.length;
  const f32 = data instanceof Float32Array && data.byteOffset % 4 === 0 ? data : Float32Array.from(data);
  const u = new Uint32Array(f32.buffer, f32.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const x = u[i] as number;
    const exp = (x >>> 23) & 0xff;
    if (exp > 112 && exp < 143) {
      const mant = x & 0x7fffff;
      let r = ((exp - 112) << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r += 1; // a carry rounds up into the exponent
      out[i] = ((x >>> 16) & 0x8000) | r;
    } else out[i] = f32ToF16Bits(f32[i] as number);
  }
  return out;
}

export function fromF16Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i] as number);
  return out;
}

/** Rounds every value to the nearest f16 (what an f16 tensor round trip does). */
export function roundToF16(data: ArrayLike<number>): Float32Array {
  return fromF16Array(toF16Array(data));
}
