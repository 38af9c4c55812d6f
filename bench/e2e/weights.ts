/** Random weights (bench/random-weights.ts) for exactly the parameters a model declares, and their size. */
import { type Param, expectedKeys } from '../../src/nn/params.js';
import { randomWeights } from '../random-weights.js';

/** A weight reader of random values for exactly the parameters `registry` declares. */
export function randomFor(registry: readonly Param<unknown>[]) {
  return randomWeights(Array.from(expectedKeys(registry), ([name, shape]) => ({ name, shape })));
}

export function f32Bytes(registry: readonly Param<unknown>[]): number {
  let n = 0;
  for (const shape of expectedKeys(registry).values()) n += shape.reduce((a, b) => a * b, 1);
  return 4 * n;
}
