/**
 * Per-image seeds of a batch, a pure function of (base seed, prompt index, image index), so the same command
 * always makes the same images, whatever order they are made in and however often the run is interrupted.
 *
 *   key(base, p)     = splitmix64(splitmix64(base mod 2^64) XOR p)
 *   seed(base, p, j) = feistel32(key(base, p), j)
 *
 * `splitmix64` is Vigna's SplitMix64 output function (state + 0x9E3779B97F4A7C15, then the two xor-shift-
 * multiply rounds); `feistel32` is a 4-round Feistel network on the 32-bit image index whose round function is
 * the low 16 bits of splitmix64(key XOR (round << 16 | right half)). A Feistel network is a bijection, so the
 * images of one prompt never share a seed (for up to 2^32 images).
 *
 * Seeds are 32-bit on purpose: torch's CPU generator (which `TorchGenerator` replicates) seeds its mt19937
 * with the low 32 bits only, so wider seeds would only pretend to more variety; and a 32-bit seed is what
 * `medgpu generate --seed <seed>` (or diffusers with `torch.Generator().manual_seed(seed)`) needs to
 * reproduce one image of the batch exactly.
 *
 * A prompt that carries its own seed S uses S for its image 0 and S + j for image j (mod 2^64): the prompt's
 * images then reproduce with `--seed S`, `--seed S+1`... independently of the line's position in the file.
 */

import { MedgpuError } from '../../runtime/errors.js';

const M64 = (1n << 64n) - 1n;

/** SplitMix64's output for the state `x` (the generator's first output after seeding with `x`). */
export function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

function feistel32(key: bigint, x: number): number {
  let l = x >>> 16;
  let r = x & 0xffff;
  for (let round = 0; round < 4; round++) {
    const f = Number(splitmix64(key ^ BigInt((round << 16) | r)) & 0xffffn);
    [l, r] = [r, l ^ f];
  }
  return ((l << 16) | r) >>> 0;
}

function checkIndex(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32)
    throw new MedgpuError('BAD_ARGUMENT', `${what} must be an integer in [0, 2^32), got ${v}`);
}

/** The seed of image `imageIndex` of prompt `promptIndex` in a batch with base seed `baseSeed` (see above). */
export function deriveSeed(baseSeed: bigint, promptIndex: number, imageIndex: number): bigint {
  checkIndex(promptIndex, 'promptIndex');
  checkIndex(imageIndex, 'imageIndex');
  const key = splitmix64(splitmix64(baseSeed & M64) ^ BigInt(promptIndex));
  return BigInt(feistel32(key, imageIndex));
}

/** The seed of image `imageIndex` of a prompt with its own seed: `promptSeed + imageIndex` (mod 2^64). */
export function promptOwnSeed(promptSeed: bigint, imageIndex: number): bigint {
  checkIndex(imageIndex, 'imageIndex');
  return (promptSeed + BigInt(imageIndex)) & M64;
}
