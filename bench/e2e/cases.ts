/**
 * Every end-to-end case of `medgpu bench e2e` (issue 7's figures), in run order: cases of one group share
 * loaded models, which are released before the next group.
 */
import type { E2eCase } from './case.js';
import { medvaeCases } from './medvae.js';
import { sd15Cases, sd15F16Cases, sd21Cases } from './stable-diffusion.js';

export type { E2eCase, Loaded } from './case.js';

export const E2E_CASES: E2eCase[] = [...sd15Cases(), ...sd15F16Cases(), ...sd21Cases(), ...medvaeCases()] as unknown as E2eCase[];
