/** Loads the scheduler reference cases (test/fixtures/schedulers, the layout of ../shared/fixtures). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonLenient } from '../../src/io/json.js';
import type { SchedulerConfig } from '../../src/pipeline/schedulers/config.js';
import { type StTensor, readSafetensors } from '../helpers/read-safetensors.js';

export const SCHEDULER_FIXTURES = join(import.meta.dirname, '../fixtures/schedulers');

export interface Tolerance {
  max_abs: number;
  max_rel: number;
  exact?: boolean;
}

export interface SchedulerCase {
  name: string;
  module: string;
  model: string;
  file: string;
  outputs: Record<string, { shape: number[]; dtype: string; tolerance: Tolerance }>;
  params: { num_inference_steps: number; n_step_calls: number; config: SchedulerConfig };
}

export function loadSchedulerManifest(): SchedulerCase[] {
  const m = JSON.parse(readFileSync(join(SCHEDULER_FIXTURES, 'manifest.json'), 'utf8')) as { cases: SchedulerCase[] };
  return m.cases;
}

/** The stored scheduler_config.json of a case (read leniently: DPM configs hold a bare -Infinity). */
export function loadCaseConfig(c: SchedulerCase): SchedulerConfig {
  const dir = join(SCHEDULER_FIXTURES, '..', c.model);
  const path = join(dir, 'scheduler_config.json');
  return parseJsonLenient(readFileSync(path, 'utf8'), path) as SchedulerConfig;
}

export function loadCaseTensors(c: SchedulerCase): Map<string, StTensor> {
  return readSafetensors(join(SCHEDULER_FIXTURES, c.file));
}

/** Row i of a [steps, ...] tensor. */
export function row(t: StTensor, i: number): Float32Array {
  const n = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return (t.data as Float32Array).slice(i * n, (i + 1) * n);
}
