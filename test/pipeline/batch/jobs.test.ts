/**
 * The job list: one job per image in prompt-then-image order, per-line overrides applied, file names that are
 * unique, sort in generation order, and depend only on the command.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { planJobs } from '../../../src/pipeline/batch/jobs.js';
import type { PromptEntry } from '../../../src/pipeline/batch/prompt-file.js';
import { deriveSeed } from '../../../src/pipeline/batch/seeds.js';

const RUNS = Number(process.env.FC_RUNS ?? 50);
const defaults = { baseSeed: 7n, numImagesPerPrompt: 2, negativePrompt: 'blurry', guidance: 7.5 };

describe('planJobs', () => {
  it('applies the defaults and each line’s overrides', () => {
    const prompts: PromptEntry[] = [
      { prompt: 'Chest X-ray', line: 1 },
      { prompt: 'effusion', negativePrompt: '', guidance: 1, numImages: 1, seed: 100n, line: 2 },
    ];
    const jobs = planJobs(prompts, defaults);
    expect(jobs).toEqual([
      {
        promptIndex: 0,
        imageIndex: 0,
        prompt: 'Chest X-ray',
        negativePrompt: 'blurry',
        guidance: 7.5,
        seed: 1092021751n,
        file: '00000-000-chest-x-ray-1092021751.png',
      },
      {
        promptIndex: 0,
        imageIndex: 1,
        prompt: 'Chest X-ray',
        negativePrompt: 'blurry',
        guidance: 7.5,
        seed: deriveSeed(7n, 0, 1),
        file: `00000-001-chest-x-ray-${deriveSeed(7n, 0, 1)}.png`,
      },
      {
        promptIndex: 1,
        imageIndex: 0,
        prompt: 'effusion',
        negativePrompt: '',
        guidance: 1,
        seed: 100n,
        file: '00001-000-effusion-100.png',
      },
    ]);
  });

  test.prop(
    [
      fc.array(
        fc.record({
          prompt: fc.constantFrom('a', 'a', 'b c', '###', 'Ünïcode ≥ 2'),
          numImages: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
        }),
        {
          minLength: 1,
          maxLength: 15,
        },
      ),
      fc.integer({ min: 1, max: 1200 }),
    ],
    { numRuns: RUNS },
  )('names are unique, sorted in job order, and the same for the same command', (entries, perPrompt) => {
    const prompts = entries.map((e, i) => ({ ...e, line: i + 1 }));
    const d = { ...defaults, numImagesPerPrompt: perPrompt };
    const jobs = planJobs(prompts, d);
    expect(jobs.length).toBe(prompts.reduce((n, p) => n + (p.numImages ?? perPrompt), 0));
    const files = jobs.map((j) => j.file);
    expect(new Set(files).size).toBe(files.length);
    expect([...files].sort()).toEqual(files);
    for (const f of files) expect(f).toMatch(/^\d{5}-\d{3,4}-[a-z0-9-]+-\d+\.png$/);
    expect(planJobs(prompts, d)).toEqual(jobs);
  });

  it('refuses absurd batches', () => {
    expect(() => planJobs([{ prompt: 'a', line: 1 }], { ...defaults, numImagesPerPrompt: 20_000_000 })).toThrow(
      /more than 10000000; split/,
    );
  });
});
