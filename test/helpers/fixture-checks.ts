/** The assertion of every fixture-case test: each output of the case was checked, and each is within tolerance. */
import { expect } from 'vitest';
import type { OutputCheck } from '../../src/verify/compare.js';

export function expectCaseChecks(checks: readonly OutputCheck[], c: { outputs?: Record<string, unknown> }): void {
  expect(checks.map((k) => k.output).sort()).toEqual(Object.keys(c.outputs ?? {}).sort());
  for (const k of checks) {
    expect(k.pass, `${k.output}: max abs ${k.maxAbs.toExponential(3)} vs tolerance ${k.tolAbs.toExponential(3)} ${k.detail ?? ''}`).toBe(
      true,
    );
  }
}
